"""``arbscan rebalance``: transfers that bring a strategy's balances back to its starting allocation. Advice only.

For each asset, venues holding more than at the start send to venues holding less. A transfer is one
withdrawal: ``amount`` leaves the source venue, the venue keeps ``fee`` (withdrawal fee plus any deposit
fee of the network used, in the asset) and ``amount - fee`` arrives. A source sends at most what it holds
above its start; a deficit is filled exactly when the surpluses allow, fee included.

Least cost, per asset: every way of filling the deficits from the surpluses (each step fills a deficit or
empties a source) is tried and the best kept, judged in this order: the least left short, the fewest
transfers that are impossible now (a switch is off, no common network, below the withdrawal minimum), the
fewest whose possibility or fee is unknown, then the smallest total of known fees. Nothing is dropped silently: an impossible transfer is
proposed with the reason, a deficit no surplus can fill and a surplus nobody needs are listed, and a
venue's asset whose starting balance is unknown (a live venue not read at the start) is named as not planned.

Quote held by cross-quote trades (``convert = "hold"``, or a conversion leg that did not complete: the
trades' ``quote_imbalance``) is proposed for conversion first: each ``conversion`` market the trades named
converts what they left of Q2 (at most the Q2 the venues hold above their start) back into Q1 on its venue,
worth about what the trades valued it at (the conversion book when they settled). The transfers are then
planned on the balances after those conversions: the Q2 to the conversion's venue when it sits elsewhere,
the Q1 it gives to where it was spent.

The facts are the latest funding facts the journal holds (what the last scan or replay learnt), with the
config's ``transfer`` tables on top. arbscan never moves money: this only prints.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from arbscan.errors import BadInput
from arbscan.funding.facts import FundingBook, NetworkFunding, facts_from_rows
from arbscan.model import ZERO
from arbscan.cli.status import decode_text
from arbscan.execution.summary import summarize
from arbscan.funding.transfers import CLOSED, OPEN, Leg, leg

logger = logging.getLogger(__name__)

__all__ = ["Transfer", "Leftover", "Conversion", "Plan", "plan_asset", "plan_transfers", "load_funding",
           "held_quotes", "rebalance", "format_plan"]

_MAX_SEARCH = 200_000  # plans tried per asset before settling for the best so far (dozens of venues)


@dataclass(frozen=True, slots=True)
class Transfer:
    """One proposed withdrawal: ``amount`` of ``asset`` from ``source`` to ``target`` over ``network``."""

    asset: str
    source: str
    target: str
    network: str | None
    amount: Decimal
    fee: Decimal | None  # None: not known
    status: str  # "open", "impossible" (not possible now) or "unknown"
    note: str = ""

    @property
    def arrives(self) -> Decimal | None:
        """What reaches the target (None when the fee is not known)."""
        return None if self.fee is None else self.amount - self.fee


@dataclass(frozen=True, slots=True)
class Leftover:
    """What the transfers leave: a venue still ``short`` of its start, or a ``surplus`` nobody needs."""

    asset: str
    exchange: str
    kind: str  # "short" | "surplus"
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Conversion:
    """One proposed conversion: ``amount`` of ``asset`` (Q2) into ``into`` (Q1) on ``venue``'s ``symbol``.

    ``value`` is what the cross-quote trades valued that Q2 at in Q1 (the conversion book when they
    settled; None when some could not be valued); ``held_on`` the venues where the trades received it.
    """

    venue: str
    symbol: str
    asset: str
    into: str
    amount: Decimal
    value: Decimal | None
    held_on: tuple[str, ...]

    @property
    def side(self) -> str:
        """``sell`` (the market is Q2/Q1: Q2 sold at its bids) or ``buy`` (Q1/Q2: Q1 bought at its asks)."""
        return "sell" if self.symbol.partition("/")[0] == self.asset else "buy"


@dataclass(slots=True)
class Plan:
    """The advice for one strategy's run: the transfers, what they leave, and where the facts came from."""

    strategy: str
    mode: str
    run_id: int
    transfers: list[Transfer] = field(default_factory=list)
    leftovers: list[Leftover] = field(default_factory=list)
    facts: int = 0  # sets of funding facts read from the journal (one per venue and asset)
    facts_as_of: float | None = None  # event time of the latest of them (None: not known)
    drift: dict[str, dict[str, Decimal]] = field(default_factory=dict)  # asset -> exchange -> now - start
    unknown: list[tuple[str, str]] = field(default_factory=list)  # (asset, exchange) whose start is unknown: not planned
    conversions: list[Conversion] = field(default_factory=list)  # quote held by cross-quote trades, converted first


def _edge(asset: str, source: str, target: str, funding: FundingBook) -> Leg:
    return leg(asset, source, target, funding.get(source, asset), funding.get(target, asset))


