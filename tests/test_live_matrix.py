"""Every pair of leg outcomes, under each imbalance policy, through LiveExecutor with scripted venues: no duplicate order, imbalance flattened or reported, journal consistent."""

from __future__ import annotations

from decimal import Decimal

import pytest
from test_live_fakes import (
    OUTCOMES,
    ScriptedVenue,
    assert_journal_consistent,
    assert_no_duplicate_orders,
    journal_rows,
    live_config,
    opportunity,
    started_executor,
)

D = Decimal

# Hand-written expectations, buy outcome (row) x sell outcome (column), planned amount 1.0, partial
# fills 0.4, policy flatten_buy_venue. Cell: trade status, then the flattening order on the buy
# venue (side and amount) or "-" for none.  F filled, P partial, R rejected, UF unknown-then-filled,
# UN unknown-then-not-found (unresolved at the deadline: status unknown, trading halted, no flattening).
EXPECTED = """
        F                P                R                UF               UN
F   filled,-         flattened,s0.6   flattened,s1     filled,-         unknown,-
P   flattened,b0.6   partial,-        flattened,s0.4   flattened,b0.6   unknown,-
R   flattened,b1     flattened,b0.4   failed,-         flattened,b1     unknown,-
UF  filled,-         flattened,s0.6   flattened,s1     filled,-         unknown,-
UN  unknown,-        unknown,-        unknown,-        unknown,-        unknown,-
"""
_CODES = {"F": "filled", "P": "partial", "R": "rejected", "UF": "unknown_filled", "UN": "unknown_notfound"}


def _table() -> dict[tuple[str, str], tuple[str, str]]:
    lines = [ln.split() for ln in EXPECTED.strip().splitlines()]
    cols = lines[0]
    out = {}
    for row in lines[1:]:
        for col, cell in zip(cols, row[1:]):
            status, flatten = cell.split(",")
            out[(_CODES[row[0]], _CODES[col])] = (status, flatten)
    return out


TABLE = _table()


def test_the_table_covers_every_pair():
    assert set(TABLE) == {(b, s) for b in OUTCOMES for s in OUTCOMES}


POLICIES = ("flatten_buy_venue", "flatten_sell_venue", "keep")


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("buy_outcome,sell_outcome", sorted(TABLE))
async def test_leg_outcome_pair(store, buy_outcome, sell_outcome, policy):
    alpha, beta = ScriptedVenue("alpha", [buy_outcome]), ScriptedVenue("beta", [sell_outcome])
    venues = {"alpha": alpha, "beta": beta}
    ex = await started_executor(store, venues, config=live_config(imbalance_policy=policy))
    trade = await ex.execute(opportunity())
    status, flatten = TABLE[(buy_outcome, sell_outcome)]
    if policy == "keep" and flatten != "-":
        # the same imbalance, kept and reported: + long after a buy-side excess ("s"), - short otherwise
        kept = D(flatten[1:]) if flatten[0] == "s" else -D(flatten[1:])
        assert (trade.status, trade.imbalance_action, trade.imbalance, trade.flatten) == ("imbalanced", "kept", kept, [])
        assert [len(alpha.sent), len(beta.sent)] == [1, 1] and not ex.kill.halted
        assert_journal_consistent(store, venues, trade.id)
        return
    flat_venue = beta if policy == "flatten_sell_venue" else alpha

    assert trade.status == status
    assert_no_duplicate_orders(venues)
    # each leg was sent exactly once, whatever happened to it
    assert alpha.sent[0].client_id == trade.buy.client_id and beta.sent[0].client_id == trade.sell.client_id
    if flatten == "-":
        assert trade.flatten == [] and [len(alpha.sent), len(beta.sent)] == [1, 1]
    else:
        (f,) = trade.flatten
        assert len(alpha.sent) + len(beta.sent) == 3 and flat_venue.sent[1].client_id == f.client_id
        assert (f.req.side.value[0], f.req.amount) == (flatten[0], D(flatten[1:]))
        assert f.req.exchange == flat_venue.name and f.status.value == "filled"
    if status == "unknown":
        assert ex.kill.halted and "unresolved" in ex.kill.reason
        assert journal_rows(store, "SELECT count(*) AS n FROM halts WHERE cleared_at IS NULL")[0]["n"] >= 1
    else:
        assert not ex.kill.halted
        assert trade.imbalance == 0  # flattened, or never imbalanced
    assert_journal_consistent(store, venues, trade.id)
    await ex.close()
