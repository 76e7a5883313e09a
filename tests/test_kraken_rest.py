"""Kraken REST client and adapter: cassettes built from real/official responses, and a mocked transport.

Cassettes live in cassettes/test_kraken_rest/ (record mode "none", API-Key/API-Sign filtered); each
names its source in its header comment (built by tests/data/kraken/make_cassettes.py).
"""

from __future__ import annotations

import asyncio
import random
import re
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import vcr

from adapters.base import Credentials
from adapters.kraken.adapter import KrakenAdapter, cl_ord_id_for
from adapters.kraken.errors import KRAKEN_ERRORS, map_error
from adapters.kraken.rest import TIERS, CallCounter, KrakenRestClient, NotSent
from arbscan.errors import (
    AuthError,
    BadInput,
    ExchangeUnavailable,
    InsufficientFunds,
    OrderNotFound,
    OrderOutcomeUnknown,
    OrderRejected,
    RateLimited,
    UnexpectedPayload,
)
from arbscan.model import OrderRequest, OrderStatus, Side

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes" / "test_kraken_rest"
# A syntactically valid, made-up key pair: never a real account's.
CREDS = Credentials("kraken", "test-key-not-real", "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg==")

SENT: list = []  # requests as vcrpy sees them after filtering (for asserting what was sent)


def _capture(request):
    SENT.append(request)
    return request


my_vcr = vcr.VCR(
    cassette_library_dir=str(CASSETTES),
    record_mode="none",
    match_on=["method", "scheme", "host", "port", "path", "query"],  # bodies carry nonces: not matched
    filter_headers=["API-Key", "API-Sign"],
    before_record_request=_capture,
)


def sent(path_end: str) -> list:
    """Form bodies of the captured requests whose path ends with ``path_end``."""
    out, seen = [], set()
    for r in SENT:  # vcrpy filters each request more than once: keep one per body (nonces differ)
        if r.path.endswith(path_end) and r.body and r.body not in seen:
            seen.add(r.body)
            out.append((parse_qs(r.body.decode() if isinstance(r.body, bytes) else r.body), r.headers))
    return out


@pytest.fixture(autouse=True)
def _clear_sent():
    SENT.clear()


async def no_sleep(_: float) -> None:
    return None


OPENED: list = []


def adapter(**kw) -> KrakenAdapter:
    rest = KrakenRestClient(credentials=kw.pop("credentials", CREDS), tier=None, public_calls_per_s=1000, sleep=no_sleep)
    OPENED.append(rest)
    return KrakenAdapter(rest=rest, credentials=rest._credentials, **kw)


async def loaded(**kw) -> KrakenAdapter:
    """An adapter with Kraken's real 2021 market list loaded (cassette asset_pairs_cryptofeed.yaml)."""
    a = adapter(**kw)
    with my_vcr.use_cassette("asset_pairs_cryptofeed.yaml"):
        await a.load_markets()
    return a


@pytest.fixture(autouse=True)
async def _close_clients():
    yield
    while OPENED:
        await OPENED.pop().close()


def test_cassettes_name_their_source_and_hold_no_secrets():
    files = sorted(CASSETTES.glob("*.yaml"))
    assert len(files) >= 8
    for path in files:
        text = path.read_text()
        assert text.startswith("# Source"), path.name
        assert not re.search(r"^\s*(API-Key|API-Sign)\s*:", text, re.M | re.I), path.name


# -- public endpoints through cassettes --------------------------------------------------------


async def test_load_markets_from_the_official_asset_pairs_example():
    with my_vcr.use_cassette("asset_pairs_official.yaml"):
        a = adapter(credentials=None)
        a.rest._credentials = None
        markets = await a.load_markets()
        await a.close()
    btc = markets["BTC/USD"]
    assert (btc.base, btc.quote, btc.exchange) == ("BTC", "USD", "kraken")
    assert btc.taker_fee == Decimal("0.0026")
    assert btc.amount_step == Decimal("0.00000001") and btc.price_step == Decimal("0.1")
    assert btc.min_amount == Decimal("0.0001") and btc.min_cost == Decimal("0.5")
    eth = markets["ETH/BTC"]
    assert eth.price_step == Decimal("0.00001") and eth.min_amount == Decimal("0.01")


