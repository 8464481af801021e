"""`caas security-report`: the security evidence pack (bandit, pip-audit, the security tests).

Each tool runs as a subprocess with a timeout, in its own process group (killed whole on a
timeout). The report is written as ``security-report-YYYY-MM-DD.md`` and ``.json``, with the
tools' raw outputs beside it (their SHA-256 in the JSON). The JSON's exact bytes are signed
with Ed25519, the scheme of custody approvals (``domains.custody.approvals``), under a key
derived (HKDF-SHA256) from the platform's sealing ring (``CAAS_SECRET_KEYS``, or the
development ring), as ``graph.bootstrap.custody_ring`` derives custody's keys; the signature
is base64url (unpadded) in ``<report>.json.sig``. Imports no pymongo, strawberry or engine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import signal
import subprocess  # nosec B404: fixed argument lists, never a shell
import sys
import time
import tomllib
import xml.etree.ElementTree as ET  # nosec B405: parses only the junit XML our pytest wrote
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from domains.custody.approvals import public_key_text, sign
from graph.reports.signing import SIGNING_INFO, platform_ring, report_key, verify_report

BANDIT_TARGETS = ("graph", "domains", "engine", "subscriptions")
SECURITY_TESTS = (  # (what it shows, the existing test file)
    ("graphql-cop checks", "tests/e2e/test_graphql_cop.py"),
    ("isolation matrix", "tests/e2e/test_isolation.py"),
    ("authentication", "tests/e2e/test_authentication.py"),
    ("query limits", "tests/e2e/test_limits.py"),
    ("rate limits", "tests/e2e/test_rate_limits.py"),
)
PACKAGES = ("bandit", "pip-audit", "pytest", "strawberry-graphql", "cryptography")
OFFLINE_NOTE = "offline: not checked"
UNREACHABLE_NOTE = "vulnerability database not reachable: not checked"
_NETWORK_TROUBLE = re.compile(
    r"ConnectionError|Max retries exceeded|NameResolution|Failed to establish a new connection|"
    r"Temporary failure in name resolution|Network is unreachable|timed? ?out|ProxyError|"
    r"SSLError|ServiceError|Connection refused|RemoteDisconnected",
    re.IGNORECASE,
)

PASSED, FAILED, NOT_CHECKED, ERROR = "PASSED", "FAILED", "NOT_CHECKED", "ERROR"


@dataclass(frozen=True)
class ReportOptions:
    """What to run and where to write; the defaults are the real evidence pack."""

    out_dir: Path = Path("var/security")
    offline: bool = False
    repo: Path = Path(".")
    bandit_targets: tuple[str, ...] = BANDIT_TARGETS
    tests: tuple[tuple[str, str], ...] = SECURITY_TESTS
    lockfile: str = "requirements.lock"
    bandit_timeout_s: float = 600.0
    audit_timeout_s: float = 300.0
    tests_timeout_s: float = 2400.0
    # the junit XML of a test-suite run that already happened (CI: `make unit` writes it):
    # the security tests' results are read from it instead of running them a second time
    junit: Path | None = None


@dataclass
class Check:
    """One check's outcome: PASSED, FAILED, NOT_CHECKED (said why) or ERROR (did not run)."""

    name: str
    status: str
    summary: str
    command: list[str] = field(default_factory=list)
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ran:
    code: int | None  # None: timed out or could not start
    stdout: str
    stderr: str
    seconds: float


