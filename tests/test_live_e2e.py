"""One paired trade end to end through both adapter types: native Kraken against a loopback fake venue, ccxt Bitstamp through a cassette.

Kraken: a tiny aiohttp server on 127.0.0.1 answers AssetPairs (Kraken's official example,
tests/data/live/kraken_assetpairs_example.yaml, MIT) and the private AddOrder / QueryOrders /
OpenOrders / ClosedOrders calls with bodies shaped like the real ones ccxt recorded
(tests/data/live/kraken_private_responses.json, MIT). Bitstamp: cassettes/test_live_e2e/bitstamp_sell.yaml
(see its header). No network: vcrpy plays Bitstamp in record mode "none" and lets only localhost through.
"""

from __future__ import annotations

import base64
import copy
import json
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import vcr
import yaml
from aiohttp import web
from test_live_fakes import journal_rows, live_config

from adapters.base import Credentials
from adapters.ccxt_adapter import CcxtAdapter
from adapters.kraken.adapter import KrakenAdapter
from arbscan.execution.journal import DurableJournal
from arbscan.execution.live import live_executor
from arbscan.model import Opportunity

D = Decimal
DATA = Path(__file__).resolve().parent / "data" / "live"
VCR = vcr.VCR(
    cassette_library_dir=str(Path(__file__).resolve().parents[1] / "cassettes" / "test_live_e2e"),
    record_mode="none",
    ignore_localhost=True,  # the Kraken fake venue runs on 127.0.0.1
    filter_headers=["API-Key", "API-Sign", "X-Auth", "X-Auth-Signature", "X-Auth-Nonce"],
)
SECRET = base64.b64encode(b"not-a-real-secret").decode()
KRAKEN_KEYS = Credentials("kraken", "test-key-not-real", SECRET)
BITSTAMP_KEYS = Credentials("bitstamp", "test-key-not-real", "dGVzdC1zZWNyZXQ=")
RESPONSES = json.loads((DATA / "kraken_private_responses.json").read_text())