async def test_load_markets_from_the_real_2021_asset_pairs():
    with my_vcr.use_cassette("asset_pairs_cryptofeed.yaml"):
        a = adapter(credentials=None)
        a.rest._credentials = None
        markets = await a.load_markets()
    # 304 pairs, 51 of them dark pools (".d", no wsname): never listed
    assert not any(".d" in s for s in markets)
    assert markets["BTC/USD"].price_step == Decimal("0.1")  # pair_decimals 1, no tick_size in 2021
    assert markets["DOGE/USD"].base == "DOGE"  # XDG/USD: Kraken's alt name XDG mapped by the table
    assert markets["BTC/EUR"].min_amount == Decimal("0.0002")
    assert markets["LTC/USDT"].quote == "USDT" and markets["LTC/USDT"].price_step == Decimal("0.00001")
    assert markets["ETH/USD"].taker_fee == Decimal("0.0026")
    assert a._assets["XXBT"] == "BTC" and a._assets["ZUSD"] == "USD" and a._assets["XXDG"] == "DOGE"


async def test_taker_fee_override_wins():
    with my_vcr.use_cassette("asset_pairs_official.yaml"):
        a = adapter(taker_fee=Decimal("0.001"))
        markets = await a.load_markets()
    assert markets["BTC/USD"].taker_fee == Decimal("0.001")


async def test_fetch_book_from_the_official_depth_example():
    with my_vcr.use_cassette("depth_official.yaml"):
        a = adapter(credentials=None)
        a.rest._credentials = None
        book = await a.fetch_book("BTC/USD", 50)
    assert book.asks == ((Decimal("3539.9"), Decimal("0.801")), (Decimal("3540.2"), Decimal("1.000")))
    assert book.bids == ((Decimal("3538.9"), Decimal("0.754")), (Decimal("3538.7"), Decimal("0.798")))
    assert book.ts == 1548119951.0 and book.symbol == "BTC/USD"


async def test_ticker_official_and_real():
    with my_vcr.use_cassette("ticker.yaml"):
        rest = KrakenRestClient(tier=None, public_calls_per_s=1000)
        official = await rest.ticker(["XXBTZUSD"])
        real = await rest.ticker(["XBTUSDT"])
        await rest.close()
    assert official["XXBTZUSD"]["a"][0] == "3537.50000"
    assert real["XBTUSDT"]["b"][0] == "73380.60000"


async def test_unknown_symbol_is_bad_input():
    with my_vcr.use_cassette("asset_pairs_official.yaml"):
        a = adapter(taker_fee=Decimal("0.0026"))
        with pytest.raises(BadInput):
            await a.fetch_book("NOPE/USD")


# -- private endpoints through cassettes -------------------------------------------------------


async def test_add_order_official_example_with_validate_sends_no_order():
    with my_vcr.use_cassette("add_order_official.yaml"):
        rest = KrakenRestClient(credentials=CREDS, tier=None)
        result = await rest.add_order("XXBTZUSD", "buy", Decimal("2.1234"), Decimal("25000.1"), cl_ord_id="arb-1", validate=True)
        await rest.close()
    assert result["txid"] == ["OUF4EM-FRGI2-MQMWZD"]
    ((form, headers),) = sent("/AddOrder")
    assert form["validate"] == ["true"] and form["cl_ord_id"] == ["arb-1"] and form["timeinforce"] == ["IOC"]
    assert form["volume"] == ["2.1234"] and form["price"] == ["25000.1"] and form["ordertype"] == ["limit"]
    assert int(form["nonce"][0]) > 1_600_000_000_000
    assert not {"api-key", "api-sign"} & {h.lower() for h in headers}  # filtered before any recording


async def test_place_order_then_reads_the_real_closed_order():
    a = await loaded(taker_fee=Decimal("0.0026"))  # config override: no TradeVolume call
    with my_vcr.use_cassette("place_order_ltcusdt.yaml"):
        req = OrderRequest("arb-0001-buy", "kraken", "LTC/USDT", Side.BUY, Decimal("0.1"), Decimal("72"))
        update = await a.place_order(req)
    ((add_body, _),) = sent("/AddOrder")
    assert update.status is OrderStatus.FILLED
    assert update.filled == Decimal("0.10000000") and update.avg_price == Decimal("71.05741")
    assert update.fee == Decimal("0.018475") and update.exchange_order_id == "OL7LNO-R4SAD-6UINEU"
    assert add_body["pair"] == ["LTCUSDT"] and add_body["type"] == ["buy"] and add_body["cl_ord_id"] == ["arb-0001-buy"]
    assert "validate" not in add_body


