"""Running the `postal` command in the test process, as its console script would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cli import main


class CLI:
    def __init__(self, config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.config_file = config_file
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(["--config", str(self.config_file), *args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def json(self, *args: str) -> Any:
        code, out, err = self(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    def fails(self, *args: str) -> str:
        code, _, err = self(*args)
        assert code != 0
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), err
        return lines[0]
