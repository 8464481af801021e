"""Numba kernels of the engine: pure functions over preallocated arrays, no I/O.

Numba's on-disk cache (`cache=True`) is keyed on each function's own source file, not on
the modules it calls or the constants it imports, so a stale cache could survive an edit to
another kernel, engine/codes.py or engine/layout.py. On import this package fingerprints
all of them and clears `__pycache__/*.nbi|*.nbc` when the fingerprint changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def _refresh_numba_cache() -> None:
    here = Path(__file__).parent
    sources = [*sorted(here.glob("*.py")), here.parent / "codes.py", here.parent / "layout.py"]
    digest = hashlib.blake2b(b"".join(p.read_bytes() for p in sources), digest_size=16).hexdigest()
    cache = here / "__pycache__"
    stamp = cache / "kernels.fingerprint"
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