async def test_fetch_order_by_client_id_then_not_found():
    a = await loaded(taker_fee=Decimal("0.0026"))
    with my_vcr.use_cassette("fetch_order_by_client_id.yaml"):
        update = await a.fetch_order("LTC/USDT", "arb-0001-buy")
        form = sent("/OpenOrders")[0][0]
        with pytest.raises(OrderNotFound):
            await a.fetch_order("LTC/USDT", "arb-0002-sell")
    assert form["cl_ord_id"] == ["arb-0001-buy"]
    assert update.status is OrderStatus.FILLED and update.exchange_order_id == "OGMZCL-KC6MC-ZRBGM6"
    assert update.filled == Decimal("0.10000000")


async def test_cancel_unknown_order_raises_order_not_found():
    a = await loaded(taker_fee=Decimal("0.0026"))
    with my_vcr.use_cassette("cancel_order_unknown.yaml"):
        with pytest.raises(OrderNotFound):
            await a.cancel_order("LTC/USDT", "arb-0003-buy")


async def test_account_fee_tier_and_free_balances():
    with my_vcr.use_cassette("account.yaml"):
        a = adapter()
        markets = await a.load_markets()
        balances = await a.fetch_balances()
    assert markets["BTC/USD"].taker_fee == Decimal("0.0024")  # the account's tier, not tier 0
    assert markets["LTC/USD"].taker_fee == Decimal("0.0024")
    assert markets["ETH/USD"].taker_fee == Decimal("0.0026")  # not in TradeVolume: public fee
    assert balances["USD"] == Decimal("1050.5000") and balances["BTC"] == Decimal("0.05")
    assert balances["DOGE"] == Decimal("1000") and balances["USD.HOLD"] == Decimal("10")
    assert all(type(v) is Decimal for v in balances.values())


async def test_rate_limited_call_is_retried_and_5xx_add_order_is_unknown():
    delays = []

    async def record(d):
        delays.append(d)

    with my_vcr.use_cassette("errors.yaml"):
        rest = KrakenRestClient(credentials=CREDS, tier=None, sleep=record)
        balance = await rest.balance_ex()
        with pytest.raises(OrderOutcomeUnknown):
            await rest.add_order("XXBTZUSD", "buy", Decimal("0.001"), Decimal("30000"), cl_ord_id="x")
        await rest.close()
    assert balance["ZUSD"]["balance"] == "1.0000"  # the raw client returns Kraken's strings
    assert len(delays) >= 1 and delays[0] >= 0.25


# -- nonces, serialisation, rate limits (mocked transport) ------------------------------------


async def test_10000_concurrent_signed_requests_arrive_with_strictly_increasing_nonces():
    arrivals: list[int] = []

    async def transport(method, url, headers, body):
        await asyncio.sleep(0) if random.random() < 0.5 else None  # give others every chance to overtake
        arrivals.append(int(parse_qs(body.decode())["nonce"][0]))
        assert headers["API-Key"] == CREDS.api_key and headers["API-Sign"]
        await asyncio.sleep(0)
        return 200, '{"error":[],"result":{}}'

    # two clients of the same key share its nonce source and its send lock
    a = KrakenRestClient(credentials=CREDS, tier=None, transport=transport)
    b = KrakenRestClient(credentials=CREDS, tier=None, transport=transport)
    calls = [(a if i % 2 else b).balance_ex() for i in range(10_000)]
    await asyncio.gather(*calls)
    assert len(arrivals) == 10_000
    assert all(x < y for x, y in zip(arrivals, arrivals[1:]))


