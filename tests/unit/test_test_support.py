"""The tests' own guard: what is missing skips a test on a laptop and fails it under CI."""

from __future__ import annotations

import pytest

from tests.deploy_support import need_module


@pytest.mark.parametrize(
    ("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_a_module_that_does_not_import_fails_only_under_ci(
    monkeypatch: pytest.MonkeyPatch, ci: str, outcome: type[BaseException]
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="stream_al_no_such_module"):
        need_module("stream_al_no_such_module")


def test_a_module_that_imports_is_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    assert need_module("json").dumps([1]) == "[1]"
