"""`caas security-report`: the report's sections, versions, offline note and its signature."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from graph.ops import security_report as sr
from graph.reports.signing import verify_report

RING = {"k2": b"\x02" * 32, "k1": b"\x01" * 32}
TINY_TESTS = (("limit settings", "tests/unit/test_limit_settings.py"),)
JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.e2e.test_a" name="t1" file="tests/e2e/test_a.py" line="1"/>
<testcase classname="tests.e2e.test_a" name="t2" file="tests/e2e/test_a.py" line="2">
<failure message="boom"/></testcase>
<testcase classname="tests.e2e.test_b.TestX" name="t3" file="tests/e2e/test_b.py" line="3">
<skipped message="no redis"/></testcase>
</testsuite></testsuites>"""


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """One offline run over one small package and one fast unit test file."""
    out = tmp_path_factory.mktemp("security")
    options = sr.ReportOptions(
        out_dir=out, offline=True, bandit_targets=("subscriptions",), tests=TINY_TESTS
    )
    report = sr.build_report(options)
    return sr.write_report(report, out, RING, "test ring")


def test_junit_counts_are_per_file_from_the_file_attribute(tmp_path: Path) -> None:
    xml = tmp_path / "j.xml"
    xml.write_text(JUNIT)

    counts = sr.junit_counts(xml, ["tests/e2e/test_a.py", "tests/e2e/test_b.py"])

    assert counts["tests/e2e/test_a.py"] == {"passed": 1, "failed": 1, "skipped": 0, "errors": 0}
    assert counts["tests/e2e/test_b.py"] == {"passed": 0, "failed": 0, "skipped": 1, "errors": 0}


def test_pip_audit_offline_is_not_checked_and_runs_nothing(tmp_path: Path) -> None:
    check = sr.run_pip_audit(sr.ReportOptions(offline=True), tmp_path / "audit.json")

    assert (check.status, check.summary) == (sr.NOT_CHECKED, "offline: not checked")
    assert not (tmp_path / "audit.json").exists()


def test_a_timed_out_tool_is_killed_and_reported(tmp_path: Path) -> None:
    ran = sr.run_tool(["sleep", "30"], tmp_path, 0.2)

    assert ran.code is None
    assert "timed out" in ran.stderr


@pytest.mark.slow
def test_offline_report_has_its_sections_versions_and_passes(
    written: tuple[Path, Path, Path],
) -> None:
    json_path, sig_path, md_path = written
    report = json.loads(json_path.read_text())
    markdown = md_path.read_text()

    assert json_path.name.startswith("security-report-") and sig_path.exists()
    assert report["outcome"] == sr.PASSED, report["failed_checks"]
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses == {"bandit": "PASSED", "pip-audit": "NOT_CHECKED", "security tests": "PASSED"}
    for name in ("python", "caas", "bandit", "pip-audit", "pytest", "strawberry-graphql"):
        assert report["versions"][name] not in ("", "not installed")
    assert len(report["versions"]["git_commit"]) == 40
    for heading in ("## Summary", "## Bandit", "## pip-audit", "## Security tests", "## Versions"):
        assert heading in markdown
    assert "offline: not checked" in markdown
    assert "| limit settings | `tests/unit/test_limit_settings.py` | 6 | 0 | 0 | 0 |" in markdown


