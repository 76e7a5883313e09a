"""Build the funding cassettes from the copies in this folder (run by hand, never by tests).

    python tests/data/funding/build_cassettes.py

Every response body is a copy of a real recorded response or of an official documentation example (see
README.md here), except where a cassette's header says it is not: a call ccxt or arbscan makes that no
recording covers, answered in the shape the venue's documentation (or ccxt's source) gives.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]


def _interaction(method: str, uri: str, body: str, status: int = 200) -> dict:
    return {
        "request": {"body": None, "headers": {}, "method": method, "uri": uri},
        "response": {
            "body": {"string": body},
            "headers": {"Content-Type": ["application/json"]},
            "status": {"code": status, "message": "OK" if status == 200 else "Error"},
            "url": uri,
        },
    }


def _write(folder: str, name: str, header: str, interactions: list[dict]) -> None:
    path = REPO / "cassettes" / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"interactions": interactions, "version": 1}, sort_keys=False, width=10**9)
    comment = "".join(f"# {line}\n" if line else "#\n" for line in header.strip().splitlines())
    path.write_text(comment + text)


def _ccxt_response(file: str, method: str) -> str:
    """The recorded ``httpResponse`` of ``method`` in one of the ccxt static-response copies, as JSON text."""
    data = json.loads((HERE / file).read_text())
    return json.dumps(data["methods"][method][0]["httpResponse"])


def ccxt_venues() -> None:
    _write("test_funding_ccxt", "bybit_usdt.yaml", """
Source: tests/data/funding/bybit_currencies.json, from ccxt/ccxt ts/src/test/static/response/bybit.json
@ 04890d69ab3b30f431dc1da3534d1a3ed937b839 (MIT, LICENSE.ccxt.txt): the recorded fetchCurrencies response of
Bybit v5 /v5/asset/coin/query-info (time 1747308071042 = 2025-05-15), USDT on 14 chains, verbatim.""", [
        _interaction("GET", "https://api.bybit.com/v5/asset/coin/query-info",
                     _ccxt_response("bybit_currencies.json", "fetchCurrencies")),
    ])
    _write("test_funding_ccxt", "gate_usdt.yaml", """
Source: tests/data/funding/gate_currencies.json, from ccxt/ccxt ts/src/test/static/response/gate.json
@ 0117dcb9f9d7ef6fdd11d7dd649c8ca200f061d7 (MIT, LICENSE.ccxt.txt): the recorded fetchCurrencies response of
Gate /api/v4/spot/currencies, USDT on 22 chains (5 off), verbatim. It carries no fees.""", [
        _interaction("GET", "https://api.gateio.ws/api/v4/spot/currencies",
                     _ccxt_response("gate_currencies.json", "fetchCurrencies")),
    ])
    _write("test_funding_ccxt", "coinbaseexchange_dai.yaml", """
Source: tests/data/funding/coinbaseexchange_currencies.json, from ccxt/ccxt
ts/src/test/static/response/coinbaseexchange.json @ 9eb2c3dc1b7df5cf87650d7e3c672536b72b5373 (MIT,
LICENSE.ccxt.txt): the recorded fetchCurrencies response of GET https://api.exchange.coinbase.com/currencies
(the URL is in ccxt's request file @ 449446b29d4a31760106a53ed0da5d90f2f1b28e), DAI on 3 networks, verbatim.""", [
        _interaction("GET", "https://api.exchange.coinbase.com/currencies",
                     _ccxt_response("coinbaseexchange_currencies.json", "fetchCurrencies")),
    ])
    _write("test_funding_ccxt", "binance_link.yaml", """
Source: tests/data/funding/binance_capital_config_getall_LINK.json: a real /sapi/v1/capital/config/getall
excerpt (coin LINK, 3 networks) quoted in a comment of ccxt/ccxt js/binance.js @
000bbb35d2d1879df0d5940d53c9f8724170d514 (MIT, LICENSE.ccxt.txt), converted to strict JSON (see README.md).""", [
        _interaction("GET", "https://api.binance.com/sapi/v1/capital/config/getall",
                     (HERE / "binance_capital_config_getall_LINK.json").read_text()),
    ])
    _write("test_funding_ccxt", "binance_btc_maintenance.yaml", """
Source: tests/data/funding/binance_capital_config_getall_docs_example.json: Binance's documentation example of
/sapi/v1/capital/config/getall (BTC; network BNB under "Wallet Maintenance", deposits and withdrawals off), as
kept by JKorf/Binance.Net @ 99487110ebab65f8a422cd8475c9ab06d78d48a1 (MIT, LICENSE.Binance.Net.txt).""", [
        _interaction("GET", "https://api.binance.com/sapi/v1/capital/config/getall",
                     (HERE / "binance_capital_config_getall_docs_example.json").read_text()),
    ])
    kucoin_currencies = {  # ccxt kucoin.py fetch_currencies comment (non-UTA answer), as strict JSON
        "code": "200000",
        "data": [{"currency": "CSP", "name": "CSP", "fullName": "Caspian", "precision": 8, "confirms": None,
                  "contractAddress": None, "isMarginEnabled": False, "isDebitEnabled": False,
                  "chains": [{"chainName": "ERC20", "chainId": "eth", "withdrawalMinSize": "2999",
                              "depositMinSize": None, "withdrawFeeRate": "0", "withdrawalMinFee": "2999",
                              "isWithdrawEnabled": False, "isDepositEnabled": False, "confirms": 12,
                              "preConfirms": 12, "withdrawPrecision": 8, "maxWithdraw": None, "maxDeposit": None,
                              "needTag": False, "contractAddress": "0xa6446d655a0c34bc4f05042ee88170d056cbaf45",
                              "depositFeeRate": "0.001"}]}],
    }
    _write("test_funding_ccxt", "kucoin_btc_quota.yaml", """
Sources:
- GET /api/v1/withdrawals/quotas?currency=BTC: tests/data/funding/kucoin_currencies.json, from ccxt/ccxt
  ts/src/test/static/response/kucoin.json @ 654886dcd0c6919701972a55f9706257840b73ad (MIT, LICENSE.ccxt.txt),
  the recorded fetchTransactionFee response (KuCoin withdrawal quota of BTC), verbatim.
- GET /api/v3/currencies: NOT a recording (we hold none): the example answer quoted in ccxt's
  async_support/kucoin.py fetch_currencies (coin CSP only), as strict JSON. It lists no BTC.""", [
        _interaction("GET", "https://api.kucoin.com/api/v3/currencies", json.dumps(kucoin_currencies)),
        _interaction("GET", "https://api.kucoin.com/api/v1/withdrawals/quotas?currency=BTC",
                     _ccxt_response("kucoin_currencies.json", "fetchTransactionFee")),
    ])


