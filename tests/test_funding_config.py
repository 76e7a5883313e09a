"""Funding facts from the config (``[[venues]] transfer``), and the scan asking venues for theirs on a timer.

Where a venue has no recording of a currency list with fees, the config path is the source. Its known
answers here are the fees two venues really charged (tests/data/funding/README.md): Kraken kept 3 USDT of a
USDT withdrawal over Tron (2024-05-05), Coinbase 1.530199 USDT of one over Ethereum (2024-11-03).
"""

import asyncio
import re
import json
import time
from decimal import Decimal as D
from pathlib import Path

import pytest
from conftest import book, market

from adapters.base import AdapterDefaults
from arbscan import spread
from arbscan.config.settings import parse_settings
from arbscan.errors import ConfigError
from arbscan.scan.feeds import LiveDriver
from arbscan.funding.facts import AssetFunding, FundingBook, NetworkFunding
from arbscan.model import BookSnapshot, Market
from arbscan.scan.scanner import Scanner
from arbscan.funding.transfers import TRANSFERABLE, figures, route_verdict

DATA = Path(__file__).parent / "data" / "funding"


def _real_fees():
    kraken = json.loads((DATA / "kraken_currencies.json").read_text())["methods"]["fetchWithdrawals"][0]
    (withdrawal,) = kraken["httpResponse"]["result"]
    coinbase = json.loads((DATA / "coinbase_currencies.json").read_text())["methods"]["fetchDepositsWithdrawals"][0]
    send = next(t for t in coinbase["httpResponse"]["data"] if "transaction_fee" in t["network"])
    return (withdrawal["network"], withdrawal["fee"]), (send["network"]["network_name"], send["network"]["transaction_fee"]["amount"])


def test_the_config_path_carries_the_fees_two_venues_really_charged():
    (kraken_net, kraken_fee), (coinbase_net, coinbase_fee) = _real_fees()
    assert (kraken_net, kraken_fee, coinbase_net, coinbase_fee) == ("Tron", "3.00000000", "ethereum", "1.530199")
    # no recording of Kraken's USDT networks or of Coinbase's currency list: the user states them
    settings = parse_settings({"venues": [
        {"exchange": "kraken", "transfer": {"USDT": {"network": "TRC20", "fee": kraken_fee}}},
        {"exchange": "coinbase", "transfer": {"usdt": [{"network": coinbase_net, "fee": coinbase_fee},
                                                       {"network": "TRC20", "withdraw": False}]}},
    ]})
    book_ = FundingBook(settings.transfer_overrides())
    assert book_.get("kraken", "USDT").networks == (NetworkFunding("TRC20", True, True, D("3")),)
    assert book_.get("coinbase", "USDT").networks == (NetworkFunding("ERC20", True, True, D("1.530199")),
                                                      NetworkFunding("TRC20", True, False))
    # USDT back from coinbase to kraken: TRC20 is off on coinbase and ERC20 is not listed on kraken: blocked
    assert route_verdict(book_, "BTC", "USDT", "kraken", "coinbase").quote.status == "closed"


def test_transfer_settings_are_checked_and_named():
    for raw, message in [
        ({"venues": [{"exchange": "a", "transfer": {"BTC": {"fee": "1"}}}]}, "venues[0].transfer.BTC.network: missing"),
        ({"venues": [{"exchange": "a", "transfer": {"BTC": {"network": "BTC", "fee": "-1"}}}]},
         "venues[0].transfer.BTC.fee: must not be below 0"),
        ({"venues": [{"exchange": "a", "transfer": {"BTC": {"network": "BTC", "speed": 1}}}]},
         "venues[0].transfer.BTC.speed: unknown setting"),
        ({"venues": [{"exchange": "a", "transfer": {"BTC": [{"network": "eth"}, {"network": "ERC20"}]}}]},
         "network 'ERC20' is listed twice"),
        ({"venues": [{"exchange": "a", "transfer": {"BTC": []}}]}, "give at least one network table"),
        ({"scanner": {"rebalance_batch": 0}}, "scanner.rebalance_batch: must be at least 1"),
        ({"scanner": {"require_transferable": "yes"}}, "scanner.require_transferable: must be true or false"),
        ({"strategies": [{"name": "s", "skip_untransferable": 1}]}, "strategies[0].skip_untransferable"),
    ]:
        with pytest.raises(ConfigError, match=re.escape(message)):
            parse_settings(raw)
    s = parse_settings({"scanner": {"require_transferable": True, "rebalance_batch": 5, "transfer_refresh_s": 60}})
    assert (s.scanner.require_transferable, s.scanner.rebalance_batch, s.scanner.transfer_refresh_s) == (True, 5, 60.0)


