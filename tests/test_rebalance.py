"""``arbscan rebalance``: least-cost transfers back to a strategy's starting balances, checked by hand.

The 3-venue paper journal (no fees, latency 0; every venue starts with 10000 USDT and 1 BTC):

* t=1: x asks 100, y bids 110. Buy on x, sell on y, capped by y's 1 BTC: x 9900 USDT / 2 BTC, y 10110 / 0.
* t=2: x bids 111 (asks 112), z asks 101: buy 1 on z, sell on x (filled at t=3): z 9899 / 2, x 10011 / 1.

Drift: BTC y -1, z +1; USDT x +11, y +110, z -101.

Transfer facts (currency lines in the file, x's USDT from the config): z sends BTC over BTC (fee 0.0005) or
Lightning (0.00001), y takes BTC over BTC only; USDT leaves x over ERC20 at 1, y over ERC20 at 8 or TRC20 at
1.6; z takes ERC20, its TRC20 deposits are off.

* BTC z -> y over BTC: z has exactly 1 above its start, so 1 leaves, 0.0005 is kept, 0.9995 arrives and y
  stays 0.0005 short.
* USDT to z (101): y alone over ERC20: 101 + 8 = 109 leaves y, fee 8 (y keeps 1 above its start, x 11).
  Taking x's cheap 11 first (fee 1) and y for the rest (91 + 8 = 99) would cost 9: the least cost is 8.
"""

import json
from decimal import Decimal as D

import pytest

from arbscan.cli.command import main
from arbscan.funding.facts import AssetFunding, FundingBook, NetworkFunding
from arbscan.cli.rebalance import Leftover, Transfer, plan_asset, plan_transfers

STRATEGY = """
[[venues]]
exchange = "x"
transfer = { USDT = { network = "ERC20", fee = "1" } }
[[venues]]
exchange = "y"
[[venues]]
exchange = "z"

[[strategies]]
name = "tri"
min_net_bps = 0
[strategies.balances.x]
USDT = 10000
BTC = 1
[strategies.balances.y]
USDT = 10000
BTC = 1
[strategies.balances.z]
USDT = 10000
BTC = 1
"""


def _line(obj):
    return json.dumps(obj) + "\n"


def _market(ex):
    return {"type": "market", "exchange": ex, "symbol": "BTC/USDT", "taker_fee": "0", "amount_step": "0.0001",
            "price_step": "0.1"}


def _book(ts, ex, snapshot, bids=(), asks=()):
    return {"type": "book", "ts": ts, "exchange": ex, "symbol": "BTC/USDT", "snapshot": snapshot,
            "bids": [list(b) for b in bids], "asks": [list(a) for a in asks]}


def _currency(ex, asset, *networks):
    return {"type": "currency", "exchange": ex, "asset": asset, "networks": list(networks)}


def _net(code, fee=None, deposit=True, withdraw=True):
    out = {"network": code, "deposit": deposit, "withdraw": withdraw}
    return out if fee is None else {**out, "fee": fee}


def three_venues(tmp_path, z_btc_withdraw=True):
    lines = [_market(ex) for ex in "xyz"] + [
        _currency("z", "BTC", _net("BTC", "0.0005", withdraw=z_btc_withdraw), _net("LIGHTNING", "0.00001")),
        _currency("y", "BTC", _net("BTC")),
        _currency("x", "BTC", _net("BTC")),
        _currency("y", "USDT", _net("ERC20", "8"), _net("TRC20", "1.6")),
        _currency("z", "USDT", _net("ERC20"), _net("TRC20", deposit=False)),
        _book(1.0, "x", True, bids=[("99", "5")], asks=[("100", "2")]),
        _book(1.0, "y", True, bids=[("110", "2")], asks=[("111", "5")]),
        _book(1.0, "z", True, bids=[("98", "5")], asks=[("130", "5")]),
        _book(2.0, "x", False, bids=[("111", "1")], asks=[("100", "0"), ("112", "5")]),
        _book(2.0, "z", False, asks=[("130", "0"), ("101", "1")]),
        _book(3.0, "y", False, bids=[("110", "0"), ("105", "2")]),
    ]
    path = tmp_path / "tri.jsonl"
    path.write_text("".join(_line(x) for x in lines))
    config = tmp_path / "tri.toml"
    config.write_text(STRATEGY)
    return path, config