def run_tool(argv: list[str], cwd: Path, timeout_s: float) -> Ran:
    """Run ``argv`` in its own process group; on a timeout the whole group is killed."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(  # nosec B603: argv is a fixed list, no shell
            argv,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
    except OSError as exc:
        return Ran(None, "", f"could not start: {exc}", time.monotonic() - start)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\ntimed out after {timeout_s:.0f} s"
        return Ran(None, out, err, time.monotonic() - start)
    return Ran(proc.returncode, out, err, time.monotonic() - start)


def _tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def run_bandit(options: ReportOptions, raw: Path) -> Check:
    """Bandit over the packages; FAILED on any HIGH-severity finding or a file it cannot scan."""
    argv = [
        sys.executable,
        "-m",
        "bandit",
        "-r",
        *options.bandit_targets,
        "-f",
        "json",
        "-q",
        "-o",
        str(raw),
    ]
    ran = run_tool(argv, options.repo, options.bandit_timeout_s)
    check = Check("bandit", ERROR, "", argv[1:], round(ran.seconds, 1))
    if ran.code not in (0, 1) or not raw.exists():
        check.summary = f"bandit did not run: {_tail(ran.stderr) or ran.code}"
        return check
    results: list[dict[str, Any]] = json.loads(raw.read_text()).get("results", [])
    errors = json.loads(raw.read_text()).get("errors", [])
    levels = ("HIGH", "MEDIUM", "LOW")
    matrix = {s: {c: 0 for c in levels} for s in levels}
    by_test: dict[str, int] = {}
    for item in results:
        matrix[item["issue_severity"]][item["issue_confidence"]] += 1
        key = f"{item['test_id']} {item['test_name']}"
        by_test[key] = by_test.get(key, 0) + 1
    high = [
        {
            "test": f"{r['test_id']} {r['test_name']}",
            "file": r["filename"],
            "line": r["line_number"],
            "confidence": r["issue_confidence"],
            "text": r["issue_text"],
        }
        for r in results
        if r["issue_severity"] == "HIGH"
    ]
    severity = {s: sum(matrix[s].values()) for s in levels}
    confidence = {c: sum(matrix[s][c] for s in levels) for c in levels}
    check.status = FAILED if high or errors else PASSED
    check.summary = (
        f"{len(results)} findings: HIGH {severity['HIGH']}, MEDIUM {severity['MEDIUM']}, "
        f"LOW {severity['LOW']}" + (f"; {len(errors)} files not scanned" if errors else "")
    )
    check.details = {
        "by_severity": severity,
        "by_confidence": confidence,
        "severity_by_confidence": matrix,
        "by_test": dict(sorted(by_test.items())),
        "high_findings": high,
        "errors": errors,
    }
    return check


def run_pip_audit(options: ReportOptions, raw: Path) -> Check:
    """pip-audit of the pinned lockfile (no resolution, nothing built); offline or no
    network: NOT_CHECKED, said so, never FAILED."""
    argv = [
        sys.executable,
        "-m",
        "pip_audit",
        "-r",
        options.lockfile,
        "--no-deps",
        "--disable-pip",
        "--format",
        "json",
        "--progress-spinner",
        "off",
        "--timeout",
        "30",
        "-o",
        str(raw),
    ]
    if options.offline:
        return Check("pip-audit", NOT_CHECKED, OFFLINE_NOTE, argv[1:])
    ran = run_tool(argv, options.repo, options.audit_timeout_s)
    check = Check("pip-audit", ERROR, "", argv[1:], round(ran.seconds, 1))
    try:
        audit = json.loads(raw.read_text()) if ran.code in (0, 1) else None
    except (OSError, ValueError):
        audit = None
    if audit is None:
        reachable = not _NETWORK_TROUBLE.search(ran.stderr) and ran.code is not None
        check.status = ERROR if reachable else NOT_CHECKED
        check.summary = (
            f"pip-audit failed: {_tail(ran.stderr, 3)}" if reachable else UNREACHABLE_NOTE
        )
        check.details = {"stderr": _tail(ran.stderr, 10)}
        return check
    deps = audit.get("dependencies", [])
    vulnerable = [
        {
            "name": d["name"],
            "version": d["version"],
            "vulns": [
                {
                    "id": v["id"],
                    "fix_versions": v.get("fix_versions", []),
                    "aliases": v.get("aliases", []),
                }
                for v in d["vulns"]
            ],
        }
        for d in deps
        if d.get("vulns")
    ]
    skipped = [{"name": d["name"], "reason": d["skip_reason"]} for d in deps if "skip_reason" in d]
    audited = len(deps) - len(skipped)
    check.details = {"vulnerable": vulnerable, "skipped": skipped, "audited": audited}
    if deps and not audited:  # the service answered for no package: nothing was checked
        check.status, check.summary = NOT_CHECKED, f"{UNREACHABLE_NOTE} (no package found there)"
        return check
    count = sum(len(d["vulns"]) for d in vulnerable)
    check.status = FAILED if vulnerable else PASSED
    check.summary = (
        f"{audited} of {len(deps)} pinned packages audited: {count} known vulnerabilities "
        f"in {len(vulnerable)} packages" + (f"; {len(skipped)} NOT audited" if skipped else "")
    )
    return check


def junit_counts(xml_path: Path, files: list[str]) -> dict[str, dict[str, int]]:
    """passed/failed/skipped/errors per test file from xunit1 junit XML (``file`` attributes)."""
    counts = {f: {"passed": 0, "failed": 0, "skipped": 0, "errors": 0} for f in files}
    other = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    root = ET.parse(xml_path).getroot()  # nosec B314: our own pytest's output
    for case in root.iter("testcase"):
        where = case.get("file") or (case.get("classname") or "").replace(".", "/") + ".py"
        bucket = next((counts[f] for f in files if where == f or where.startswith(f[:-3])), other)
        tags = {child.tag for child in case}
        kind = (
            "errors"
            if "error" in tags
            else "failed"
            if "failure" in tags
            else "skipped"
            if "skipped" in tags
            else "passed"
        )
        bucket[kind] += 1
    if any(other.values()):
        counts["(other)"] = other
    return counts


def tests_from_junit(options: ReportOptions, xml_path: Path) -> Check:
    """The security test files' results in the suite's junit XML (copied beside the report,
    its SHA-256 in the artifacts); FAILED on a failure or error in them or a file that ran
    no test there. Runs nothing."""
    source = options.junit
    assert source is not None
    files = [path for _, path in options.tests]
    check = Check("security tests", ERROR, "", ["(read)", str(source)])
    try:
        data = source.read_bytes()
        xml_path.write_bytes(data)
        counts = junit_counts(xml_path, files)
    except (OSError, ET.ParseError) as exc:
        check.summary = f"no test results at {source}: {exc}"
        return check
    rest = counts.pop("(other)", {"passed": 0, "failed": 0, "skipped": 0, "errors": 0})
    labels = dict((path, label) for label, path in options.tests)
    totals = {k: sum(c[k] for c in counts.values()) for k in ("passed", "failed", "skipped",
                                                              "errors")}  # fmt: skip
    empty = [f for f in files if sum(counts[f].values()) == 0]
    written = dt.datetime.fromtimestamp(source.stat().st_mtime, dt.UTC)
    check.status = FAILED if totals["failed"] or totals["errors"] or empty else PASSED
    check.summary = (
        f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped"
        + (f", {totals['errors']} errors" if totals["errors"] else "")
        + (f"; no test ran in {', '.join(empty)}" if empty else "")
        + f" (from the test suite's run, {source.name} of {written:%Y-%m-%d %H:%M} UTC)"
    )
    check.details = {
        "files": [{"file": f, "what": labels.get(f, f), **c} for f, c in counts.items()],
        "source": {"junit": str(source), "written_at": written.isoformat(timespec="seconds"),
                   "sha256": hashlib.sha256(data).hexdigest()},
        "rest_of_suite": rest,
    }  # fmt: skip
    return check


def run_tests(options: ReportOptions, xml_path: Path) -> Check:
    """The security test selections in one pytest run; FAILED on any failure, error, or a
    file that ran no test."""
    files = [path for _, path in options.tests]
    argv = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "junit_family=xunit1",
        f"--junitxml={xml_path}",
        *files,
    ]
    ran = run_tool(argv, options.repo, options.tests_timeout_s)
    check = Check("security tests", ERROR, "", argv[1:], round(ran.seconds, 1))
    if not xml_path.exists():
        check.summary = f"pytest did not run: {_tail(ran.stderr or ran.stdout)}"
        return check
    counts = junit_counts(xml_path, files)
    labels = dict((path, label) for label, path in options.tests)
    totals = {
        k: sum(c[k] for c in counts.values()) for k in ("passed", "failed", "skipped", "errors")
    }
    empty = [f for f in files if sum(counts[f].values()) == 0]
    bad = ran.code != 0 or totals["failed"] or totals["errors"] or empty
    check.status = FAILED if bad else PASSED
    check.summary = (
        f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped"
        + (f", {totals['errors']} errors" if totals["errors"] else "")
        + (f"; no test ran in {', '.join(empty)}" if empty else "")
        + (f" (pytest exit {ran.code})" if ran.code not in (0, 1) else "")
    )
    check.details = {
        "files": [{"file": f, "what": labels.get(f, f), **c} for f, c in counts.items()],
        "pytest_exit": ran.code,
        "tail": _tail(ran.stdout, 3),
    }
    return check


def versions(repo: Path) -> dict[str, Any]:
    """Python, the project (pyproject), the tools and the git commit the report is about."""
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    found: dict[str, Any] = {
        "python": platform.python_version(),
        project["name"]: project["version"],
    }
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    git = ["git", "-C", str(repo)]
    head = run_tool([*git, "rev-parse", "HEAD"], repo, 30)
    dirty = run_tool([*git, "status", "--porcelain", "--untracked-files=no"], repo, 30)
    found["git_commit"] = head.stdout.strip() if head.code == 0 else "unknown"
    found["git_worktree_changed"] = bool(dirty.stdout.strip()) if dirty.code == 0 else None
    return found


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_report(
    options: ReportOptions, say: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Run every check and return the report (not yet written or signed)."""
    now = dt.datetime.now(dt.UTC)
    stem = now.date().isoformat()
    options.out_dir.mkdir(parents=True, exist_ok=True)
    raws = {
        name: options.out_dir.resolve() / f"{name}-{stem}.{ext}"
        for name, ext in (("bandit", "json"), ("pip-audit", "json"), ("pytest", "xml"))
    }
    for path in raws.values():
        path.unlink(missing_ok=True)
    say("bandit ...")
    checks = [run_bandit(options, raws["bandit"])]
    say("pip-audit ..." if not options.offline else "pip-audit: offline, not checked")
    checks.append(run_pip_audit(options, raws["pip-audit"]))
    if options.junit is not None:
        say(f"security tests: read from {options.junit} (not run again)")
        checks.append(tests_from_junit(options, raws["pytest"]))
    else:
        say("security tests (pytest) ...")
        checks.append(run_tests(options, raws["pytest"]))
    failed = [c.name for c in checks if c.status in (FAILED, ERROR)]
    return {
        "report": "caas security evidence pack",
        "date": now.date().isoformat(),
        "generated_at": now.isoformat(timespec="seconds"),
        "offline": options.offline,
        "outcome": FAILED if failed else PASSED,
        "failed_checks": failed,
        "versions": versions(options.repo),
        "checks": [asdict(c) for c in checks],
        "artifacts": {p.name: _sha256(p) for p in raws.values() if p.exists()},
    }


