"""Under CI=true a missing spamd or clamd fails the tests that need them instead of skipping."""

from __future__ import annotations

import pytest

import tests.conftest as root_conftest
from tests.core.inspection.helpers import require_binary


def test_missing_daemon_fails_in_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(root_conftest, "IN_CI", True)
    with pytest.raises(pytest.fail.Exception, match="CI=true requires it"):
        require_binary("no-such-daemon-binary", "no-such-package")
    monkeypatch.setattr(root_conftest, "IN_CI", False)
    with pytest.raises(pytest.skip.Exception, match="no-such-package"):
        require_binary("no-such-daemon-binary", "no-such-package")