def _run(tmp_path, capsys, *args):
    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rebalance_proposes_the_least_cost_transfers_on_a_paper_journal(tmp_path, capsys):
    path, config = three_venues(tmp_path)
    db = str(tmp_path / "tri.db")
    code, out, err = _run(tmp_path, capsys, "replay", str(path), "--config", str(config), "--db", db, "--no-progress",
                          "--strategy", "tri", "--max-age-ms", "60000")
    assert code == 0, err
    assert "y          BTC    1 -> 0" in out and "z          USDT   10000 -> 9899" in out  # the trades as planned
    code, out, err = _run(tmp_path, capsys, "rebalance", "--config", str(config), "--db", db)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ("rebalance strategy tri (paper, run 1): transfers back to its starting allocation "
                        "(advice only: arbscan sends nothing)")
    # the currency lines stand before the first book: journaled without a time
    assert lines[1] == "transfer facts: 5 venue/asset set(s) from the journal; the config's transfer tables on top"
    assert [line.split() for line in lines[2:5]] == [
        ["asset", "from", "to", "network", "amount", "fee", "arrives", "note"],
        ["BTC", "z", "y", "BTC", "1", "0.0005", "0.9995"],
        ["USDT", "y", "z", "ERC20", "109", "8", "101"],
    ]
    assert lines[5:] == [
        "  BTC on y stays 0.0005 short of its start: no venue holds enough above its own start to send",
        "  USDT on x: 11 above its start stays there",
        "  USDT on y: 1 above its start stays there",
    ]


def test_a_transfer_impossible_now_is_proposed_and_flagged(tmp_path, capsys):
    path, config = three_venues(tmp_path, z_btc_withdraw=False)
    db = str(tmp_path / "tri.db")
    assert _run(tmp_path, capsys, "replay", str(path), "--config", str(config), "--db", db, "--no-progress",
                "--strategy", "tri", "--max-age-ms", "60000")[0] == 0
    code, out, _ = _run(tmp_path, capsys, "rebalance", "--config", str(config), "--db", db, "--strategy", "tri")
    assert code == 0
    (btc,) = [line for line in out.splitlines() if line.lstrip().startswith("BTC  ")]
    assert btc.split()[:6] == ["BTC", "z", "y", "BTC", "1", "0.0005"]
    assert btc.endswith("impossible now: BTC cannot leave z for y on any common network (BTC: withdrawals off on z)")
    assert out.splitlines()[-1] == "1 transfer(s) impossible now, 0 with facts unknown: see the notes"


def _facts(*items):
    book = FundingBook()
    for ex, asset, nets in items:
        book.set(AssetFunding(ex, asset, tuple(nets)))
    return book


def test_unknown_facts_are_proposed_as_unknown_not_dropped():
    transfers, leftovers = plan_asset("USD", {"a": D(50), "b": D(-50)}, FundingBook())
    assert transfers == [Transfer("USD", "a", "b", None, D(50), None, "unknown", "unknown: no USD transfer facts for a")]
    assert leftovers == []


def test_below_the_withdrawal_minimum_is_impossible_now():
    funding = _facts(("a", "ETH", [NetworkFunding("ERC20", True, True, D("0.001"), D("0.01"))]),
                     ("b", "ETH", [NetworkFunding("ERC20", True, True)]))
    (t,), _ = plan_asset("ETH", {"a": D("0.005"), "b": D("-0.004")}, funding)
    assert (t.amount, t.status) == (D("0.005"), "impossible")
    assert t.note == "impossible now: below a's withdrawal minimum of 0.01 ETH"


def test_a_loss_leaves_a_venue_short_and_says_so():
    funding = _facts(("a", "USDT", [NetworkFunding("TRC20", True, True, D("1"))]),
                     ("b", "USDT", [NetworkFunding("TRC20", True, True)]))
    transfers, leftovers = plan_asset("USDT", {"a": D("30"), "b": D("-50")}, funding)
    assert [(t.amount, t.arrives) for t in transfers] == [(D("30"), D("29"))]
    assert leftovers == [Leftover("USDT", "b", "short", D("21"))]


def test_nothing_moved_nothing_proposed():
    plan = plan_transfers("s", "paper", 1, {("a", "BTC"): D(1)}, {("a", "BTC"): D(1)}, FundingBook())
    assert (plan.transfers, plan.leftovers, plan.drift) == ([], [], {})


@pytest.mark.parametrize("setup, args, message", [
    ("none", [], "does not exist"),
    ("empty", [], "holds no paper or live balances"),
    ("two", [], "several strategies (a, b): name one with --strategy"),
    ("two", ["--strategy", "c"], "strategy 'c' has no balances in the journal (it holds: a, b)"),
])
def test_what_it_cannot_do_is_one_line_and_exit_2(tmp_path, capsys, setup, args, message):
    from arbscan.journal.store import Store

    db = tmp_path / "j.db"
    if setup != "none":
        with Store(db) as store:
            run = store.start_run("replay", "test")
            if setup == "two":
                store.submit_many("balances", [{"run_id": run, "mode": "paper", "strategy": s, "exchange": "a",
                                                "asset": "USD", "free": "1", "ts": 0.0} for s in ("a", "b")])
    code, out, err = _run(tmp_path, capsys, "rebalance", "--db", str(db), *args)
    assert code == 2
    assert err.startswith("arbscan: error: ") and message in err and err.count("\n") == 1
