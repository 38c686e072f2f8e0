"""`python -m core.cli` runs the `postal` command."""

import sys

from core.cli import main

sys.exit(main())