def _transfer(asset: str, edge: Leg, amount: Decimal) -> Transfer:
    fee = edge.fee
    if edge.status == CLOSED:
        return Transfer(asset, edge.source, edge.target, edge.network, amount, fee, "impossible", f"impossible now: {edge.detail}")
    if edge.status != OPEN:
        return Transfer(asset, edge.source, edge.target, edge.network, amount, fee, "unknown", f"unknown: {edge.detail}")
    if edge.withdraw_min is not None and amount < edge.withdraw_min:
        return Transfer(asset, edge.source, edge.target, edge.network, amount, fee, "impossible",
                        f"impossible now: below {edge.source}'s withdrawal minimum of {edge.withdraw_min} {asset}")
    note = "" if fee is not None else f"{edge.source} states no fee for {asset} over {edge.network}"
    return Transfer(asset, edge.source, edge.target, edge.network, amount, fee, "open", note)


def _score(transfers: list[Transfer], short: Decimal) -> tuple[Decimal, int, int, Decimal]:
    impossible = sum(t.status == "impossible" for t in transfers)
    unknown = sum(t.status == "unknown" or t.fee is None for t in transfers)
    return short, impossible, unknown, sum((t.fee for t in transfers if t.fee is not None), ZERO)


def plan_asset(asset: str, drift: Mapping[str, Decimal], funding: FundingBook) -> tuple[list[Transfer], list[Leftover]]:
    """The least-cost transfers of one asset (see the module docstring); ``drift`` is exchange -> now - start.

    Deficits are filled in venue-name order; when the surpluses cannot fill them all, the last ones stay short.
    """
    surplus = {ex: d for ex, d in sorted(drift.items()) if d > 0}
    need = {ex: -d for ex, d in sorted(drift.items()) if d < 0}
    edges = {(s, n): _edge(asset, s, n, funding) for s in surplus for n in need}
    best: list[Any] = []  # [score, transfers, surplus left, needs left]
    tried = itertools.count()

    def search(left: dict[str, Decimal], needs: dict[str, Decimal], done: list[Transfer]) -> None:
        moves = []
        for target in (n for n, r in needs.items() if r > 0):  # a deficit no source can reach stays short
            for source in (s for s, r in left.items() if r > 0):
                edge = edges[(source, target)]
                fee = edge.fee or ZERO
                amount = min(left[source], needs[target] + fee)
                if amount > fee:  # something arrives
                    moves.append((source, target, amount, fee, edge))
            if moves:
                break
        if not moves or (next(tried) > _MAX_SEARCH and best):
            score = _score(done, sum((r for r in needs.values() if r > 0), ZERO))
            if not best or score < best[0]:
                best[:] = [score, list(done), dict(left), dict(needs)]
            return
        for source, target, amount, fee, edge in moves:
            search({**left, source: left[source] - amount}, {**needs, target: needs[target] - (amount - fee)},
                   [*done, _transfer(asset, edge, amount)])

    search(dict(surplus), dict(need), [])
    _, transfers, left, needs = best
    leftovers = [Leftover(asset, ex, "short", r) for ex, r in needs.items() if r > 0]
    leftovers += [Leftover(asset, ex, "surplus", r) for ex, r in left.items() if r > 0]
    return transfers, leftovers


def plan_transfers(strategy: str, mode: str, run_id: int, start: Mapping[tuple[str, str], Decimal | None],
                   final: Mapping[tuple[str, str], Decimal], funding: FundingBook,
                   held: Iterable[Conversion] = ()) -> Plan:
    """The advice for balances that went from ``start`` to ``final`` ((exchange, asset) -> amount).

    A start of None is unknown: that venue's asset is left out of planning (listed in ``plan.unknown``),
    never taken as 0; an (exchange, asset) missing from ``start`` started at 0. ``held``: quote held by
    cross-quote trades (:func:`held_quotes`); each is converted first, capped by the Q2 the venues hold
    above their start, and the transfers are planned on the balances after the conversions.
    """
    plan = Plan(strategy, mode, run_id)
    final = dict(final)
    for conv in held:
        surplus = sum((final.get(k, ZERO) - (start.get(k) or ZERO) for k in {*start, *final}
                       if k[1] == conv.asset and start.get(k, ZERO) is not None), ZERO)
        amount = min(conv.amount, surplus)
        if amount <= 0:
            continue
        value = None if conv.value is None else conv.value * amount / conv.amount
        plan.conversions.append(Conversion(conv.venue, conv.symbol, conv.asset, conv.into, amount, value, conv.held_on))
        final[(conv.venue, conv.asset)] = final.get((conv.venue, conv.asset), ZERO) - amount
        if value is not None:
            final[(conv.venue, conv.into)] = final.get((conv.venue, conv.into), ZERO) + value
    for ex, asset in sorted({*start, *final}, key=lambda k: (k[1], k[0])):
        begin = start.get((ex, asset), ZERO)
        if begin is None:
            plan.unknown.append((asset, ex))
            continue
        d = final.get((ex, asset), ZERO) - begin
        if d:
            plan.drift.setdefault(asset, {})[ex] = d
    for asset, drift in plan.drift.items():
        transfers, leftovers = plan_asset(asset, drift, funding)
        plan.transfers += transfers
        plan.leftovers += leftovers
    return plan


