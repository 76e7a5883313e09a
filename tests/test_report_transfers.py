"""``arbscan report`` on a replay with ``currency`` lines: routes ranked by net profit after moving the inventory back.

The file (no fees, so every figure is by hand): a asks 100 for 1 BTC; b bids 110, c bids 105 (their
asks, 111 and 120, cross nothing). Two routes are live, one episode each:

* a -> b: net profit 1 x (110 - 100) = **10**. BTC goes back a -> b over BTC (a's fee 0.0005 BTC, at the
  buy price 100: 0.05 USDT), USDT b -> a over ERC20 (b's fee 8): transfer_cost 8.05, net after **1.95**.
* a -> c: net profit 1 x (105 - 100) = **5**. BTC a -> c over BTC (0.05), USDT c -> a over TRC20 (c's
  fee 1): transfer_cost 1.05, net after **3.95**.

By net profit a -> b comes first; after moving the inventory back (``rebalance_batch`` 1) a -> c does.
"""

from __future__ import annotations

import json
from decimal import Decimal

from arbscan.cli.command import main

D = Decimal


def _network(name, fee=None):
    out = {"network": name, "deposit": True, "withdraw": True}
    return out if fee is None else {**out, "fee": fee}


def _currency(exchange, asset, *networks):
    return {"type": "currency", "exchange": exchange, "asset": asset, "networks": list(networks)}


def _book(exchange, bid, ask):
    return {"type": "book", "ts": 1.0, "exchange": exchange, "symbol": "BTC/USDT", "snapshot": True,
            "bids": [[bid, "1"]], "asks": [[ask, "1"]]}


LINES = [
    *({"type": "market", "exchange": ex, "symbol": "BTC/USDT", "taker_fee": "0", "amount_step": "0.0001",
       "price_step": "0.1"} for ex in ("a", "b", "c")),
    _currency("a", "BTC", _network("BTC", "0.0005")),
    _currency("a", "USDT", _network("ERC20"), _network("TRC20")),
    _currency("b", "BTC", _network("BTC")),
    _currency("b", "USDT", _network("ERC20", "8")),
    _currency("c", "BTC", _network("BTC")),
    _currency("c", "USDT", _network("TRC20", "1")),
    _book("a", "99", "100"),
    _book("b", "110", "111"),
    _book("c", "105", "120"),
]


def test_the_report_ranks_routes_by_net_profit_after_moving_the_inventory_back(tmp_path, capsys):
    path = tmp_path / "transfers.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    db = tmp_path / "j.db"
    assert main(["replay", str(path), "--db", str(db), "--min-bps", "0"]) == 0
    capsys.readouterr()
    assert main(["report", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    section = text[text.index("== Routes by"):]
    lines = section[:section.index("\n\n")].splitlines()
    assert lines[0] == "== Routes by net profit after moving the inventory back: top 2 of 6 =="
    header = lines[1].split()
    assert header[:5] == ["route", "episodes", "net_profit_total", "net_after_transfer_total", "transfer_blocked_episodes"]
    cells = [line.split() for line in lines[2:4]]  # a route is shown as five words: "BTC/USDT buy a sell c"
    rows = [{"route": " ".join(c[:5]), **dict(zip(header[1:], c[5:]))} for c in cells]
    assert [(r["route"], D(r["net_after_transfer_total"]), D(r["net_profit_total"])) for r in rows] == [
        ("BTC/USDT buy a sell c", D("3.95"), D(5)),  # first after the transfers, though its net profit is the smaller
        ("BTC/USDT buy a sell b", D("1.95"), D(10)),
    ]
    assert all(r["transfer_blocked_episodes"] == "0" for r in rows)
