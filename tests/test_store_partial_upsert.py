"""A partial upsert updates only the columns it names, even when batched with fuller rows."""

from arbscan.journal.store import Store


def test_partial_upsert_in_one_batch_keeps_other_columns(tmp_path):
    store = Store(tmp_path / "j.db", flush_interval=5.0)  # everything below lands in one batch
    store.start_run("replay")
    store.upsert("orders", {"client_id": "a", "status": "created", "amount": "1", "limit_price": "100"}, pk="client_id")
    store.upsert("orders", {"client_id": "a", "status": "filled", "filled": "1"}, pk="client_id")
    store.upsert("orders", {"client_id": "b", "status": "created", "amount": "2"}, pk="client_id")
    store.upsert("orders", {"client_id": "b", "status": "expired"}, pk="client_id")
    store.flush()
    rows = {r["client_id"]: r for r in store.db["orders"].rows}
    store.close()
    assert (rows["a"]["status"], rows["a"]["amount"], rows["a"]["limit_price"], rows["a"]["filled"]) == (
        "filled", "1", "100", "1"
    )
    assert (rows["b"]["status"], rows["b"]["amount"]) == ("expired", "2")
