"""`postal version`."""

from __future__ import annotations

import argparse

from core.version import __version__


def version(args: argparse.Namespace) -> int:
    print(__version__)
    return 0