def write_report(
    report: dict[str, Any], out_dir: Path, ring: Mapping[str, bytes], key_source: str
) -> tuple[Path, Path, Path]:
    """Write ``.json`` (signed: its exact bytes), ``.json.sig`` and ``.md``."""
    from graph.ops.security_report_md import render_markdown

    kid, sealing_key = next(iter(ring.items()))
    key = report_key(sealing_key)
    base = out_dir / f"security-report-{report['date']}"
    json_path, sig_path, md_path = (
        base.with_name(base.name + ext) for ext in (".json", ".json.sig", ".md")
    )
    report["signing"] = {
        "algorithm": "Ed25519 over the exact bytes of this file",
        "key": f"HKDF-SHA256({SIGNING_INFO.decode()!r}) of platform sealing key {kid!r}",
        "key_source": key_source,
        "public_key": public_key_text(key),
        "signature_file": sig_path.name,
        "signature_encoding": "base64url, unpadded",
    }
    data = (json.dumps(report, indent=2, sort_keys=True) + "\n").encode()
    json_path.write_bytes(data)
    sig_path.write_text(sign(key, data) + "\n")
    md_path.write_text(render_markdown(report))
    return json_path, sig_path, md_path


def main(
    out_dir: Path, offline: bool, verify: Path | None, say: Callable[[str], None],
    junit: Path | None = None,
) -> int:  # fmt: skip
    """The command: 0 when every check passed (or was skipped offline), 1 otherwise; with
    ``verify``: 0 when the signature verifies, 1 when not."""
    ring, key_source = platform_ring()
    if verify is not None:
        target = verify.with_suffix("") if verify.suffix == ".sig" else verify
        kid = verify_report(target, ring)
        say(
            f"valid: signed by the key derived from sealing key {kid!r}"
            if kid
            else f"INVALID: {target} does not verify (or it or its .sig is missing)"
        )
        return 0 if kid else 1
    report = build_report(ReportOptions(out_dir=out_dir, offline=offline, junit=junit), say)
    json_path, sig_path, md_path = write_report(report, out_dir, ring, key_source)
    for check in report["checks"]:
        say(f"{check['status']:<11} {check['name']}: {check['summary']}")
    say(f"{report['outcome']}: wrote {md_path}, {json_path}, {sig_path}")
    return 0 if report["outcome"] == PASSED else 1
