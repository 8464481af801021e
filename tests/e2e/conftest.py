"""e2e: after the run, how many hostile inputs the fuzz tests sent (tests/e2e/hostile_input.py)."""

from __future__ import annotations

import pytest

from tests.e2e.hostile_input import TRIED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if TRIED:
        terminalreporter.section("hostile input")
        for kind, count in sorted(TRIED.items()):
            terminalreporter.write_line(f"{kind}: {count}")
        terminalreporter.write_line(f"total: {sum(TRIED.values())}")
