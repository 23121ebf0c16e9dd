"""``python -m components.ingest``."""

import sys

from components.ingest.cli import main

sys.exit(main())