def _kraken(name: str) -> str:
    return (HERE / "kraken" / f"kraken_{name}_example.json").read_text()


def kraken() -> None:
    base = "https://api.kraken.com/0"
    official = """Source: Kraken's official documentation examples, krakenfx/api-specs @ 729f278e370ab9dc5195ee60df558a10fb987ed3
(MIT, tests/data/funding/LICENSE.api-specs), as JSON in tests/data/funding/kraken/: """
    _write("test_funding_kraken", "btc_official.yaml", official + """
Assets (25 assets, all "enabled"), WithdrawMethods (XXBT: Bitcoin and Lightning), DepositMethods (Bitcoin,
Bitcoin Lightning), WithdrawAddresses (btc-wallet-1, verified), WithdrawInfo (fee 0.0002), WithdrawStatus
(two BTC withdrawals, fee 0.0002), each verbatim.""", [
        _interaction("GET", f"{base}/public/Assets", _kraken("Assets")),
        _interaction("POST", f"{base}/private/WithdrawMethods", _kraken("WithdrawMethods")),
        _interaction("POST", f"{base}/private/DepositMethods", _kraken("DepositMethods")),
        _interaction("POST", f"{base}/private/WithdrawAddresses", _kraken("WithdrawAddresses")),
        _interaction("POST", f"{base}/private/WithdrawInfo", _kraken("WithdrawInfo")),
        _interaction("POST", f"{base}/private/WithdrawStatus", _kraken("WithdrawStatus")),
    ])
    ledger = json.loads((HERE / "kraken_currencies.json").read_text())["methods"]["fetchWithdrawals"][0]["httpResponse"]
    _write("test_funding_kraken", "usdt_fee_paid.yaml", official + """
Assets, WithdrawMethods, WithdrawAddresses as btc_official.yaml, verbatim.
- DepositMethods: NOT a recording: Kraken's documented error answer for a key without the permission
  ({"error": ["EGeneral:Permission denied"]}), to show a refused call leaves those facts unknown.
- WithdrawStatus: a real Kraken answer (USDT "Tether USD (TRC20)" over network "Tron", fee 3.00000000,
  2024-05-05) recorded in ccxt/ccxt ts/src/test/static/response/kraken.json @
  b87240393cdd7ece6289aedd753e269ee210abc6 (MIT, LICENSE.ccxt.txt; txid, refid and address scrubbed by ccxt),
  from tests/data/funding/kraken_currencies.json, verbatim.""", [
        _interaction("GET", f"{base}/public/Assets", _kraken("Assets")),
        _interaction("POST", f"{base}/private/WithdrawMethods", _kraken("WithdrawMethods")),
        _interaction("POST", f"{base}/private/DepositMethods", json.dumps({"error": ["EGeneral:Permission denied"]})),
        _interaction("POST", f"{base}/private/WithdrawAddresses", _kraken("WithdrawAddresses")),
        _interaction("POST", f"{base}/private/WithdrawStatus", json.dumps(ledger)),
    ])
    _write("test_funding_kraken", "assets_public.yaml", official + """
Assets (25 assets, all "enabled"), verbatim: what a scan without keys reads.""", [
        _interaction("GET", f"{base}/public/Assets", _kraken("Assets")),
    ])


if __name__ == "__main__":
    ccxt_venues()
    kraken()
