"""The one decorator every engine kernel uses.

`nogil` lets other threads run during a batch; `cache` keeps compiled code on disk;
`_nrt=False` compiles without Numba's reference counting, which otherwise adds two atomic
operations per array argument on every call between kernels (a third of the time in
profiles). Kernels therefore never allocate arrays: they index preallocated ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from numba import njit

F = TypeVar("F", bound=Callable[..., Any])

kernel: Callable[[F], F] = njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]