def load_funding(db: Any, overrides: Mapping[str, Mapping[str, tuple[NetworkFunding, ...]]]
                 ) -> tuple[FundingBook, int, float | None]:
    """The latest journaled funding facts per venue and asset (config on top), how many, and the latest's time."""
    book = FundingBook(overrides)
    if "funding" not in db.table_names():  # a journal from before funding facts were kept
        return book, 0, None
    sets: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for row in db.query("SELECT * FROM funding ORDER BY id"):
        sets.setdefault((row["run_id"], row["set_id"]), []).append(row)
    latest: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rows in sets.values():  # in journal order: a later set of a venue and asset replaces an earlier one
        latest[(rows[0]["exchange"], rows[0]["asset"])] = rows
    as_of = None
    read = 0
    for rows in latest.values():
        try:
            book.set(facts_from_rows(rows))
        except (ValueError, TypeError, ArithmeticError) as exc:  # a journal another tool touched: facts unknown
            logger.warning("journal: funding rows %s cannot be read (%s); their facts count as unknown",
                           ", ".join(str(r["id"]) for r in rows), exc)
            continue
        read += 1
        ts = rows[0]["ts"]
        if isinstance(ts, (int, float)) and 0 <= ts < 1e11 and (as_of is None or ts > as_of):
            as_of = float(ts)
    return book, read, as_of


def held_quotes(db: Any, run_id: Any, strategy: str, mode: str) -> list[Conversion]:
    """The quote (Q2) the run's cross-quote trades left, per conversion market, with the Q1 they valued it at."""
    if "sell_symbol" not in {c.name for c in db["trades"].columns}:  # a journal from before cross-quote trades
        return []
    held: dict[tuple[str, str, str], list[Any]] = {}  # (conversion, Q2, Q1) -> [amount, value or None, venues]
    for symbol, sell_symbol, sell_ex, conversion, left, value in db.execute(
            "SELECT symbol, sell_symbol, sell_exchange, conversion, quote_imbalance, quote_imbalance_value FROM trades "
            "WHERE run_id IS ? AND mode = ? AND strategy = ? AND sell_symbol IS NOT NULL AND conversion IS NOT NULL",
            (run_id, mode, strategy)).fetchall():
        try:
            amount = Decimal(str(left)) if left not in (None, "") else ZERO
        except ArithmeticError:
            amount = ZERO
        if not amount.is_finite() or amount <= 0:
            continue
        try:
            worth: Decimal | None = Decimal(str(value)) if value not in (None, "") else None
        except ArithmeticError:
            worth = None
        entry = held.setdefault((str(conversion), str(sell_symbol).partition("/")[2], str(symbol).partition("/")[2]),
                                [ZERO, ZERO, {}])
        entry[0] += amount
        entry[1] = None if worth is None or entry[1] is None or not worth.is_finite() else entry[1] + worth
        entry[2][sell_ex] = None
    out = []
    for (conversion, q2, q1), (amount, worth, venues) in sorted(held.items()):
        venue, _, symbol = conversion.partition(":")
        out.append(Conversion(venue, symbol, q2, q1, amount, worth, tuple(venues)))
    return out


def _which(db: Any, strategy: str | None) -> tuple[str, str, int]:
    """(strategy, mode, run id) of the latest run in which ``strategy`` (or the journal's only one) traded."""
    rows = list(db.query("SELECT strategy, mode, run_id, MAX(id) AS last FROM balances WHERE strategy IS NOT NULL "
                         "AND mode IS NOT NULL GROUP BY strategy, mode, run_id ORDER BY last DESC"))
    if not rows:
        raise BadInput("the journal holds no paper or live balances: run a strategy first (--strategy)")
    names = sorted({r["strategy"] for r in rows})
    if strategy is None:
        if len(names) > 1:
            raise BadInput(f"the journal holds several strategies ({', '.join(names)}): name one with --strategy")
        strategy = names[0]
    for r in rows:
        if r["strategy"] == strategy:
            return strategy, r["mode"], r["run_id"]
    raise BadInput(f"strategy {strategy!r} has no balances in the journal (it holds: {', '.join(names)})")


