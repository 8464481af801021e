"""The regulatory export: one tenant's customers, KYC decisions, trades, alerts, cases and
the verification of its audit chain, as a zip streamed file by file, with a signed manifest.

The manifest (``manifest.json``, written last) names every file with its SHA-256, size and
row count, the tenant, its data region, the period and when it was generated; its exact bytes
are signed with Ed25519 under the platform's report key, the key ``caas security-report``
signs with (graph/reports/signing.py: HKDF-SHA256 of the first sealing key of the ring),
base64url unpadded in ``manifest.json.sig``. ``verify_bundle`` checks the signature against
keys the verifier trusts (never the key the manifest names) and every file's hash.

Nothing is held in memory beyond a chunk: zipfile writes to an unseekable sink (entries with
data descriptors) that the generator empties after every chunk.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from domains.compliance.audit import Verification
from domains.compliance.reports import ReportFormat, ReportKind, ReportRequest, ReportService
from domains.custody.approvals import public_key_text, sign, verifies
from graph.reports.signing import SIGNING_INFO, report_key

MANIFEST, SIGNATURE = "manifest.json", "manifest.json.sig"
AUDIT_FILE = "audit_verification.json"
CONTENTS = (  # file stem, report kind
    ("customers", ReportKind.CUSTOMERS),
    ("kyc_decisions", ReportKind.KYC_DECISIONS),
    ("trades", ReportKind.TRADES),
    ("alerts", ReportKind.ALERTS),
    ("cases", ReportKind.CASES),
)


class _Sink(io.RawIOBase):
    """An unseekable byte sink the bundle generator drains after each write."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


class ReportSigning:
    """The sealing ring the platform signs exports with (the one it loaded at start: a
    development ring lives in memory, so it is read once and kept)."""

    def __init__(self, ring: Mapping[str, bytes]) -> None:
        self.ring = dict(ring)

    @property
    def public_keys(self) -> list[str]:
        return trusted_keys(self.ring)


@dataclass(frozen=True)
class BundleRequest:
    """Whose bundle, of which period, in which encoding, and who asked."""

    report: ReportRequest  # kind ignored: every kind of CONTENTS
    data_region: str | None
    fmt: ReportFormat = ReportFormat.CSV
    requested_by: str = ""


def _verification(v: Verification) -> dict[str, Any]:
    return {"intact": v.intact, "checked": v.checked, "first_position": v.first_n,
            "last_position": v.last_n,
            "findings": [{"problem": f.problem.value, "position": f.n, "detail": f.detail}
                         for f in v.findings]}  # fmt: skip


async def stream_bundle(
    request: BundleRequest, reports: ReportService, verification: Verification,
    ring: Mapping[str, bytes], now: dt.datetime,
) -> AsyncIterator[bytes]:  # fmt: skip
    """The zip, chunk by chunk (see the module docstring)."""
    sink = _Sink()
    files: list[dict[str, Any]] = []
    ext = request.fmt.value.lower()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
        for stem, kind in CONTENTS:
            name, digest, size = f"{stem}.{ext}", hashlib.sha256(), 0
            rows = [0]

            def count(n: int, rows: list[int] = rows) -> None:
                rows[0] = n

            part = ReportRequest(kind, request.report.tenant_id, request.report.since,
                                 request.report.until)  # fmt: skip
            info = zipfile.ZipInfo(name, date_time=now.astimezone(dt.UTC).timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            with archive.open(info, "w", force_zip64=True) as entry:
                async for chunk in reports.stream(part, request.fmt, count):
                    entry.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                    yield sink.take()
            files.append({"name": name, "sha256": digest.hexdigest(), "bytes": size,
                          "rows": rows[0]})  # fmt: skip
        audit = (json.dumps(_verification(verification), indent=2, sort_keys=True) + "\n").encode()
        archive.writestr(AUDIT_FILE, audit)
        files.append({"name": AUDIT_FILE, "sha256": hashlib.sha256(audit).hexdigest(),
                      "bytes": len(audit), "rows": 1})  # fmt: skip
        manifest = manifest_bytes(request, files, ring, now)
        _, sealing_key = next(iter(ring.items()))
        archive.writestr(MANIFEST, manifest)
        archive.writestr(SIGNATURE, sign(report_key(sealing_key), manifest) + "\n")
    yield sink.take()


def manifest_bytes(
    request: BundleRequest, files: list[dict[str, Any]], ring: Mapping[str, bytes],
    now: dt.datetime,
) -> bytes:  # fmt: skip
    kid, sealing_key = next(iter(ring.items()))
    r = request.report
    manifest = {
        "bundle": "caas regulatory export",
        "version": 1,
        "tenant": r.tenant_id,
        "data_region": request.data_region,
        "period": {"from": _iso(r.since), "to": _iso(r.until)},
        "generated_at": _iso(now),
        "requested_by": request.requested_by,
        "format": request.fmt.value,
        "files": files,
        "signing": {
            "algorithm": f"Ed25519 over the exact bytes of {MANIFEST}",
            "key": f"HKDF-SHA256({SIGNING_INFO.decode()!r}) of platform sealing key {kid!r}",
            "public_key": public_key_text(report_key(sealing_key)),
            "signature_file": SIGNATURE,
            "signature_encoding": "base64url, unpadded",
        },
    }
    return (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class BundleCheck:
    """What ``verify_bundle`` found: ``valid`` only with a trusted signature and every hash."""

    signed_by: str | None = None  # the trusted public key that verified the manifest
    problems: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return self.signed_by is not None and not self.problems


def trusted_keys(ring: Mapping[str, bytes]) -> list[str]:
    """The report public keys of a sealing ring (every key: older bundles still verify)."""
    return [public_key_text(report_key(key)) for key in ring.values()]


def verify_bundle(data: bytes, public_keys: Iterable[str]) -> BundleCheck:
    """Check a bundle's manifest signature against ``public_keys`` and every file's hash."""
    check = BundleCheck()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        names = set(archive.namelist())
        manifest = archive.read(MANIFEST)
        signature = archive.read(SIGNATURE).decode().strip()
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as exc:
        check.problems.append(f"not a bundle: {exc}")
        return check
    check.signed_by = next((k for k in public_keys if verifies(k, signature, manifest)), None)
    if check.signed_by is None:
        check.problems.append(f"{MANIFEST}: the signature does not verify with a trusted key")
    try:
        check.manifest = json.loads(manifest)
        listed = {f["name"]: f for f in check.manifest["files"]}
    except (ValueError, KeyError, TypeError) as exc:
        check.problems.append(f"{MANIFEST}: unreadable ({exc})")
        return check
    for name, entry in listed.items():
        if name not in names:
            check.problems.append(f"{name}: listed in the manifest, missing from the bundle")
            continue
        body = archive.read(name)
        if (hashlib.sha256(body).hexdigest(), len(body)) != (
            entry.get("sha256"),
            entry.get("bytes"),
        ):
            check.problems.append(f"{name}: its SHA-256 differs from the manifest's")
    for extra in sorted(names - set(listed) - {MANIFEST, SIGNATURE}):
        check.problems.append(f"{extra}: in the bundle, not in the manifest")
    return check
