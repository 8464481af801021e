"""level_index: the scan from the touch and the bisection behind it agree with bisect."""

from __future__ import annotations

import bisect

import numpy as np

from engine import codes as c
from engine.kernels.book import LEVEL_SCAN, level_index
from engine.layout import LV_NFIELDS, LV_PRICE


def test_level_index_is_the_lower_bound_on_both_sides_and_any_depth() -> None:
    rng = np.random.default_rng(7)
    for n in (0, 1, LEVEL_SCAN - 1, LEVEL_SCAN, LEVEL_SCAN + 1, 3 * LEVEL_SCAN, 100):
        prices = np.sort(rng.choice(np.arange(1, 400), size=n, replace=False))
        for side in (c.BUY, c.SELL):
            keys = [int(p) for p in prices] if side == c.BUY else sorted(-int(p) for p in prices)
            lv = np.zeros((128, LV_NFIELDS), np.int64)
            lv[:n, LV_PRICE] = keys if side == c.BUY else [-k for k in keys]
            for price in range(0, 402):
                key = price if side == c.BUY else -price
                assert level_index(lv, n, side, price) == bisect.bisect_left(keys, key)
