"""Build the vcrpy cassettes of tests/test_kraken_rest.py from the real and official responses.

Run from the repository root with the shared data beside it (``../shared/realdata``):
``python tests/data/kraken/make_cassettes.py``. Tests never run this; they read the cassettes it
wrote under ``cassettes/test_kraken_rest/``. Order cassettes hold no AssetPairs: the tests load
markets from ``asset_pairs_cryptofeed.yaml`` first. Each cassette starts with a comment naming its sources
and saying exactly what was changed. No cassette holds an API-Key or API-Sign header.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
SHARED = ROOT.parent / "shared" / "realdata"
OUT = ROOT / "cassettes" / "test_kraken_rest"
API = "https://api.kraken.com"


def ccxt(method: str, description: str) -> dict:
    data = json.loads((SHARED / "ccxt" / "response_kraken.json").read_text())
    for entry in data["methods"][method]:
        if entry["description"] == description:
            return entry["httpResponse"]
    raise KeyError((method, description))


def official_yaml(name: str) -> dict:
    return yaml.safe_load((SHARED / "kraken-api-specs" / name).read_text())


def cryptofeed_asset_pairs() -> str:
    line = (SHARED / "cryptofeed" / "KRAKEN.0").read_text().splitlines()[0]
    url, rest = line.split(" -> ", 1)
    assert url == f"{API}/0/public/AssetPairs"
    return rest.split(": ", 1)[1]


def interaction(method: str, uri: str, body: str | dict, status: int = 200) -> dict:
    text = body if isinstance(body, str) else json.dumps(body, separators=(",", ":"))
    return {
        "request": {
            "body": None,
            "headers": {"Content-Type": ["application/x-www-form-urlencoded; charset=utf-8"]} if method == "POST" else {},
            "method": method,
            "uri": uri,
        },
        "response": {
            "status": {"code": status, "message": "OK" if status == 200 else "Error"},
            "headers": {"Content-Type": ["application/json; charset=utf-8"]},
            "body": {"string": text},
        },
    }


def write(name: str, header: str, interactions: list[dict]) -> None:
    comment = "".join(f"# {line}\n" for line in header.strip().splitlines())
    text = comment + yaml.safe_dump({"interactions": interactions, "version": 1}, sort_keys=False, width=1_000_000)
    (OUT / name).write_text(text)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pairs_real = cryptofeed_asset_pairs()
    pairs_official = official_yaml("assetpairs_example.yaml")
    closed_order = ccxt("fetchOrder", "closed market order")  # real QueryOrders body
    (closed_txid, closed_record), = closed_order["result"].items()

    write(
        "asset_pairs_official.yaml",
        "Source: krakenfx/api-specs spot-rest/examples assetpairs_example.yaml (MIT), the official\n"
        "AssetPairs example (XETHXXBT, XXBTZUSD), converted from YAML to JSON unchanged.",
        [interaction("GET", f"{API}/0/public/AssetPairs", pairs_official)],
    )
    write(
        "asset_pairs_cryptofeed.yaml",
        "Source: bmoscon/cryptofeed sample_data/KRAKEN.0 (2021-04-17), the real response of\n"
        "GET https://api.kraken.com/0/public/AssetPairs (304 pairs), body byte for byte.\n"
        "License: cryptofeed license (attribution: cryptofeed by Bryant Moscon), tests/data/kraken/LICENSE.cryptofeed.",
        [interaction("GET", f"{API}/0/public/AssetPairs", pairs_real)],
    )
    write(
        "depth_official.yaml",
        "Sources: krakenfx/api-specs examples (MIT): assetpairs_example.yaml and depth_example.yaml,\n"
        "the official AssetPairs and Depth (XXBTZUSD) examples, YAML converted to JSON unchanged.\n"
        "The request URI carries the query arbscan sends (pair=XXBTZUSD&count=50).",
        [
            interaction("GET", f"{API}/0/public/AssetPairs", pairs_official),
            interaction("GET", f"{API}/0/public/Depth?pair=XXBTZUSD&count=50", official_yaml("depth_example.yaml")),
        ],
    )
    write(
        "ticker.yaml",
        "Sources: krakenfx/api-specs ticker_example.yaml (MIT, official XXBTZUSD example, YAML to JSON)\n"
        "and ccxt/ccxt ts/src/test/static/response/kraken.json fetchTicker 'public spot ticker' (MIT, a\n"
        "real XBTUSDT response). Request URIs carry the query arbscan sends.",
        [
            interaction("GET", f"{API}/0/public/Ticker?pair=XXBTZUSD", official_yaml("ticker_example.yaml")),
            interaction("GET", f"{API}/0/public/Ticker?pair=XBTUSDT", ccxt("fetchTicker", "public spot ticker")),
        ],
    )
    write(
        "add_order_official.yaml",
        "Source: krakenfx/api-specs addorder_response_example.json (MIT), the official AddOrder example,\n"
        "unchanged. Request body not stored (it holds the nonce); no API-Key/API-Sign headers.",
        [interaction("POST", f"{API}/0/private/AddOrder", (SHARED / "kraken-api-specs" / "addorder_response_example.json").read_text().strip())],
    )
    write(
        "place_order_validate.yaml",
        "Sources: krakenfx/api-specs examples (MIT): assetpairs_example.yaml (YAML to JSON, unchanged) and\n"
        "addorder_response_example.json (unchanged). Request bodies not stored; no API-Key/API-Sign.",
        [
            interaction("GET", f"{API}/0/public/AssetPairs", pairs_official),
            interaction("POST", f"{API}/0/private/AddOrder", (SHARED / "kraken-api-specs" / "addorder_response_example.json").read_text().strip()),
        ],
    )
    placed = ccxt("createOrder", "create order")  # real AddOrder body: LTCUSDT market buy 0.1
    placed_txid = placed["result"]["txid"][0]
    write(
        "place_order_ltcusdt.yaml",
        "Sources: ccxt/ccxt response/kraken.json (MIT): createOrder 'create order' (real AddOrder body, LTCUSDT buy\n"
        "0.1, unchanged) and fetchOrder 'closed market order' (real QueryOrders body of an LTCUSDT buy of\n"
        f"0.1, filled) with ONE change: its txid key {closed_txid} is replaced by the AddOrder txid\n"
        f"{placed_txid} so the two responses chain. Request bodies not stored; no API-Key/API-Sign.",
        [
            interaction("POST", f"{API}/0/private/AddOrder", placed),
            interaction("POST", f"{API}/0/private/QueryOrders", {"error": [], "result": {placed_txid: closed_record}}),
        ],
    )
    open_orders = ccxt("fetchOpenOrders", "open take-profit market order")  # real OpenOrders body
    (open_txid, open_record), = open_orders["result"]["open"].items()
    tagged_closed = dict(closed_record, cl_ord_id="arb-0001-buy")
    write(
        "fetch_order_by_client_id.yaml",
        "Sources: ccxt/ccxt response/kraken.json (MIT): fetchOpenOrders 'open take-profit market order' (real\n"
        "OpenOrders body, unchanged: an order that is not ours) and fetchOrder 'closed market order' (real\n"
        "order record) wrapped in ClosedOrders' documented envelope {closed: {txid: order}, count: 1} with\n"
        "ONE added field, cl_ord_id: arb-0001-buy (the client id Kraken echoes for orders placed with one).\n"
        "The last two interactions are the not-found case: Kraken's documented empty results.",
        [
            interaction("POST", f"{API}/0/private/OpenOrders", open_orders),
            interaction("POST", f"{API}/0/private/ClosedOrders", {"error": [], "result": {"closed": {closed_txid: tagged_closed}, "count": 1}}),
            interaction("POST", f"{API}/0/private/OpenOrders", {"error": [], "result": {"open": {}}}),
            interaction("POST", f"{API}/0/private/ClosedOrders", {"error": [], "result": {"closed": {}, "count": 0}}),
        ],
    )
    write(
        "cancel_order_unknown.yaml",
        "Sources: Kraken's documented\n"
        "error string EOrder:Unknown order for CancelOrder, and the documented empty OpenOrders/ClosedOrders\n"
        "results (hand-written bodies of the documented shape).",
        [
            interaction("POST", f"{API}/0/private/CancelOrder", {"error": ["EOrder:Unknown order"]}),
            interaction("POST", f"{API}/0/private/OpenOrders", {"error": [], "result": {"open": {}}}),
            interaction("POST", f"{API}/0/private/ClosedOrders", {"error": [], "result": {"closed": {}, "count": 0}}),
        ],
    )
    write(
        "account.yaml",
        "Sources: bmoscon/cryptofeed sample_data/KRAKEN.0 (real AssetPairs, attribution, LICENSE.cryptofeed).\n"
        "TradeVolume and BalanceEx: HAND-WRITTEN bodies of the documented shapes (docs.kraken.com Get Trade\n"
        "Volume: fees per pair in percent as strings; Get Extended Balance: balance/credit/credit_used/\n"
        "hold_trade strings per asset code). No real account data exists in ../shared/realdata for these.",
        [
            interaction("GET", f"{API}/0/public/AssetPairs", pairs_real),
            interaction("POST", f"{API}/0/private/TradeVolume", {"error": [], "result": {
                "currency": "ZUSD", "volume": "61234.5600",
                "fees": {"XXBTZUSD": {"fee": "0.2400", "minfee": "0.1000", "maxfee": "0.2600", "nextfee": "0.2200",
                                      "nextvolume": "100000.0000", "tiervolume": "50000.0000"},
                         "XLTCZUSD": {"fee": "0.2400", "minfee": "0.1000", "maxfee": "0.2600", "nextfee": "0.2200",
                                      "nextvolume": "100000.0000", "tiervolume": "50000.0000"}},
                "fees_maker": {}}}),
            interaction("POST", f"{API}/0/private/BalanceEx", {"error": [], "result": {
                "ZUSD": {"balance": "1250.5000", "hold_trade": "200.0000"},
                "XXBT": {"balance": "0.0500000000", "hold_trade": "0.0000000000", "credit": "0.0000", "credit_used": "0.0000"},
                "XXDG": {"balance": "1000.00000000", "hold_trade": "0.00000000"},
                "USD.HOLD": {"balance": "10.0000", "hold_trade": "0.0000"}}}),
        ],
    )
    write(
        "errors.yaml",
        "Source: Kraken's documented error answers (docs.kraken.com spot REST errors and rate-limit guide), hand-written\n"
        "bodies of the documented shape: a rate-limited Balance call then a success, and a 5xx on AddOrder.",
        [
            interaction("POST", f"{API}/0/private/BalanceEx", {"error": ["EAPI:Rate limit exceeded"]}),
            interaction("POST", f"{API}/0/private/BalanceEx", {"error": [], "result": {"ZUSD": {"balance": "1.0000", "hold_trade": "0.0000"}}}),
            interaction("POST", f"{API}/0/private/AddOrder", "<html>502 Bad Gateway</html>", status=502),
        ],
    )


if __name__ == "__main__":
    main()