async def test_add_order_is_never_retried():
    for failure, expected in (
        (asyncio.TimeoutError(), OrderOutcomeUnknown),
        (ConnectionResetError(), OrderOutcomeUnknown),
        ((502, "bad gateway"), OrderOutcomeUnknown),
        ((200, "<html>not json"), OrderOutcomeUnknown),
        ((200, '{"error":["EGeneral:Internal error"]}'), OrderOutcomeUnknown),
        ((200, '{"error":["EAPI:Rate limit exceeded"]}'), RateLimited),
        ((200, '{"error":["EOrder:Insufficient funds"]}'), InsufficientFunds),
        ((200, '{"error":["EOrder:Order minimum not met"]}'), OrderRejected),
        (NotSent("refused"), ExchangeUnavailable),
    ):
        calls = []

        async def transport(method, url, headers, body, failure=failure):
            calls.append(url)
            if isinstance(failure, BaseException):
                raise failure
            return failure

        rest = KrakenRestClient(credentials=CREDS, tier=None, transport=transport, sleep=no_sleep)
        with pytest.raises(expected):
            await rest.add_order("XXBTZUSD", "buy", Decimal("0.001"), Decimal("30000"), cl_ord_id="x")
        assert calls == ["https://api.kraken.com/0/private/AddOrder"], failure


async def test_throttled_is_retried_after_krakens_time():
    answers = iter([(200, '{"error":["EService: Throttled: 1000000030"]}'), (200, '{"error":[],"result":{"status":"online"}}')])
    delays = []

    async def transport(method, url, headers, body):
        return next(answers)

    async def record(d):
        delays.append(d)

    rest = KrakenRestClient(tier=None, transport=transport, sleep=record, public_calls_per_s=1000)
    import adapters.kraken.errors as kerr

    real_time = kerr.time.time
    kerr.time.time = lambda: 1000000000.0
    try:
        assert (await rest.system_status())["status"] == "online"
    finally:
        kerr.time.time = real_time
    assert delays and delays[0] >= 30


def test_call_counter_tiers_follow_krakens_table():
    assert TIERS == {"starter": (15.0, 0.33), "intermediate": (20.0, 0.5), "pro": (20.0, 1.0)}
    now = [0.0]
    counter = CallCounter(*TIERS["starter"], clock=lambda: now[0])
    for _ in range(15):
        assert counter.wait_time(1) == 0
        counter._value, counter._at = counter.value + 1, now[0]
    assert counter.wait_time(1) == pytest.approx(1 / 0.33)
    now[0] = 3.0
    assert counter.value == pytest.approx(15 - 0.99)
    counter.penalise()  # after EAPI:Rate limit exceeded we assume Kraken's counter is full
    assert counter.wait_time(1) == pytest.approx(1 / 0.33)


async def test_private_calls_wait_for_the_counter_and_trading_calls_skip_it():
    slept = []

    async def transport(method, url, headers, body):
        return 200, '{"error":[],"result":{"count":1,"txid":["O1"]}}'

    async def sleep(d):
        slept.append(d)
        rest.counter._value -= d * rest.counter.decay_per_s  # let the fake time pass

    own_key = Credentials("kraken", "counter-test-key", CREDS.api_secret)
    rest = KrakenRestClient(credentials=own_key, tier="pro", transport=transport, sleep=sleep)
    assert KrakenRestClient(credentials=own_key, tier="pro").counter is rest.counter  # one counter per key
    for _ in range(20):
        await rest.balance_ex()
    assert slept == []
    await rest.add_order("XXBTZUSD", "buy", Decimal("1"), Decimal("1"))  # trading limiter, not counted
    await rest.cancel_order(cl_ord_id="x")
    assert slept == []
    await rest.closed_orders()  # history costs 2
    assert slept and sum(slept) >= 1.9


def test_error_table_maps_into_the_tree():
    assert isinstance(map_error(["EOrder:Insufficient funds"]), InsufficientFunds)
    assert isinstance(map_error(["EAPI:Invalid nonce"]), AuthError)
    assert isinstance(map_error(["EGeneral:Invalid arguments:volume"]), OrderRejected)
    assert isinstance(map_error(["EOrder:Unknown order"]), OrderNotFound)
    assert isinstance(map_error(["EService:Unavailable"]), ExchangeUnavailable)
    assert isinstance(map_error(["EOrder:Something new"]), OrderRejected)  # category fallback
    assert isinstance(map_error(["XWeird:thing"]), UnexpectedPayload)
    limited = map_error(["EService: Throttled: 1700000010"], now=1700000000.0)
    assert isinstance(limited, RateLimited) and limited.retry_after == pytest.approx(10)
    for key, cls in KRAKEN_ERRORS.items():
        assert type(map_error([key])) is cls


