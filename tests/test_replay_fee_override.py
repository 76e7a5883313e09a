"""A venue's configured taker_fee replaces the fee of the replay file's market line."""

from arbscan.cli.command import main

# bitmex -> deribit in the bundled demo peaks at a 6.73 bps premium: at 0.075 % a side (15.01 bps
# hurdle) nothing is live; at 0 % a side every crossed evaluation is live.
CONFIG = """
[[venues]]
exchange = "bitmex"
taker_fee = "0"

[[venues]]
exchange = "deribit"
taker_fee = 0
"""


def test_replay_applies_configured_fees(tmp_path, capsys):
    cfg = tmp_path / "arbscan.toml"
    cfg.write_text(CONFIG)
    assert main(["replay", "--config", str(cfg), "--db", str(tmp_path / "j.db"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "taker fees: 0 % on every market (2 venues)" in out, out
    import sqlite3

    db = sqlite3.connect(tmp_path / "j.db")
    live, crossed = db.execute(
        "select live, crossed_before_fees from funnel where buy_exchange='bitmex' and sell_exchange='deribit'"
    ).fetchone()
    assert crossed == 7016 and live == crossed
    assert db.execute("select count(*) from opportunities").fetchone()[0] > 0
