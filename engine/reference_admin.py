"""Money and administrative commands of the reference engine (deposits, withdrawals,
transfers, markets, fee rates), in the same order of checks as the kernels.
"""

from __future__ import annotations

from typing import Any

from engine import codes as c
from engine.layout import (
    MAX_BPS,
    MAX_NOTIONAL_MINOR,
    MAX_PRICE_TICKS,
    MAX_TOTAL_MINOR,
    MAX_UNIT_MINOR,
)
from engine.reference_core import Market, ReferenceCore


class ReferenceAdmin(ReferenceCore):
    """DEPOSIT_CREDIT, WITHDRAWAL_*, TRANSFER, ADD_MARKET, SET_* commands."""

    def _check_money(self, cmd: Any) -> int:
        kind, account, asset, amount = (int(cmd[k]) for k in ("kind", "account", "asset", "amount"))
        if not 0 <= account < self.config.max_accounts:
            return c.VALIDATION_UNKNOWN_ACCOUNT
        if not 0 <= asset < self.config.max_assets:
            return c.VALIDATION_UNKNOWN_ASSET
        if not 0 < amount <= MAX_TOTAL_MINOR:
            return c.VALIDATION_INVALID_AMOUNT
        available, _, held = self._bal(account, asset)
        credits, debits, _ = self.assets.get(asset, [0, 0, 0])
        if kind == c.DEPOSIT_CREDIT and credits - debits + amount > MAX_TOTAL_MINOR:
            return c.VALIDATION_VALUE_TOO_LARGE
        if kind == c.WITHDRAWAL_HOLD and available < amount:
            return c.RISK_INSUFFICIENT_FUNDS
        if kind in (c.WITHDRAWAL_RELEASE, c.WITHDRAWAL_DEBIT) and held < amount:
            return c.RISK_INSUFFICIENT_HELD
        if kind == c.TRANSFER:
            to = int(cmd["account2"])
            if not 0 <= to < self.config.max_accounts:
                return c.VALIDATION_UNKNOWN_ACCOUNT
            if to == account:
                return c.VALIDATION_SAME_ACCOUNT
            if available < amount:
                return c.RISK_INSUFFICIENT_FUNDS
        return c.OK

    def _money(self, cmd: Any) -> None:
        code = self._check_money(cmd)
        self._verdict(cmd, code)
        if code != c.OK:
            return
        kind, account, asset, amount = (int(cmd[k]) for k in ("kind", "account", "asset", "amount"))
        totals = self.assets.setdefault(asset, [0, 0, 0])
        if kind == c.DEPOSIT_CREDIT:
            self._move(account, asset, amount, 0)
            totals[0] += amount
        elif kind == c.WITHDRAWAL_HOLD:
            self._move(account, asset, -amount, amount)
            self._bal(account, asset)[2] += amount
        elif kind == c.WITHDRAWAL_RELEASE:
            self._move(account, asset, amount, -amount)
            self._bal(account, asset)[2] -= amount
        elif kind == c.WITHDRAWAL_DEBIT:
            self._move(account, asset, 0, -amount)
            self._bal(account, asset)[2] -= amount
            totals[1] += amount
        else:
            self._move(account, asset, -amount, 0)
            self._move(int(cmd["account2"]), asset, amount, 0)

    def _check_add_market(self, cmd: Any) -> int:
        m = int(cmd["market"])
        if not 0 <= m < self.config.max_markets:
            return c.VALIDATION_UNKNOWN_MARKET
        if m in self.markets:
            return c.VALIDATION_MARKET_EXISTS
        n_assets = self.config.max_assets
        if not (0 <= cmd["asset"] < n_assets and 0 <= cmd["asset2"] < n_assets):
            return c.VALIDATION_UNKNOWN_ASSET
        if not 0 <= cmd["account"] < self.config.max_accounts:
            return c.VALIDATION_UNKNOWN_ACCOUNT
        spec_ok = (
            cmd["asset"] != cmd["asset2"]
            and 1 <= cmd["qty"] <= MAX_UNIT_MINOR
            and 1 <= cmd["stop_price"] <= MAX_UNIT_MINOR
            and 0 <= cmd["amount"] <= MAX_NOTIONAL_MINOR
            and 0 <= cmd["bps1"] < MAX_BPS
            and 1 <= cmd["bps2"] <= MAX_BPS
            and cmd["tick_step"] >= 1
            and cmd["lot_step"] >= 1
        )
        if not spec_ok:
            return c.VALIDATION_INVALID_MARKET_SPEC
        if not c.STP_NONE <= cmd["stp"] <= c.STP_EXPIRE_BOTH:
            return c.VALIDATION_INVALID_STP_MODE
        if not 0 <= cmd["price"] <= MAX_PRICE_TICKS:
            return c.VALIDATION_INVALID_PRICE
        if not c.MARKET_TRADING <= cmd["status"] <= c.MARKET_REDUCE_ONLY:
            return c.VALIDATION_INVALID_MARKET_STATUS
        return c.OK

    def _check_admin(self, cmd: Any) -> int:
        kind = int(cmd["kind"])
        if kind == c.ADD_MARKET:
            return self._check_add_market(cmd)
        if kind in (c.SET_FEE_RATE, c.SET_ACCOUNT_MODE):
            if not 0 <= cmd["account"] < self.config.max_accounts:
                return c.VALIDATION_UNKNOWN_ACCOUNT
            if kind == c.SET_ACCOUNT_MODE:
                mode_ok = c.ACCOUNT_MODE_NORMAL <= cmd["status"] <= c.ACCOUNT_MODE_CANCEL_ONLY
                return c.OK if mode_ok else c.VALIDATION_INVALID_ACCOUNT_MODE
            if not (0 <= cmd["bps1"] <= MAX_BPS and 0 <= cmd["bps2"] <= MAX_BPS):
                return c.VALIDATION_INVALID_FEE_RATE
            return c.OK
        if int(cmd["market"]) not in self.markets:
            return c.VALIDATION_UNKNOWN_MARKET
        if kind == c.SET_MARKET_STATUS:
            if not c.MARKET_TRADING <= cmd["status"] <= c.MARKET_REDUCE_ONLY:
                return c.VALIDATION_INVALID_MARKET_STATUS
        elif not 0 < cmd["price"] <= MAX_PRICE_TICKS:
            return c.VALIDATION_INVALID_PRICE
        return c.OK

    def _admin(self, cmd: Any) -> None:
        code = self._check_admin(cmd)
        self._verdict(cmd, code, int(cmd["status"]) if code == c.OK else 0)
        if code != c.OK:
            return
        kind, m = int(cmd["kind"]), int(cmd["market"])
        if kind == c.ADD_MARKET:
            self.markets[m] = Market(
                base=int(cmd["asset"]), quote=int(cmd["asset2"]), base_per_lot=int(cmd["qty"]),
                quote_per_tick_lot=int(cmd["stop_price"]), min_notional=int(cmd["amount"]),
                band_bps=int(cmd["bps1"]), collar_bps=int(cmd["bps2"]),
                stp_default=int(cmd["stp"]), fee_account=int(cmd["account"]),
                ref_price=int(cmd["price"]), status=int(cmd["status"]),
                tick_step=int(cmd["tick_step"]), lot_step=int(cmd["lot_step"]),
            )  # fmt: skip
        elif kind == c.SET_FEE_RATE:
            self.fee_rates[int(cmd["account"])] = (int(cmd["bps1"]), int(cmd["bps2"]))
        elif kind == c.SET_ACCOUNT_MODE:
            self.account_modes[int(cmd["account"])] = int(cmd["status"])
        elif kind == c.SET_MARKET_STATUS:
            self.markets[m].status = int(cmd["status"])
        else:
            self.markets[m].ref_price = int(cmd["price"])
