"""The double-entry ledger, projected from engine events: every fill, fee, deposit,
withdrawal and transfer is a set of postings that sums to zero per asset, each carrying
the sequence of the command that caused it.

Amounts are integer minor units (exact sums in the store). Money leaving or entering the
platform posts against the ``external`` contra account, so the ledger balances too.

Stored as one document per command in ``ledger_entries`` (``_id`` = ``<seq>:<part>``;
a command with more than POSTINGS_PER_DOC postings takes several): the command's balanced
postings as an array (a journal entry and its lines), indexed by posting account (what the
statements select on; an index on account and asset cost the cross product of a fill's
accounts and assets in entries). A fill's eight postings are one insert, not eight: the
store's cost is per document and index entry.

A funding round posts each position's payment (PERP_PNL against ``perp:<market>``) and
one FUNDING_DUST pair for the whole round (the sum of the round's payments, i.e. minus
its dust, between the settlement account and the insurance fund); the realised PnL the
ledger remembers per position to post deltas (``ledger_perp_realized``) is stored for a
round as a few documents (``round`` = its sequence), not a write per position, and folded
into the per-position documents when the ledger next starts. A round without a
liquidation is posted from the event columns (``_round_postings``: the same lines as event
by event). Its PERP_PNL pairs are stored in columns (``round_documents``): a document holds
ROUND_PAIRS_PER_DOC positions' pairs as ``perp_pnl`` {asset, contra, reference, first_leg,
accounts, amounts}, position i's pair being legs first_leg + 2i (the account, +amount) and
first_leg + 2i + 1 (the contra, -amount); the FUNDING_DUST pair follows in an ordinary
document. ``postings_of`` expands any document into its postings (the same, leg for leg, as
the event-by-event path writes), and every reader sums both layouts (``account_sums``). Why:
the store's cost of 20,000 postings as sub-documents with their multikey index entries was
320-560 ms a round, the same payments in columns 22-38 ms (measured on the embedded store).
A round's documents are not in the ``postings.account_id`` index: readers select them by
``seq`` and the ``perp_pnl`` field.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pymongo import ASCENDING, DeleteMany, IndexModel, ReplaceOne

from domains.orders.bust_plan import LEG as BUST_LEG
from domains.orders.bust_plan import NOTE_BUST, NOTE_FEE_MAKER, NOTE_FEE_PAYER
from domains.orders.model import MarketKind
from domains.orders.routing import NOTE_LEG, NOTE_MARKUP_BPS
from domains.orders.spec import MarketSpec
from domains.shared.engine_port import EngineDirectory, yielding
from domains.shared.mongo import CollectionIndexes, Database, bulk_write_chunked, insert_new
from engine import codes
from engine.events import Row, rows
from engine.layout import Records

POSTINGS_PER_DOC = 64
# a funding round's columnar documents per insert: a journal write waits behind the
# request the store is on (64 documents of 64 postings took 125-250 ms)
ROUND_DOCS_PER_INSERT = 2
ROUND_ROWS_PER_STEP = 512  # a round's events posted between two hand-backs of the loop
ROUND_PAIRS_PER_DOC = 2_048  # a funding round's PERP_PNL pairs per columnar document
REALIZED_PER_ROUND_DOC = 2_000  # positions per ``ledger_perp_realized`` document of a round
EXTERNAL = "external"
PLATFORM_FEES = "platform:fees"  # engine account 0: the platform's fee income
INSURANCE_PREFIX = "platform:insurance:"  # + asset: the perpetuals' insurance fund
PERP_EVENTS = (codes.EV_POSITION_CHANGED, codes.EV_FUNDING, codes.EV_LIQUIDATION)
LEDGER_EVENTS = (codes.EV_ACCEPTED, codes.EV_TRADE, *PERP_EVENTS)  # what ``_legs`` posts from
MARKUP_PREFIX = "platform:fees:markup:"  # + tenant id: the institution's markup, held in account 0
INDEXES = (
    CollectionIndexes(
        "ledger_entries",
        (
            IndexModel([("postings.account_id", ASCENDING)]),
            IndexModel([("seq", ASCENDING)]),
        ),
        retired=("postings.account_id_1_postings.asset_1",),
    ),
)
SpecLookup = Callable[[str], Awaitable[MarketSpec]]
# one posting (leg) of an entry document: an account's change of one asset in minor units
# (positive = credit): leg, account_id, asset, amount_minor, kind, reference, and on the
# platform's fee legs tenant_id (the payer's tenant, what billing meters)
Line = dict[str, object]


class LedgerProjector:
    """Writer listener: events -> balanced postings in ``ledger_entries`` (idempotent)."""

    def __init__(self, db: Database, directory: EngineDirectory, spec_for: SpecLookup) -> None:
        self._entries = db.ledger_entries
        self._splits_store = db.ledger_fee_splits
        self._directory = directory
        self._spec_for = spec_for
        self._splits: dict[int, tuple[int, int, int]] | None = None  # account: maker, taker, markup
        self._realized_store = db.ledger_perp_realized
        self._realized: dict[str, tuple[int, int]] | None = None  # "acc:market": (realized, seq)
        self._fee_payers: list[str] = []  # the payer's tenant of each platform fee leg, in order

    bulk_rounds = True  # False: a round's events one by one too (the tests' reference)
    # projected beside the other read models (graph/writer/projections.py): the ledger
    # reads and writes only its own collections, so the store can insert a round's
    # postings while this process builds the positions' and balances' documents
    alongside_others = True

    async def __call__(
        self, batch: Records, events: Records, notes: dict[int, dict[str, str]]
    ) -> None:
        commands = {row["seq"]: row for row in rows(batch)}
        await self._load_splits()
        realized = await self._load_realized()
        self._realized_changed: dict[str, tuple[int, int]] = {}
        self._dust: dict[int, tuple[str, str, int]] = {}  # seq: settlement, asset, sum paid
        changed: dict[int, tuple[int, int, int]] = {}
        lines: dict[int, list[Line]] = {}  # seq: its postings, in leg order
        pairs: dict[int, RoundPairs] = {}  # seq: a bulk round's PERP_PNL pairs, in columns
        posted = events[np.isin(events["kind"], LEDGER_EVENTS)]  # no balance events
        rounds = bulk_round_seqs(posted, batch)
        for part, in_bulk in _runs(posted, rounds if self.bulk_rounds else ()):
            if in_bulk:
                await self._round_postings(part, pairs)
            else:
                await self._event_postings(part, commands, notes, changed, lines)
        for seq, (settlement, quote, paid) in sorted(self._dust.items()):
            if paid == 0:
                continue  # no dust this round
            found = pairs.get(seq)
            after = 2 * len(found.accounts) if found is not None else 0  # legs before the dust
            for account, amount in ((settlement, paid), (INSURANCE_PREFIX + quote, -paid)):
                _post(lines, seq, account, quote, amount, "FUNDING_DUST", f"cmd:{seq}", "",
                      after)  # fmt: skip
        if lines:  # a bulk round's dust pair among them, after its columns' legs
            await insert_new(self._entries, line_documents(lines))
        if pairs:
            await insert_new(self._entries, round_documents(pairs), ROUND_DOCS_PER_INSERT)
        await self._save_realized(batch)  # after the postings
        realized.update(self._realized_changed)
        for index, (maker, taker, markup) in changed.items():  # after the postings
            await self._splits_store.replace_one(
                {"_id": index}, {"maker_bps": maker, "taker_bps": taker, "markup_bps": markup},
                upsert=True,
            )  # fmt: skip

    async def _event_postings(
        self, posted: Records, commands: dict[int, Row], notes: dict[int, dict[str, str]],
        changed: dict[int, tuple[int, int, int]], lines: dict[int, list[Line]],
    ) -> None:  # fmt: skip
        """Postings of events one by one: fills, fees, deposits, transfers, perpetuals."""
        splits = self._splits if self._splits is not None else {}
        async for event in yielding(rows(posted)):
            command = commands.get(event["seq"])
            if (
                event["kind"] == codes.EV_ACCEPTED and command is not None
                and command["kind"] == codes.SET_FEE_RATE
            ):  # fmt: skip
                markup = int(notes.get(event["seq"], {}).get(NOTE_MARKUP_BPS, "0"))
                split = (int(command["bps1"]), int(command["bps2"]), markup)
                splits[int(command["account"])] = changed[int(command["account"])] = split
            self._fee_payers = []
            found = await self._legs(event, commands, notes.get(event["seq"], {}))
            payers = iter(self._fee_payers)  # _split_legs made them in the order of the legs
            for account, asset, amount, kind, reference in found:
                payer = next(payers) if (account, kind) == (PLATFORM_FEES, "FEE") else ""
                _post(lines, event["seq"], account, asset, amount, kind, reference, payer)

    async def _round_postings(self, posted: Records, pairs: dict[int, RoundPairs]) -> None:
        """Postings of funding rounds (``bulk_round_seqs``), from the event columns in
        slices, into columns: the same postings as ``_event_postings`` (``postings_of``),
        without a row, a dict per leg or an await per event."""
        markets: dict[int, tuple[str, str] | None] = {}
        for market in sorted(set(posted["market"].tolist())):
            market_id = self._directory.market_id(market)
            quote = (await self._spec_for(market_id)).quote.code if market_id else ""
            markets[market] = (market_id, quote) if market_id is not None else None
        for start in range(0, len(posted), ROUND_ROWS_PER_STEP):
            part = posted[start : start + ROUND_ROWS_PER_STEP]
            columns = [part[name].tolist() for name in ("seq", "kind", "account", "market",
                                                        "order_id", "value_a")]  # fmt: skip
            for seq, kind, account_index, market, realized_now, paid in zip(*columns, strict=True):
                found = markets[market]
                if found is None:
                    continue
                market_id, quote = found
                if kind == codes.EV_ACCEPTED:
                    continue  # the round's verdict: no money moves with it
                if kind == codes.EV_FUNDING:
                    dust = self._dust.get(seq, (f"perp:{market_id}", quote, 0))[2] + paid
                    self._dust[seq] = (f"perp:{market_id}", quote, dust)
                    continue
                account = self._account(account_index)
                delta = self._realized_delta(f"{account}:{market_id}", seq, realized_now)
                if delta:
                    found_pairs = pairs.get(seq)
                    if found_pairs is None:
                        found_pairs = pairs[seq] = RoundPairs(quote, f"perp:{market_id}")
                    found_pairs.accounts.append(account)
                    found_pairs.amounts.append(delta)
            await asyncio.sleep(0)

    def _realized_delta(self, key: str, seq: int, realized_now: int) -> int:
        """What a position's realised PnL moved since the ledger last posted it (0 for a
        replayed batch, whose postings exist already); remembers the new value."""
        before, last_seq = self._realized_changed.get(key) or (self._realized or {}).get(
            key, (0, 0)
        )
        if seq <= last_seq and key not in self._realized_changed:
            return 0
        self._realized_changed[key] = (realized_now, seq)
        return realized_now - before

    async def _load_splits(self) -> dict[int, tuple[int, int, int]]:
        if self._splits is None:
            cursor = self._splits_store.find({})
            self._splits = {
                int(d["_id"]): (d["maker_bps"], d["taker_bps"], d["markup_bps"])
                async for d in cursor
            }
        return self._splits

    async def _save_realized(self, batch: Records) -> None:
        """The positions' realised PnL after the batch: a funding round's as documents of
        up to REALIZED_PER_ROUND_DOC positions (insert-only), any other as one replace per
        position (one request per 64)."""
        rounds = set(batch["seq"][batch["kind"] == codes.APPLY_FUNDING].tolist())
        by_round: dict[int, dict[str, list[int]]] = {}
        single: list[ReplaceOne[dict[str, Any]]] = []
        for key, (value, seq) in self._realized_changed.items():
            if seq in rounds and "." not in key and not key.startswith("$"):
                by_round.setdefault(seq, {})[key] = [value, seq]
            else:
                single.append(ReplaceOne({"_id": key}, {"realized": value, "seq": seq},
                                         upsert=True))  # fmt: skip
        docs = []
        for round_seq, values in sorted(by_round.items()):
            keys = sorted(values)
            for part, start in enumerate(range(0, len(keys), REALIZED_PER_ROUND_DOC)):
                chunk = keys[start : start + REALIZED_PER_ROUND_DOC]
                docs.append({"_id": f"round:{round_seq:016d}:{part}", "round": round_seq,
                             "values": {k: values[k] for k in chunk}})  # fmt: skip
        await insert_new(self._realized_store, docs)
        await bulk_write_chunked(self._realized_store, single, ordered=True)

    async def _load_realized(self) -> dict[str, tuple[int, int]]:
        """Every position's last realised PnL; funding rounds' documents are folded into
        the per-position ones (then removed), so they are read once."""
        if self._realized is None:
            found: dict[str, tuple[int, int]] = {}
            folded: set[str] = set()
            async for d in self._realized_store.find({}).sort("_id", ASCENDING):
                if "round" not in d:
                    value = (int(d["realized"]), int(d["seq"]))
                    if d["_id"] not in found or found[d["_id"]][1] < value[1]:
                        found[d["_id"]] = value
                    continue
                for key, (realized, seq) in d["values"].items():
                    if key not in found or found[key][1] < int(seq):
                        found[key] = (int(realized), int(seq))
                        folded.add(key)
            if folded:
                await bulk_write_chunked(self._realized_store, [
                    ReplaceOne({"_id": k}, {"realized": found[k][0], "seq": found[k][1]},
                               upsert=True) for k in sorted(folded)
                ], ordered=True)  # fmt: skip
                await self._realized_store.bulk_write([DeleteMany({"round": {"$exists": True}})])
            self._realized = found
        return self._realized

    def _fee_legs(
        self, account: int, asset: str, fee: int, maker: bool, reference: str
    ) -> list[tuple[str, str, int, str, str]]:
        """A fee into account 0, split into the platform's part and the payer's institution's
        markup (its own ledger account), by the rates journaled for the payer."""
        maker_bps, taker_bps, markup_bps = (self._splits or {}).get(account, (0, 0, 0))
        all_in = maker_bps if maker else taker_bps
        markup = fee * markup_bps // all_in if all_in else 0
        return self._split_legs(account, asset, fee, markup, reference)

    def _split_legs(
        self, account: int, asset: str, fee: int, markup: int, reference: str
    ) -> list[tuple[str, str, int, str, str]]:
        ref = self._directory.account(account)
        self._fee_payers.append(ref.tenant_id if ref is not None else "")
        if ref is None or not markup:
            return [(PLATFORM_FEES, asset, fee, "FEE", reference)]
        return [(PLATFORM_FEES, asset, fee - markup, "FEE", reference),
                (MARKUP_PREFIX + ref.tenant_id, asset, markup, "MARKUP", reference)]  # fmt: skip

    def _account(self, index: int) -> str:
        ref = self._directory.account(index)
        return ref.account_id if ref else f"engine:{index}"

    def _asset(self, index: int) -> str:
        info = self._directory.asset_by_index(index)
        return info.code if info else f"asset:{index}"

    async def _legs(
        self, e: Row, commands: dict[int, Row], note: dict[str, str]
    ) -> list[tuple[str, str, int, str, str]]:
        if e["kind"] == codes.EV_TRADE:
            return await self._trade_legs(e)
        if e["kind"] in PERP_EVENTS:
            return await self._perp_legs(e, note)
        if e["kind"] != codes.EV_ACCEPTED:
            return []
        command = commands[e["seq"]]
        kind, amount = command["kind"], command["amount"]
        account, asset = self._account(command["account"]), self._asset(command["asset"])
        reference = f"cmd:{e['seq']}"
        if kind == codes.DEPOSIT_CREDIT:
            return [(account, asset, amount, "DEPOSIT", reference),
                    (EXTERNAL, asset, -amount, "DEPOSIT", reference)]  # fmt: skip
        if kind == codes.WITHDRAWAL_DEBIT:
            return [(account, asset, -amount, "WITHDRAWAL", reference),
                    (EXTERNAL, asset, amount, "WITHDRAWAL", reference)]  # fmt: skip
        if kind == codes.TRANSFER:
            target = self._account(command["account2"])
            label = note.get(NOTE_LEG, "TRANSFER")  # EXTERNAL_TRADE / FEE of a venue route
            if NOTE_BUST in note:  # a clearing rollback (domains/orders/busts.py)
                reference = f"bust:{note[NOTE_BUST]}"
                if NOTE_FEE_PAYER in note:  # a fee refund: the fee's own legs, negated
                    refund = self._fee_legs(int(note[NOTE_FEE_PAYER]), asset, amount,
                                            note.get(NOTE_FEE_MAKER) == "1", reference)  # fmt: skip
                    return [*((a, s, -v, k, r) for a, s, v, k, r in refund),
                            (target, asset, amount, label, reference)]  # fmt: skip
            elif NOTE_LEG in note:
                reference = f"route:{note['order_key']}:{e['seq']}"
            if label == "FEE" and command["account2"] == 0:
                fee_bps = int(note.get("fee_bps", "0"))
                markup_bps = int(note.get(NOTE_MARKUP_BPS, "0"))
                markup = amount * markup_bps // fee_bps if fee_bps else 0
                payer = int(command["account"])
                return [(account, asset, -amount, label, reference),
                        *self._split_legs(payer, asset, amount, markup, reference)]  # fmt: skip
            return [(account, asset, -amount, label, reference),
                    (target, asset, amount, label, reference)]  # fmt: skip
        return []

    async def _trade_legs(self, e: Row) -> list[tuple[str, str, int, str, str]]:
        market_id = self._directory.market_id(e["market"])
        if market_id is None:
            return []
        spec = await self._spec_for(market_id)
        base, quote = spec.base.code, spec.quote.code
        if spec.market.kind is MarketKind.PERPETUAL:  # no notional moves: fees only
            return await self._perp_fee_legs(e, market_id, quote)
        base_minor = e["qty"] * spec.base_per_lot
        quote_minor = e["price"] * e["qty"] * spec.quote_per_tick_lot
        maker_fee, taker_fee = e["value_a"], e["value_b"]
        taker, maker = self._account(e["account"]), self._account(e["maker_account"])
        buyer, seller = (taker, maker) if e["side"] == codes.BUY else (maker, taker)
        buyer_fee, seller_fee = (
            (taker_fee, maker_fee) if e["side"] == codes.BUY else (maker_fee, taker_fee)
        )
        reference = f"trade:{market_id}:{e['market_seq']}"
        taker_index, maker_index = int(e["account"]), int(e["maker_account"])
        return [
            (buyer, base, base_minor, "TRADE", reference),
            (seller, base, -base_minor, "TRADE", reference),
            (buyer, quote, -quote_minor - buyer_fee, "TRADE", reference),
            (seller, quote, quote_minor - seller_fee, "TRADE", reference),
            *self._fee_legs(taker_index, quote, int(taker_fee), False, reference),
            *self._fee_legs(maker_index, quote, int(maker_fee), True, reference),
        ]

    async def _perp_fee_legs(
        self, e: Row, market_id: str, quote: str
    ) -> list[tuple[str, str, int, str, str]]:
        maker_fee, taker_fee = int(e["value_a"]), int(e["value_b"])
        taker, maker = self._account(e["account"]), self._account(e["maker_account"])
        reference = f"trade:{market_id}:{e['market_seq']}"
        return [
            (taker, quote, -taker_fee, "TRADE_FEE", reference),
            (maker, quote, -maker_fee, "TRADE_FEE", reference),
            *self._fee_legs(int(e["account"]), quote, taker_fee, False, reference),
            *self._fee_legs(int(e["maker_account"]), quote, maker_fee, True, reference),
        ]

    async def _perp_legs(
        self, e: Row, note: dict[str, str]
    ) -> list[tuple[str, str, int, str, str]]:
        """Perpetual money: realised PnL (closes, funding, ADL) against the market's
        settlement account ``perp:<market>``, funding dust and insurance payments against
        the fund. An account's balance moves by exactly these legs and its fees. A bust's
        leg (BUST_POSITION, code POSITION_BUSTED) moves a party's realised PnL without
        money (the bust's TRANSFERs move it): nothing is posted, the new realised PnL is
        remembered; its clearing account's realised PnL (BUST_CLEARED) moves with its
        balance and posts as TRADE_BUST under the bust's reference."""
        market_id = self._directory.market_id(e["market"])
        if market_id is None:
            return []
        quote = (await self._spec_for(market_id)).quote.code
        settlement, reference = f"perp:{market_id}", f"cmd:{e['seq']}"
        account = self._account(e["account"])
        if e["kind"] == codes.EV_POSITION_CHANGED:
            key, seq = f"{account}:{market_id}", int(e["seq"])
            delta = self._realized_delta(key, seq, int(e["order_id"]))
            if delta == 0 or e["code"] == codes.POSITION_BUSTED:
                return []
            if e["code"] == codes.BUST_CLEARED:
                reference = f"bust:{note[NOTE_BUST]}" if NOTE_BUST in note else reference
                return [(account, quote, delta, BUST_LEG, reference),
                        (settlement, quote, -delta, BUST_LEG, reference)]  # fmt: skip
            return [(account, quote, delta, "PERP_PNL", reference),
                    (settlement, quote, -delta, "PERP_PNL", reference)]  # fmt: skip
        if e["kind"] == codes.EV_FUNDING:  # already in realised; the rounding dust (minus
            # the sum of the round's payments) goes to the fund: one pair per round
            seq = int(e["seq"])
            paid = self._dust.get(seq, (settlement, quote, 0))[2] + int(e["value_a"])
            self._dust[seq] = (settlement, quote, paid)
            return []
        amount, fund = int(e["value_a"]), INSURANCE_PREFIX + quote
        if e["code"] == codes.LIQ_INSURANCE_PAID:
            return [(fund, quote, -amount, "INSURANCE", reference),
                    (account, quote, amount, "INSURANCE", reference)]  # fmt: skip
        if e["code"] == codes.LIQ_INSURANCE_CREDITED:
            return [(account, quote, -amount, "INSURANCE", reference),
                    (fund, quote, amount, "INSURANCE", reference)]  # fmt: skip
        if e["code"] == codes.LIQ_SOCIALIZED:  # the winners pay it out of their realised PnL
            # when they close (their cost rose), which posts against the same settlement
            return [(account, quote, amount, "SOCIALIZED_LOSS", reference),
                    (settlement, quote, -amount, "SOCIALIZED_LOSS", reference)]  # fmt: skip
        return []


def _post(
    lines: dict[int, list[Line]], seq: int, account_id: str, asset: str, amount_minor: int,
    kind: str, reference: str, tenant_id: str = "", legs_before: int = 0,
) -> None:  # fmt: skip
    """Append a posting to its command's lines, numbered in order (leg 1, 2, ...; after
    ``legs_before`` legs stored elsewhere: a round's pairs in columns)."""
    found = lines.setdefault(seq, [])
    line: Line = {"leg": legs_before + len(found) + 1, "account_id": account_id, "asset": asset,
                  "amount_minor": amount_minor, "kind": kind, "reference": reference}  # fmt: skip
    if tenant_id:
        line["tenant_id"] = tenant_id
    found.append(line)


def line_documents(
    lines: dict[int, list[Line]], per_doc: int = POSTINGS_PER_DOC
) -> list[dict[str, object]]:
    """One document per command and ``per_doc`` postings, in leg order (a fill is one
    document; a liquidating round over many positions several, not one huge one)."""
    return [
        {"_id": f"{seq}:{part}", "seq": seq, "postings": found[start : start + per_doc]}
        for seq, found in lines.items()
        for part, start in enumerate(range(0, len(found), per_doc))
    ]


@dataclass
class RoundPairs:
    """A funding round's PERP_PNL pairs in columns: each account's delta against the
    market's settlement account (``contra``), in the order the events gave them."""

    asset: str
    contra: str
    accounts: list[str] = field(default_factory=list)
    amounts: list[int] = field(default_factory=list)


def round_documents(pairs: dict[int, RoundPairs]) -> list[dict[str, object]]:
    """A round's pairs as documents of ROUND_PAIRS_PER_DOC (``_id`` ``<seq>:r<part>``);
    the pairs are legs 1 .. 2N of the command, in order."""
    docs: list[dict[str, object]] = []
    for seq, found in pairs.items():
        for part, start in enumerate(range(0, len(found.accounts), ROUND_PAIRS_PER_DOC)):
            end = start + ROUND_PAIRS_PER_DOC
            docs.append({"_id": f"{seq}:r{part}", "seq": seq, "perp_pnl": {
                "asset": found.asset, "contra": found.contra, "reference": f"cmd:{seq}",
                "first_leg": 2 * start + 1, "accounts": found.accounts[start:end],
                "amounts": found.amounts[start:end],
            }})  # fmt: skip
    return docs


def postings_of(doc: Mapping[str, Any]) -> list[Line]:
    """Every posting a ``ledger_entries`` document holds, in leg order, whichever layout."""
    columns = doc.get("perp_pnl")
    if columns is None:
        return list(doc.get("postings") or [])
    asset, contra, reference = columns["asset"], columns["contra"], columns["reference"]
    found: list[Line] = []
    leg = int(columns["first_leg"])
    for account, amount in zip(columns["accounts"], columns["amounts"], strict=True):
        for account_id, amount_minor in ((account, amount), (contra, -amount)):
            found.append({"leg": leg, "account_id": account_id, "asset": asset,
                          "amount_minor": amount_minor, "kind": "PERP_PNL",
                          "reference": reference})  # fmt: skip
            leg += 1
    return found


SumKey = tuple[str, str, int]  # account, asset, seq (0 unless by_seq)


async def account_sums(
    entries: Any, seq: Mapping[str, int] | None = None, accounts: Collection[str] | None = None,
    *, by_seq: bool = False,
) -> dict[SumKey, int]:  # fmt: skip
    """Sum of the postings per (account, asset[, seq]) over both layouts: the ordinary
    documents in the store (by the ``postings.account_id`` index when ``accounts`` is
    given), the funding rounds' columns here. ``seq`` filters by sequence ($lte, $gt...);
    ``accounts`` None: every account."""
    match: dict[str, Any] = {} if seq is None else {"seq": dict(seq)}
    wanted = None if accounts is None else set(accounts)
    group: dict[str, str] = {"a": "$postings.account_id", "s": "$postings.asset"}
    if by_seq:
        group["q"] = "$seq"
    summed = {"$group": {"_id": group, "total": {"$sum": "$postings.amount_minor"}}}
    pipeline: list[dict[str, Any]] = [{"$unwind": "$postings"}, summed]
    if wanted is not None:
        selected = {"postings.account_id": {"$in": sorted(wanted)}}
        pipeline = [{"$match": {**match, **selected}}, pipeline[0], {"$match": selected}, summed]
    elif match:
        pipeline.insert(0, {"$match": match})
    totals: dict[SumKey, int] = {}
    async for d in await entries.aggregate(pipeline):
        key = (d["_id"]["a"], d["_id"]["s"], int(d["_id"].get("q", 0)))
        totals[key] = totals.get(key, 0) + int(d["total"])
    query = {**match, "perp_pnl": {"$exists": True}}
    async for doc in entries.find(query, {"seq": 1, "perp_pnl": 1}):
        columns, q = doc["perp_pnl"], int(doc["seq"]) if by_seq else 0
        asset, contra = columns["asset"], columns["contra"]
        paid = 0
        for account, amount in zip(columns["accounts"], columns["amounts"], strict=True):
            if wanted is None or account in wanted:
                totals[(account, asset, q)] = totals.get((account, asset, q), 0) + amount
            paid += amount
        if wanted is None or contra in wanted:
            totals[(contra, asset, q)] = totals.get((contra, asset, q), 0) - paid
    return totals


def bulk_round_seqs(posted: Records, commands: Records) -> np.ndarray:
    """Funding rounds without a liquidation, posted from columns: APPLY_FUNDING commands
    with a payment whose other ledger events are position changes (and the command's
    ACCEPTED, which posts nothing for a round)."""
    rounds: np.ndarray = commands["seq"][commands["kind"] == codes.APPLY_FUNDING]
    if len(rounds) == 0:
        return rounds  # most batches: no round
    of_rounds = posted[np.isin(posted["seq"], rounds)]
    kinds, seqs = of_rounds["kind"], of_rounds["seq"]
    paid = np.unique(seqs[kinds == codes.EV_FUNDING])
    plain = np.isin(kinds, (codes.EV_FUNDING, codes.EV_POSITION_CHANGED, codes.EV_ACCEPTED))
    found: np.ndarray = np.setdiff1d(paid, seqs[~plain])
    return found


def _runs(posted: Records, bulk: np.ndarray | tuple[()]) -> list[tuple[Records, bool]]:
    """``posted`` cut into consecutive runs, each wholly of ``bulk`` commands or of none
    (in sequence order: a position's realised PnL is posted in the order it moved)."""
    if len(posted) == 0:
        return []
    inside = np.isin(posted["seq"], np.asarray(bulk, dtype=np.int64))
    cuts = np.flatnonzero(inside[1:] != inside[:-1]) + 1
    bounds = [0, *cuts.tolist(), len(posted)]
    return [(posted[a:b], bool(inside[a])) for a, b in itertools.pairwise(bounds)]


async def ledger_totals(db: Database) -> dict[tuple[str, str], int]:
    """Sum of postings per (account, asset), in minor units."""
    return {(a, s): total for (a, s, _), total in (await account_sums(db.ledger_entries)).items()}
