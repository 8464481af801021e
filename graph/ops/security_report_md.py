"""The security evidence pack as Markdown, from the report dict of graph.ops.security_report.

Only renders: runs nothing, signs nothing (the signed artefact is the JSON).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

LEVELS = ("HIGH", "MEDIUM", "LOW")


def _table(header: tuple[str, ...], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return [*lines, ""]


def _check(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["checks"] if c["name"] == name)


def _bandit(check: dict[str, Any]) -> list[str]:
    lines = ["## Bandit (static analysis)", "", f"**{check['status']}**: {check['summary']}", ""]
    details = check["details"]
    if not details:
        return lines
    matrix = details["severity_by_confidence"]
    lines += ["Findings by severity (rows) and confidence (columns):", ""]
    lines += _table(
        ("severity", *LEVELS, "total"),
        [(s, *(matrix[s][c] for c in LEVELS), details["by_severity"][s]) for s in LEVELS],
    )
    lines += _table(("test", "findings"), list(details["by_test"].items()))
    high = details["high_findings"]
    lines += ["HIGH-severity findings:" if high else "HIGH-severity findings: none.", ""]
    lines += [
        f"- `{h['file']}:{h['line']}` {h['test']} ({h['confidence']} confidence): {h['text']}"
        for h in high
    ]
    if details["errors"]:
        lines += ["", "Files bandit could not scan:", ""]
        lines += [f"- `{e.get('filename')}`: {e.get('reason')}" for e in details["errors"]]
    return [*lines, ""]


def _audit(check: dict[str, Any]) -> list[str]:
    lines = ["## pip-audit (known vulnerabilities in requirements.lock)", ""]
    lines += [f"**{check['status']}**: {check['summary']}", ""]
    for dep in check["details"].get("vulnerable", []):
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln["fix_versions"]) or "no fix yet"
            lines.append(f"- {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
    skipped = check["details"].get("skipped", [])
    if skipped:
        names = ", ".join(f"{s['name']}" for s in skipped)
        lines += ["", f"Not audited ({len(skipped)}; the service had no record of them): {names}"]
    if check["details"].get("stderr"):
        lines += ["```", check["details"]["stderr"], "```"]
    return [*lines, ""]


def _tests(check: dict[str, Any]) -> list[str]:
    lines = ["## Security tests (pytest)", "", f"**{check['status']}**: {check['summary']}", ""]
    rows = [
        (f["what"], f"`{f['file']}`", f["passed"], f["failed"], f["skipped"], f["errors"])
        for f in check["details"].get("files", [])
    ]
    if rows:
        lines += _table(("selection", "file", "passed", "failed", "skipped", "errors"), rows)
    source = check["details"].get("source")
    if source:  # read from the suite's run, not run again
        lines += [f"Results read from the test suite's run: `{source['junit']}` written "
                  f"{source['written_at']} (SHA-256 `{source['sha256']}`).", ""]  # fmt: skip
    return lines


def render_markdown(report: dict[str, Any]) -> str:
    """The human-readable report: summary, each check, versions, how to verify."""
    versions = report["versions"]
    changed = " (work tree had uncommitted changes)" if versions["git_worktree_changed"] else ""
    lines = [
        f"# Security evidence pack, {report['date']}",
        "",
        f"Outcome: **{report['outcome']}**"
        + (f" (failed: {', '.join(report['failed_checks'])})" if report["failed_checks"] else ""),
        "",
        f"Generated {report['generated_at']} at commit `{versions['git_commit']}`"
        f"{changed}" + (", offline" if report["offline"] else "") + ".",
        "",
        "## Summary",
        "",
    ]
    lines += _table(
        ("check", "status", "result"),
        [(c["name"], c["status"], c["summary"]) for c in report["checks"]],
    )
    lines += _bandit(_check(report, "bandit"))
    lines += _audit(_check(report, "pip-audit"))
    lines += _tests(_check(report, "security tests"))
    lines += ["## Versions", ""]
    lines += _table(("component", "version"), [(k, v) for k, v in versions.items()])
    signing = report["signing"]
    lines += [
        "## Signature",
        "",
        f"`{signing['signature_file']}` holds the {signing['algorithm']} "
        f"({signing['signature_encoding']}); key: {signing['key']}, from "
        f"{signing['key_source']}; public key `{signing['public_key']}`.",
        "Check it with `caas security-report --verify <the .json file>` (exit 0 valid, 1 invalid).",
        "",
    ]
    lines += [
        "Raw tool outputs (SHA-256 in the JSON): "
        + ", ".join(f"`{name}`" for name in report["artifacts"]),
        "",
    ]
    return "\n".join(lines)
