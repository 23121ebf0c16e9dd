"""``python -m components.search``: the search step's command line."""

import sys

from components.search.cli import main

sys.exit(main())