@pytest.mark.slow
def test_the_signature_verifies_and_fails_after_one_changed_byte(
    written: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    json_path, sig_path, _ = written
    copy, copy_sig = tmp_path / json_path.name, tmp_path / sig_path.name
    data = bytearray(json_path.read_bytes())
    copy_sig.write_bytes(sig_path.read_bytes())

    copy.write_bytes(bytes(data))
    assert verify_report(copy, RING) == "k2"  # the first key of the ring signs
    assert verify_report(copy, {"k1": RING["k1"], "k2": RING["k2"]}) == "k2"  # rotated
    assert len(base64.urlsafe_b64decode(copy_sig.read_text().strip() + "==")) == 64
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    assert verify_report(copy, RING) is None
    assert verify_report(json_path, {"other": b"\x03" * 32}) is None


@pytest.mark.slow
def test_the_verify_command_exits_0_when_valid_and_1_when_not(
    written: tuple[Path, Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from graph.ops.cli import app

    ring_text = ",".join(f"{k}:{base64.urlsafe_b64encode(v).decode()}" for k, v in RING.items())
    monkeypatch.setenv("CAAS_SECRET_KEYS", ring_text)
    monkeypatch.setenv("CAAS_TOKEN_KEYS", ring_text)
    json_path, sig_path, _ = written
    forged = tmp_path / json_path.name
    forged.write_bytes(json_path.read_bytes().replace(b'"PASSED"', b'"PASSEX"', 1))
    (tmp_path / sig_path.name).write_bytes(sig_path.read_bytes())

    valid = CliRunner().invoke(app, ["security-report", "--verify", str(json_path)])
    invalid = CliRunner().invoke(app, ["security-report", "--verify", str(forged)])

    assert valid.exit_code == 0, valid.output
    assert invalid.exit_code == 1, invalid.output


def _fake_audit(monkeypatch: pytest.MonkeyPatch, code: int, audit: object, stderr: str) -> None:
    def run_tool(argv: list[str], cwd: Path, timeout_s: float) -> sr.Ran:
        if audit is not None:
            Path(argv[argv.index("-o") + 1]).write_text(json.dumps(audit))
        return sr.Ran(code, "", stderr, 0.1)

    monkeypatch.setattr(sr, "run_tool", run_tool)


def test_pip_audit_without_a_reachable_service_is_not_checked_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_audit(monkeypatch, 1, None, "requests.exceptions.ConnectionError: Max retries exceeded")

    check = sr.run_pip_audit(sr.ReportOptions(), tmp_path / "audit.json")

    assert (check.status, check.summary) == (sr.NOT_CHECKED, sr.UNREACHABLE_NOTE)


def test_pip_audit_that_found_no_package_at_the_service_is_not_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deps = [{"name": "x", "version": "1", "skip_reason": "Dependency not found on PyPI"}]
    _fake_audit(monkeypatch, 0, {"dependencies": deps, "fixes": []}, "")

    check = sr.run_pip_audit(sr.ReportOptions(), tmp_path / "audit.json")

    assert check.status == sr.NOT_CHECKED
    assert check.summary.startswith(sr.UNREACHABLE_NOTE)


def test_pip_audit_fails_on_a_known_vulnerability(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vuln = {"id": "PYSEC-1", "fix_versions": ["2"], "aliases": [], "description": ""}
    deps = [
        {"name": "x", "version": "1", "vulns": [vuln]},
        {"name": "y", "version": "1", "vulns": []},
    ]
    _fake_audit(monkeypatch, 1, {"dependencies": deps, "fixes": []}, "")

    check = sr.run_pip_audit(sr.ReportOptions(), tmp_path / "audit.json")

    assert check.status == sr.FAILED
    assert check.summary == "2 of 2 pinned packages audited: 1 known vulnerabilities in 1 packages"


SUITE_JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.e2e.test_a" name="t1" file="tests/e2e/test_a.py" line="1"/>
<testcase classname="tests.e2e.test_a" name="t2" file="tests/e2e/test_a.py" line="2"/>
<testcase classname="tests.e2e.test_b" name="t3" file="tests/e2e/test_b.py" line="3"/>
<testcase classname="tests.unit.test_z" name="t4" file="tests/unit/test_z.py" line="4">
<failure message="elsewhere"/></testcase>
</testsuite></testsuites>"""
SUITE_FILES = (("a", "tests/e2e/test_a.py"), ("b", "tests/e2e/test_b.py"))


def test_results_read_from_the_suites_junit_count_only_the_security_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_tool(argv: list[str], cwd: Path, timeout_s: float) -> sr.Ran:
        raise AssertionError(f"ran {argv}: the results were to be read, not produced")

    monkeypatch.setattr(sr, "run_tool", no_tool)
    suite = tmp_path / "pytest.xml"
    suite.write_text(SUITE_JUNIT)
    options = sr.ReportOptions(tests=SUITE_FILES, junit=suite)

    check = sr.tests_from_junit(options, tmp_path / "copy.xml")

    assert check.status == sr.PASSED, check.summary
    assert check.summary.startswith("3 passed, 0 failed, 0 skipped (from the test suite's run")
    assert check.details["rest_of_suite"]["failed"] == 1  # outside the security selection
    assert (tmp_path / "copy.xml").read_text() == SUITE_JUNIT  # kept beside the report
    missing = sr.ReportOptions(tests=(*SUITE_FILES, ("c", "tests/e2e/test_c.py")), junit=suite)
    failed = sr.tests_from_junit(missing, tmp_path / "copy.xml")
    assert failed.status == sr.FAILED and "no test ran in tests/e2e/test_c.py" in failed.summary
    gone = sr.tests_from_junit(sr.ReportOptions(junit=tmp_path / "none.xml"), tmp_path / "c.xml")
    assert gone.status == sr.ERROR
