"""The two decorators every engine kernel uses, and a prefetch hint.

`nogil` lets other threads run during a batch; `cache` keeps compiled code on disk;
`_nrt=False` compiles without Numba's reference counting, which otherwise adds two atomic
operations per array argument on every call between kernels (a third of the time in
profiles). Kernels therefore never allocate arrays: they index preallocated ones.

`kernel` compiles a function that is called (an LLVM call passing every array argument as
its exploded struct, ~9 words for a 2-d array); `inline` marks the function `alwaysinline`
for LLVM (`forceinline=True`), so LLVM inlines it into each caller when the caller's module
is optimised, which removes that cost on the hot path. Numba compiles and types it once per
signature. (Numba's own `inline="always"` copies and retypes the callee's IR into every
caller instead: the same machine code within noise here, but the cold compile took 370 s
on 2 cores, against about 120 s this way.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from llvmlite import ir  # type: ignore[import-untyped]
from numba import njit
from numba.core import cgutils, types
from numba.extending import intrinsic

from engine.layout import O_NFIELDS, I64Array, Records

F = TypeVar("F", bound=Callable[..., Any])

kernel: Callable[[F], F] = njit(cache=True, nogil=True, _nrt=False)  # type: ignore[call-overload]
inline: Callable[[F], F] = njit(cache=True, nogil=True, _nrt=False, forceinline=True)  # type: ignore[call-overload]


def _prefetch_codegen(context: Any, builder: Any, signature: Any, args: Any) -> None:
    """Emit llvm.prefetch of `table[args[1:]]` (a C-strided int64 table, any dimension)."""
    array = context.make_array(signature.args[0])(context, builder, args[0])
    offset = ir.Constant(ir.IntType(64), 0)
    for k in range(len(args) - 1):
        index = context.cast(builder, args[1 + k], signature.args[1 + k], types.intp)
        stride = builder.extract_value(array.strides, k)
        offset = builder.add(offset, builder.mul(index, stride))
    address = builder.add(builder.ptrtoint(array.data, ir.IntType(64)), offset)
    pointer = builder.inttoptr(address, ir.IntType(8).as_pointer())
    i32 = ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [pointer.type, i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")  # type: ignore[no-untyped-call]
    builder.call(fn, [pointer, i32(0), i32(3), i32(1)])


@intrinsic
def _prefetch(typingctx: Any, table: Any, row: Any, col: Any) -> Any:
    """Hint the CPU to fetch the cache line holding `table[row, col]` (no effect on results).

    A 2-d int64 table and integer indices (in range: not checked). Used to
    start the cache misses of the next commands (order rows) while the current one is applied.
    """
    return types.void(table, row, col), _prefetch_codegen


@intrinsic
def _prefetch_at(typingctx: Any, table: Any, i: Any) -> Any:
    """`_prefetch` for a 1-d int64 table (the order-id map): the line holding `table[i]`."""
    return types.void(table, i), _prefetch_codegen


prefetch_at = cast(Callable[[I64Array, int], None], _prefetch_at)
"""`prefetch_at(table, i)`: see `_prefetch_at`."""


prefetch = cast(Callable[[I64Array, int, int], None], _prefetch)
"""`prefetch(table, row, col)`: see `_prefetch`."""


@intrinsic
def _store_word(typingctx: Any, records: Any, index: Any, offset: Any, value: Any) -> Any:
    """Store the int64 `value` at byte `offset` of record `records[index]` (8-byte aligned).

    Writes several small fields and the padding after them in one store, so that event
    records are fully defined even in a buffer that was never zeroed (engine.layout
    EV_TAIL_OFFSET). Index and offset are not checked.
    """
    sig = types.void(records, index, offset, value)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> None:
        array = context.make_array(signature.args[0])(context, builder, args[0])
        i64 = ir.IntType(64)
        index_ = context.cast(builder, args[1], signature.args[1], types.intp)
        offset_ = context.cast(builder, args[2], signature.args[2], types.intp)
        value_ = context.cast(builder, args[3], signature.args[3], types.int64)
        stride = builder.extract_value(array.strides, 0)
        address = builder.add(
            builder.ptrtoint(array.data, i64), builder.add(builder.mul(index_, stride), offset_)
        )
        builder.store(value_, builder.inttoptr(address, i64.as_pointer()), align=8)

    return sig, codegen


store_word = cast(Callable[[Records, int, int, int], None], _store_word)
"""`store_word(records, index, byte_offset, value)`: see `_store_word`."""


@inline
def prefetch_row(orders: I64Array, slot: int) -> None:
    """Prefetch every cache line of order row `slot` (a hint, no effect on results)."""
    for col in range(0, O_NFIELDS, 8):  # one cell per 64-byte line
        prefetch(orders, slot, col)
    prefetch(orders, slot, O_NFIELDS - 1)