class FakeKraken:
    """Kraken's REST paths on loopback; ``mode`` 'lose_answer' books the order filled, then answers HTTP 502;
    'refuse' answers every AddOrder with Kraken's ``EGeneral:Permission denied``; anything else fills it."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.add_orders: list[dict[str, str]] = []
        self.orders: dict[str, dict] = {}  # txid -> Kraken order record
        self.private_calls: list[str] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/0/public/AssetPairs", self.asset_pairs)
        app.router.add_post("/0/private/{endpoint}", self.private)
        return app

    async def asset_pairs(self, request: web.Request) -> web.Response:
        return web.json_response(yaml.safe_load((DATA / "kraken_assetpairs_example.yaml").read_text()))

    def _record(self, form: dict[str, str]) -> dict:
        # the real closed-order record (ccxt's recorded fetchOrder), with this order's values
        (real,) = copy.deepcopy(RESPONSES["QueryOrders_closed"]["result"]).values()
        volume, price = D(form["volume"]), D(form["price"])
        real.update(status="closed", vol=form["volume"], vol_exec=form["volume"], price=form["price"],
                    cost=str(volume * price), fee=str(volume * price * D("0.0026")), cl_ord_id=form["cl_ord_id"])
        real["descr"].update(pair="XBTUSD", type=form["type"], ordertype="limit", price=form["price"],
                             order=f"{form['type']} {form['volume']} XBTUSD @ limit {form['price']}")
        return real

    async def private(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        assert request.headers.get("API-Key") == KRAKEN_KEYS.api_key and request.headers.get("API-Sign")
        form = {k: v[0] for k, v in parse_qs(await request.text()).items()}
        self.private_calls.append(endpoint)
        if endpoint == "AddOrder":
            self.add_orders.append(form)
            if form.get("validate") == "true":
                return web.json_response({"error": [], "result": {"descr": {"order": "validated"}}})
            if self.mode == "refuse":  # a key without the trading permission
                return web.json_response({"error": ["EGeneral:Permission denied"]})
            txid = f"OTEST{len(self.add_orders)}-AAAAA-BBBBBB"
            self.orders[txid] = self._record(form)
            if self.mode == "lose_answer":
                return web.Response(status=502, text="Bad Gateway")
            body = copy.deepcopy(RESPONSES["AddOrder"])
            body["result"]["txid"] = [txid]
            return web.json_response(body)
        if endpoint == "QueryOrders":
            txids = form["txid"].split(",")
            return web.json_response({"error": [], "result": {t: self.orders[t] for t in txids if t in self.orders}})
        if endpoint in ("OpenOrders", "ClosedOrders"):
            want = "open" if endpoint == "OpenOrders" else "closed"
            found = {t: o for t, o in self.orders.items()
                     if o["status"] == want and o.get("cl_ord_id") == form.get("cl_ord_id")}
            return web.json_response({"error": [], "result": {want: found, "count": len(found)}})
        return web.json_response({"error": ["EGeneral:Unknown method"]})


async def _serve(fake: FakeKraken):
    runner = web.AppRunner(fake.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def _opportunity() -> Opportunity:
    # buy 0.001 BTC on Kraken up to 29400.0, sell on Bitstamp down to 29500.00 (hand figures, fees 0.26 % / 0.40 %)
    a, buy, sell = D("0.001"), D("29400.0"), D("29500.00")
    cost, proceeds = a * buy * D("1.0026"), a * sell * D("0.996")
    return Opportunity("BTC/USD", "kraken", "bitstamp", a, buy, sell, buy, sell, cost, proceeds, proceeds - cost,
                       D(10000) * (proceeds - cost) / cost, 1.0)


async def test_paired_trade_kraken_answer_lost_bitstamp_filled(store):
    fake = FakeKraken("lose_answer")
    runner, url = await _serve(fake)
    kraken = KrakenAdapter(rest_url=url, credentials=KRAKEN_KEYS, taker_fee=D("0.0026"))
    bitstamp = CcxtAdapter("bitstamp", credentials=BITSTAMP_KEYS)
    sent = []
    fetch = bitstamp._exchange.fetch

    async def spy(u, method="GET", headers=None, body=None):
        sent.append((u, body))
        return await fetch(u, method, headers, body)

    bitstamp._exchange.fetch = spy
    try:
        with VCR.use_cassette("bitstamp_sell.yaml") as cassette:
            ex = live_executor({"kraken": kraken, "bitstamp": bitstamp}, DurableJournal.for_store(store),
                              live_config(reconcile_deadline_s=5.0, order_timeout_s=5.0),
                              balances={"kraken": {}, "bitstamp": {}}, poll_interval_s=0.05)
            await ex.start()
            assert ex.markets[("kraken", "BTC/USD")].price_step == D("0.1")  # from Kraken's own AssetPairs
            assert ex.markets[("bitstamp", "BTC/USD")].min_cost == D("20")
            trade = await ex.execute(_opportunity())
            assert cassette.all_played
    finally:
        await kraken.close()
        await bitstamp.close()
        await runner.cleanup()

    # Kraken: one AddOrder (the 502 was never retried), then found by client id in ClosedOrders
    (form,) = fake.add_orders
    assert form == {**form, "pair": "XXBTZUSD", "type": "buy", "ordertype": "limit", "volume": "0.001",
                    "price": "29400.0", "timeinforce": "IOC", "cl_ord_id": trade.buy.client_id}
    assert "validate" not in form
    assert fake.private_calls.count("AddOrder") == 1 and "ClosedOrders" in fake.private_calls
    # Bitstamp: one IOC sell with our client id and exact decimal text (ccxt trims 29500.00), then its status
    (body,) = [b for u, b in sent if u.endswith("/sell/btcusd/")]
    assert set(body.split("&")) == {"amount=0.001", "price=29500", f"client_order_id={trade.sell.client_id}",
                                    "ioc_order=true"}
    assert trade.status == "filled" and trade.imbalance == 0 and not trade.flatten
    assert (trade.buy.filled, trade.buy.avg_price) == (D("0.001"), D("29400.0"))
    assert (trade.sell.filled, trade.sell.avg_price, trade.sell.fee) == (D("0.001"), D("29500"), D("0.118"))
    events = journal_rows(store, "SELECT to_status FROM order_events WHERE client_id = ? ORDER BY id", trade.buy.client_id)
    assert [e["to_status"] for e in events] == ["created", "unknown", "filled"]
    events = journal_rows(store, "SELECT to_status FROM order_events WHERE client_id = ? ORDER BY id", trade.sell.client_id)
    assert [e["to_status"] for e in events] == ["created", "submitted", "filled"]
    # by hand: 29.50 - 0.118 (Bitstamp fee) - 29.40 - 0.07644 (Kraken fee 0.26 %) = -0.09444
    (row,) = journal_rows(store, "SELECT * FROM trades")
    assert D(row["realised_pnl"]) == D("-0.09444")
    assert not ex.kill.halted


async def test_validate_orders_reaches_kraken_and_sends_nothing_else(store):
    fake = FakeKraken("answer")
    runner, url = await _serve(fake)
    kraken = KrakenAdapter(rest_url=url, credentials=KRAKEN_KEYS, taker_fee=D("0.0026"), validate_orders=True)
    bitstamp = CcxtAdapter("bitstamp", credentials=BITSTAMP_KEYS)
    try:
        with VCR.use_cassette("bitstamp_sell.yaml", allow_playback_repeats=True):
            ex = live_executor({"kraken": kraken, "bitstamp": bitstamp}, DurableJournal.for_store(store), live_config(),
                              balances={"kraken": {}, "bitstamp": {}}, validate_only=True, poll_interval_s=0.05)
            await ex.start()
            trade = await ex.execute(_opportunity())
    finally:
        await kraken.close()
        await bitstamp.close()
        await runner.cleanup()
    (form,) = fake.add_orders
    assert form["validate"] == "true" and fake.orders == {}
    assert trade.buy.status.value == "canceled" and trade.buy.filled == 0
    assert trade.sell.status.value == "rejected" and "--validate-orders" in trade.sell.error
    assert trade.status == "missed" and not trade.flatten
