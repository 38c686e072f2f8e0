"""`python -m cli` runs the `postal` command."""

import sys

from cli import main

sys.exit(main())
