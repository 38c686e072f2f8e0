"""A longer run of the property tests than the suite's: `python -m bench.fuzz [--examples N]`.

The suite runs each property a few hundred times; this runs them N times each (default 20,000)
and prints what hypothesis found. A failure is shrunk to its smallest example and printed."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ["tests/core/mail/test_properties.py", "tests/smtp/test_properties.py", "tests/smtp/test_data_properties.py"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--examples", type=int, default=20_000, help="examples per property (default 20000)")
    args = parser.parse_args()
    env = {**os.environ, "POSTAL_FUZZ_EXAMPLES": str(args.examples)}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", "--timeout", "0", *TARGETS],
        cwd=ROOT,
        env=env,
        check=False,
    )
    print(f"{args.examples} examples per property in {time.monotonic() - started:.0f} s: "
          f"{'no failure' if result.returncode == 0 else 'FAILED (see above)'}")  # fmt: skip
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
