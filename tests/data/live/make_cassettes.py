"""Build cassettes/test_live_e2e/bitstamp_sell.yaml and bitstamp_sell_refused.yaml (run from the repository root).

Sources (all already in this repository, each with its own provenance header):
- GET /api/v2/markets/ and POST /api/v2/fees/trading/: copied verbatim from
  cassettes/test_ccxt_bitstamp/markets_and_book.yaml and orders.yaml (real cryptofeed BITSTAMP.0 rows;
  cryptofeed license, attribution: tests/data/live/LICENSE.cryptofeed).
- POST /api/v2/sell/btcusd/ and POST /api/v2/order_status/: the shapes of the create-order and
  order-status response examples quoted in ccxt's bitstamp.py (MIT, tests/data/live/LICENSE.ccxt.txt),
  as in cassettes/test_ccxt_bitstamp/orders.yaml, with the pair, side ("type": "1" is sell), amount and
  price of the test's sell leg: 0.001 BTC at 29500.00 USD, fee 0.118 USD (0.40 %).
- bitstamp_sell_refused.yaml: the same markets and fees, then the sell answered HTTP 403 with
  ``{"error": "No permission found"}``, the body ccxt's bitstamp.py documents for a key without the
  permission (no real recording of it exists; the shape is ccxt's).
"""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
SRC = ROOT / "cassettes" / "test_ccxt_bitstamp"
OUT = ROOT / "cassettes" / "test_live_e2e" / "bitstamp_sell.yaml"

HEADER = """# Built by tests/data/live/make_cassettes.py; see its docstring for the source of every body.
# markets/ and fees/trading/: verbatim from cassettes/test_ccxt_bitstamp/ (real cryptofeed BITSTAMP.0 rows,
# cryptofeed license, attribution in tests/data/live/LICENSE.cryptofeed).
# sell/btcusd/ and order_status/: ccxt bitstamp.py response examples (MIT) with this test's leg's values.
"""


def _interaction(method: str, uri: str, body: str, status: tuple[int, str] = (200, "OK")) -> dict:
    return {
        "request": {"body": None, "headers": {}, "method": method, "uri": uri},
        "response": {"body": {"string": body}, "headers": {"Content-Type": ["application/json"]},
                     "status": {"code": status[0], "message": status[1]}, "url": uri},
    }


def main() -> None:
    markets = yaml.safe_load((SRC / "markets_and_book.yaml").read_text())["interactions"][0]
    fees = next(i for i in yaml.safe_load((SRC / "orders.yaml").read_text())["interactions"]
                if i["request"]["uri"].endswith("/fees/trading/"))
    sell = _interaction("POST", "https://www.bitstamp.net/api/v2/sell/btcusd/",
                        '{"price": "29500.00", "client_order_id": "", "currency_pair": "BTC/USD", '
                        '"datetime": "2023-07-30 07:13:20", "amount": "0.00100000", "type": "1", "id": "1650001"}')
    status = _interaction("POST", "https://www.bitstamp.net/api/v2/order_status/",
                          '{"status": "Finished", "id": 1650001, "amount_remaining": "0.00000000", "transactions": '
                          '[{"fee": "0.11800", "price": "29500.00000000", "datetime": "2023-07-30 07:13:20.322000", '
                          '"usd": "29.50000000", "tid": 290001, "btc": "0.00100000", "type": 2}]}')
    OUT.parent.mkdir(parents=True, exist_ok=True)
    doc = {"interactions": [markets, fees, sell, status], "version": 1}
    OUT.write_text(HEADER + yaml.safe_dump(doc, sort_keys=True, width=10_000))
    refused = _interaction("POST", "https://www.bitstamp.net/api/v2/sell/btcusd/", '{"error": "No permission found"}',
                           (403, "Forbidden"))
    doc = {"interactions": [markets, fees, refused], "version": 1}
    (OUT.parent / "bitstamp_sell_refused.yaml").write_text(
        HEADER.replace("sell/btcusd/ and order_status/: ccxt bitstamp.py response examples (MIT) with this test's leg's values.",
                       "sell/btcusd/: refused with the body ccxt's bitstamp.py documents for a key without permission (MIT).")
        + yaml.safe_dump(doc, sort_keys=True, width=10_000))


if __name__ == "__main__":
    main()
