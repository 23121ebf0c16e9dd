"""``python -m components.train``."""

import sys

from components.train.cli import main

sys.exit(main())