class Venue(AdapterDefaults):
    """One market, one book, and (when given) funding facts for every asset asked."""

    def __init__(self, name, facts=None):
        self.name = name
        self.facts = facts
        self.asked: list[list[str]] = []

    async def load_markets(self):
        return {"BTC/USDT": Market(self.name, "BTC/USDT", "BTC", "USDT", D("0.001"), D("0.001"), D("0.01"))}

    async def watch_books(self, symbols):
        t = time.time()
        yield BookSnapshot(self.name, "BTC/USDT", ((D("100"), D(1)),), ((D("101"), D(1)),), t, t)
        await asyncio.sleep(3600)

    async def fetch_funding(self, assets):
        if self.facts is None:
            return await super().fetch_funding(assets)  # NotSupported
        self.asked.append(list(assets))
        return [AssetFunding(self.name, a, (NetworkFunding("ERC20", True, self.facts),)) for a in assets]

    async def close(self):
        pass


async def test_scan_asks_each_venue_for_its_facts_on_a_timer(caplog):
    caplog.set_level("INFO")
    scanner = Scanner({}, None)
    stating, silent = Venue("alpha", facts=True), Venue("beta")
    driver = LiveDriver(scanner, {"alpha": stating, "beta": silent}, ("BTC/USDT",), funding_refresh_s=0.05)
    task = asyncio.create_task(driver.run())
    await asyncio.sleep(0.4)
    driver.stop.set()
    await asyncio.wait_for(task, 5)
    assert stating.asked[0] == ["BTC", "USDT"] and len(stating.asked) >= 2
    assert scanner.funding.get("alpha", "USDT").network("ERC20").withdraw is True
    assert scanner.funding.get("beta", "BTC") is None
    assert caplog.text.count("beta states no deposit or withdrawal facts") == 1  # asked once, not again


def test_episode_figures_with_the_real_fees_from_config():
    # buy on coinbase, sell on kraken; BTC over BTC at 0.0002 (config), USDT back from kraken at the 3 it charged
    settings = parse_settings({"venues": [
        {"exchange": "kraken", "transfer": {"USDT": {"network": "TRC20", "fee": "3"}, "BTC": {"network": "BTC"}}},
        {"exchange": "coinbase", "transfer": {"USDT": {"network": "TRC20"}, "BTC": {"network": "BTC", "fee": "0.0002"}}},
    ]})
    funding = FundingBook(settings.transfer_overrides())
    opp = spread.evaluate(book("coinbase", asks=[("30000", "0.1")], symbol="BTC/USDT"),
                          book("kraken", bids=[("30300", "0.1")], symbol="BTC/USDT"),
                          market("coinbase", "BTC/USDT"), market("kraken", "BTC/USDT"))
    verdict = route_verdict(funding, "BTC", "USDT", "coinbase", "kraken")
    fig = figures(verdict, opp, 1)
    # net 0.1 x 300 = 30; cost 0.0002 x 30000 + 3 = 9; after: 21
    assert (verdict.status, opp.net_profit, fig.transfer_cost, fig.net_after_transfer) == (
        TRANSFERABLE, D("30"), D("9"), D("21"))


async def test_a_venue_that_keeps_failing_is_warned_about_once(caplog):
    class Failing(Venue):
        async def fetch_funding(self, assets):
            self.asked.append(list(assets))
            raise ConnectionError("refused")

    caplog.set_level("DEBUG", logger="arbscan.scan.feeds")
    venue = Failing("alpha")
    driver = LiveDriver(Scanner({}, None), {"alpha": venue}, ("BTC/USDT",), funding_refresh_s=0.02)
    task = asyncio.create_task(driver.run())
    await asyncio.sleep(0.3)
    driver.stop.set()
    await asyncio.wait_for(task, 5)
    warnings = [r for r in caplog.records if r.levelname == "WARNING" and "funding facts not fetched" in r.message]
    assert len(venue.asked) >= 2 and len(warnings) == 1
