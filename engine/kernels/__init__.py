"""Numba kernels of the engine: pure functions over preallocated arrays, no I/O.

Numba's on-disk cache (`cache=True`) is keyed on each function's own source file, not on
the modules it calls or the constants it imports, so a stale cache could survive an edit to
another kernel, engine/codes.py or engine/layout.py. On import this package fingerprints
all of them and clears `__pycache__/*.nbi|*.nbc` when the fingerprint changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

HERE = Path(__file__).parent
CACHE = HERE / "__pycache__"
STAMP = CACHE / "kernels.fingerprint"


def fingerprint() -> str:
    """Digest of every kernel source, engine/codes.py and engine/layout.py."""
    sources = [*sorted(HERE.glob("*.py")), HERE.parent / "codes.py", HERE.parent / "layout.py"]
    return hashlib.blake2b(b"".join(p.read_bytes() for p in sources), digest_size=16).hexdigest()


def cache_is_warm() -> bool:
    """Does Numba's disk cache hold kernels compiled from these sources (so a process loads
    them in seconds instead of compiling for minutes)? Checked without importing Numba."""
    try:
        fresh = STAMP.read_text() == fingerprint()
    except OSError:
        return False
    return fresh and any(CACHE.glob("batch.apply_batch-*.nbi"))


def _refresh_numba_cache() -> None:
    digest = fingerprint()
    cache, stamp = CACHE, STAMP
    try:
        if stamp.read_text() == digest:
            return
    except OSError:
        pass
    try:
        cache.mkdir(exist_ok=True)
        for stale in [*cache.glob("*.nbi"), *cache.glob("*.nbc")]:
            stale.unlink(missing_ok=True)
        stamp.write_text(digest)
    except OSError:  # read-only install: Numba falls back to compiling in memory
        pass


_refresh_numba_cache()