def test_secrets_never_in_repr_or_errors():
    rest = KrakenRestClient(credentials=CREDS, tier=None)
    a = KrakenAdapter(rest=rest, credentials=CREDS)
    for text in (repr(rest), repr(a), str(map_error(["EAPI:Invalid key"], "Balance"))):
        assert CREDS.api_key not in text and CREDS.api_secret not in text


def test_client_ids_become_valid_cl_ord_ids():
    assert cl_ord_id_for("arb-0001-buy") == "arb-0001-buy"
    long_id = "route-BTC/USD-kraken-bitstamp-000123-buy"
    derived = cl_ord_id_for(long_id)
    assert derived == cl_ord_id_for(long_id) and len(derived) == 36 and derived != long_id


async def test_private_call_without_keys_is_auth_error():
    rest = KrakenRestClient(tier=None)
    with pytest.raises(AuthError):
        await rest.balance_ex()


async def test_default_urls_and_override_keep_the_path():
    assert KrakenRestClient().base_url == "https://api.kraken.com"
    seen = []

    async def transport(method, url, headers, body):
        seen.append(url)
        return 200, '{"error":[],"result":{"status":"online","timestamp":"2023-07-30T15:30:00Z"}}'

    rest = KrakenRestClient("http://127.0.0.1:8080", tier=None, transport=transport)
    await rest.system_status()
    assert seen == ["http://127.0.0.1:8080/0/public/SystemStatus"]


async def test_validate_orders_sends_validate_true_and_reports_nothing_placed():
    with my_vcr.use_cassette("place_order_validate.yaml"):
        a = adapter(taker_fee=Decimal("0.0026"), validate_orders=True)
        req = OrderRequest("arb-0009-buy", "kraken", "BTC/USD", Side.BUY, Decimal("0.0001"), Decimal("25000.1"))
        update = await a.place_order(req)
    ((form, _),) = sent("/AddOrder")
    assert form["validate"] == ["true"] and form["pair"] == ["XXBTZUSD"] and form["timeinforce"] == ["IOC"]
    assert update.status is OrderStatus.CANCELED and update.filled == 0 and update.exchange_order_id is None


async def test_adapter_implements_the_protocol_with_the_registry_keywords():
    from adapters.base import ExchangeAdapter

    a = KrakenAdapter(rest_url="http://127.0.0.1:1", ws_url="ws://127.0.0.1:2", depth=25,
                      taker_fee=Decimal("0.002"), credentials=None, validate_orders=True)
    assert isinstance(a, ExchangeAdapter) and a.name == "kraken"
    assert a.rest.base_url == "http://127.0.0.1:1" and a.ws.url == "ws://127.0.0.1:2/v2" and a.ws.depth == 25
    assert await a.api_key_permissions() is None  # Kraken cannot tell


def test_depths_kraken_does_not_stream_round_up():
    from arbscan.errors import ConfigError

    assert KrakenAdapter(depth=20, credentials=None).ws.depth == 25
    assert KrakenAdapter(depth=5, credentials=None).ws.depth == 10
    assert KrakenAdapter(depth=5000, credentials=None).ws.depth == 1000
    with pytest.raises(ConfigError):
        KrakenAdapter(depth=0, credentials=None)


async def test_bad_secret_is_an_auth_error_that_does_not_echo_it():
    bad = Credentials("kraken", "k", "this is not base64 !!")

    async def transport(method, url, headers, body):  # pragma: no cover - never reached
        raise AssertionError("sent with a bad secret")

    rest = KrakenRestClient(credentials=bad, tier=None, transport=transport)
    with pytest.raises(AuthError) as info:
        await rest.balance_ex()
    assert "this is not base64" not in str(info.value)


async def test_open_and_closed_orders_list_only_ours_with_unified_symbols():
    a = await loaded(taker_fee=Decimal("0.0026"))
    with my_vcr.use_cassette("fetch_order_by_client_id.yaml"):
        open_ = await a.open_orders()  # the real open order carries no cl_ord_id: not ours
        closed = await a.closed_orders("LTC/USDT")
    assert open_ == []
    (update,) = closed
    assert update.client_id == "arb-0001-buy" and update.symbol == "LTC/USDT"
    assert update.status is OrderStatus.FILLED and update.avg_price == Decimal("71.05741")
