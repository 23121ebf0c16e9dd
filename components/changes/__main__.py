"""``python -m components.changes``."""

import sys

from components.changes.cli import main

sys.exit(main())
