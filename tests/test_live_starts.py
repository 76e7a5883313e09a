"""A live run's starting balances: per venue, unknown when a venue could not be read, written once per run.

Both venues hold 1 BTC and 1,000 USD; each trade buys 0.5 BTC on alpha at 100 and sells it on beta at
101, fees 0.26 % in USD (figures by hand):

* alpha pays 0.5 x 100 = 50 plus 0.13 a trade: after two, BTC 2, USD 1000 - 2 x 50.13 = 899.74;
* beta gets 0.5 x 101 = 50.5 minus 0.1313 a trade: after two, BTC 0, USD 1000 + 2 x 50.3687 = 1100.7374.

alpha's first balance read fails, so it journals no starting rows: its start is unknown (never 0) in
the summary, ``arbscan report`` and ``arbscan rebalance``.
"""

from __future__ import annotations

from decimal import Decimal

from test_live_fakes import journal_rows, opportunity, started_executor
from test_live_halt import Wallet

from arbscan.cli.command import main
from arbscan.execution.risk import resume

D = Decimal


class FlakyWallet(Wallet):
    """A wallet whose first balance read fails (the venue was down when the run started)."""

    reads = 0

    async def fetch_balances(self):
        self.reads += 1
        if self.reads == 1:
            raise OSError("venue down")
        return dict(self.balances)


async def _two_trades(store) -> dict[str, Wallet]:
    venues = {"alpha": FlakyWallet("alpha"), "beta": Wallet("beta")}
    for v in venues.values():
        v.balances = {"BTC": D(1), "USD": D(1000)}
    ex = await started_executor(store, venues)
    for _ in range(2):
        assert (await ex.execute(opportunity("0.5"))).status == "filled"
    assert venues["alpha"].balances == {"BTC": D(2), "USD": D("899.74")}
    assert venues["beta"].balances == {"BTC": D(0), "USD": D("1100.7374")}
    store.flush()
    return venues


def _balances_rows(text: str) -> dict[tuple[str, str], list[str]]:
    """(exchange, asset) -> the printed cells after them, from the report's balances section."""
    section = text[text.index("== Balances per venue"):]
    section = section[:section.index("\n\n")]
    rows = {}
    for line in section.splitlines()[2:]:
        cells = line.split()
        if len(cells) > 5 and cells[3] in ("alpha", "beta"):
            rows[(cells[3], cells[4])] = [c if c in ("unknown", "-") else D(c) for c in cells[5:8]]
    return rows


async def test_the_report_shows_an_unread_venue_s_start_as_unknown_and_the_other_s_as_journaled(store, capsys):
    await _two_trades(store)
    starts = journal_rows(store, "SELECT exchange, asset, free FROM balances WHERE trade_id IS NULL")
    assert {(r["exchange"], r["asset"], D(r["free"])) for r in starts} == {("beta", "BTC", 1), ("beta", "USD", 1000)}
    store.close()
    assert main(["report", "--db", str(store.path)]) == 0
    text = capsys.readouterr().out
    rows = _balances_rows(text)
    # start, final, change
    assert rows[("alpha", "BTC")] == ["unknown", 2, "-"]  # not 0 -> 2, change +2
    assert rows[("alpha", "USD")] == ["unknown", D("899.74"), "-"]
    assert rows[("beta", "BTC")] == [1, 0, -1]
    assert rows[("beta", "USD")] == [1000, D("1100.7374"), D("100.7374")]
    assert "alpha (live strategy default, run 1): starting balances unknown" in text
    assert "beta (live" not in text


async def test_rebalance_leaves_a_venue_with_an_unknown_start_out_of_the_plan(store, capsys):
    await _two_trades(store)
    store.close()
    assert main(["rebalance", "--db", str(store.path)]) == 0
    text = capsys.readouterr().out
    assert "BTC on alpha: starting balance unknown, not planned" in text
    assert "USD on alpha: starting balance unknown, not planned" in text
    # only beta is planned: it is 1 BTC short with nothing to send it, and keeps its 100.7374 USD gain;
    # with alpha's start taken as 0 it would have been told to send its "surplus" of 2 BTC to beta
    assert "BTC on beta stays 1 short of its start" in text
    assert "USD on beta: 100.7374 above its start stays there" in text
    assert "\n  asset " not in text  # no transfer table: nothing proposed


async def test_a_resume_writes_no_second_set_of_starting_balances(store):
    venues = {"alpha": Wallet("alpha"), "beta": Wallet("beta")}
    for v in venues.values():
        v.balances = {"BTC": D(1), "USD": D(1000)}
    ex = await started_executor(store, venues)
    assert (await ex.execute(opportunity("0.5"))).status == "filled"
    ex.kill.halt("test: a person looks first")
    resume(str(store.path), by="test")
    assert ex.kill.cleared()
    await ex.start()  # what a running scan does after noticing the resume
    assert ex.started and not ex.kill.halted
    assert (await ex.execute(opportunity("0.5"))).status == "filled"
    store.flush()
    starts = journal_rows(store, "SELECT exchange, asset, free FROM balances WHERE trade_id IS NULL ORDER BY id")
    assert [(r["exchange"], r["asset"], D(r["free"])) for r in starts] == [
        ("alpha", "BTC", 1), ("alpha", "USD", 1000), ("beta", "BTC", 1), ("beta", "USD", 1000)]
    assert len(journal_rows(store, "SELECT id FROM balances WHERE trade_id IS NOT NULL")) == 8  # 2 trades x 2 venues x 2