def _balances_readable(db: Any, run_id: Any, strategy: str, mode: str) -> None:
    """``BadInput`` naming the first balance of the run without a venue or asset, or whose amount is not a
    finite decimal: no advice from it."""
    for rowid, exchange, asset, free in db.execute(
            "SELECT id, exchange, asset, free FROM balances WHERE run_id IS ? AND mode = ? AND strategy = ? ORDER BY id",
            (run_id, mode, strategy)).fetchall():
        if exchange is None or asset is None:
            raise BadInput(f"journal: balances row {rowid} names no {'exchange' if exchange is None else 'asset'}; "
                           f"no advice for strategy {strategy!r} from a balance that cannot be placed")
        try:
            readable = free is not None and Decimal(str(free)).is_finite()
        except ArithmeticError:
            readable = False
        if not readable:
            raise BadInput(f"journal: balances.free of row {rowid} ({free!r}) is not a number; "
                           f"no advice for strategy {strategy!r} from a balance that cannot be read")


def rebalance(db_path: str | Path, strategy: str | None,
              overrides: Mapping[str, Mapping[str, tuple[NetworkFunding, ...]]]) -> Plan:
    """The advice for ``strategy``'s latest run in the journal at ``db_path`` (read-only; ``BadInput`` when it cannot)."""
    from arbscan.journal.store import Store

    db = Store.open_readonly(db_path)
    db.conn.text_factory = decode_text
    try:
        name, mode, run_id = _which(db, strategy)
        _balances_readable(db, run_id, name, mode)
        summary = summarize(db, run_id, name, mode)
        funding, sets, as_of = load_funding(db, overrides)
        held = held_quotes(db, run_id, name, mode)
    finally:
        db.conn.close()
    # the summary's rule: a live venue with no starting rows journaled has an unknown start, never 0
    start = {k: summary.start_of(*k) for k in {*summary.start, *summary.final}}
    plan = plan_transfers(name, mode, run_id, start, summary.final, funding, held)
    plan.facts, plan.facts_as_of = sets, as_of
    return plan


def _fmt(d: Decimal | None) -> str:
    return "?" if d is None else format(d.normalize(), "f") if d else "0"


def format_plan(plan: Plan) -> str:
    """The advice as text: one line per transfer, then what is left over."""
    from datetime import datetime, timezone

    lines = [f"rebalance strategy {plan.strategy} ({plan.mode}, run {plan.run_id}): transfers back to its starting "
             "allocation (advice only: arbscan sends nothing)"]
    when = f"{plan.facts} venue/asset set(s) from the journal"
    if not plan.facts:
        when = "none in the journal"
    elif plan.facts_as_of is not None:
        when += ", the latest of " + datetime.fromtimestamp(plan.facts_as_of, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    lines.append(f"transfer facts: {when}; the config's transfer tables on top")
    lines += [f"{asset} on {ex}: starting balance unknown, not planned" for asset, ex in plan.unknown]
    for c in plan.conversions:
        how = f"sell {c.asset} at its bids" if c.side == "sell" else f"buy {c.into} at its asks"
        worth = ("value unknown (no conversion book deep enough when the trades settled): the transfers below "
                 f"leave its {c.into} out") if c.value is None else (
                 f"about {_fmt(c.value)} {c.into} at the conversion book when the trades settled")
        lines.append(f"convert {_fmt(c.amount)} {c.asset} held by cross-quote trades (received on "
                     f"{', '.join(c.held_on)}) into {c.into} on {c.venue} {c.symbol} ({how}): {worth}")
    if not plan.drift:
        known = " with a known start" if plan.unknown else ""
        lines.append(f"balances{known} are at their starting allocation: nothing to move")
        return "\n".join(lines)
    if plan.transfers:
        table = [("asset", "from", "to", "network", "amount", "fee", "arrives", "note")]
        table += [(t.asset, t.source, t.target, t.network or "?", _fmt(t.amount), _fmt(t.fee), _fmt(t.arrives), t.note)
                  for t in plan.transfers]
        widths = [max(len(r[i]) for r in table) for i in range(7)]
        lines += ["  " + "  ".join(c.ljust(widths[i]) for i, c in enumerate(r[:7])) + ("  " + r[7] if r[7] else "")
                  for r in table]
    for left in plan.leftovers:
        if left.kind == "short":
            lines.append(f"  {left.asset} on {left.exchange} stays {_fmt(left.amount)} short of its start: "
                         "no venue holds enough above its own start to send")
        else:
            lines.append(f"  {left.asset} on {left.exchange}: {_fmt(left.amount)} above its start stays there")
    impossible = sum(t.status == "impossible" for t in plan.transfers)
    unknown = sum(t.status == "unknown" for t in plan.transfers)
    if impossible or unknown:
        lines.append(f"{impossible} transfer(s) impossible now, {unknown} with facts unknown: see the notes")
    return "\n".join(lines)
