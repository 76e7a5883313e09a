"""The dispatcher: bounded queues that drop the oldest low-priority alerts under a flood and never a halt,
rate limits, the audit rows, and a shutdown that leaves no thread behind."""

from __future__ import annotations

import threading
import time

from alert_server import AlertServer, Answer

from arbscan.config.alerts import AlertConfig
from arbscan.alerts.destinations import Destination, Secret
from arbscan.alerts.dispatch import Dispatcher, Outbox, Queued
from arbscan.alerts.events import Alert


def low(i: int) -> Alert:
    return Alert("episode_opened", float(i), f"low {i}")


def halt(i: int) -> Alert:
    return Alert("halt_raised", float(i), f"halt {i}")


def slack(server: AlertServer, **kw) -> Destination:
    return Destination(AlertConfig("desk", "slack", url_env="U", retry_backoff_s=0.05, **kw),
                       Secret(server.url + "/services/PLANTED"))


def audit_rows(store):
    store.flush()
    return store.db.execute("SELECT event, destination, status, attempts, title, detail, queued <= finished "
                            "FROM alerts ORDER BY id").fetchall()


def no_dispatcher_thread() -> bool:
    return not any(t.name == "arbscan-alerts" for t in threading.enumerate())


def test_outbox_drops_the_oldest_non_urgent_and_never_an_urgent_one():
    box = Outbox(3)
    items = [Queued(a, 0.0) for a in (low(1), halt(2), low(3))]
    assert [box.put(i) for i in items] == [None, None, None]
    newer = Queued(low(4), 0.0)
    assert box.put(newer) is items[0]  # low 1 makes room
    assert box.put(Queued(halt(5), 0.0)) is items[2]  # low 3 makes room for a halt
    assert [q.alert.title for q in box.items] == ["halt 2", "low 4", "halt 5"]
    assert box.put(Queued(halt(6), 0.0)).alert.title == "low 4"
    only_halts = Queued(low(7), 0.0)
    assert box.put(only_halts) is only_halts  # nothing below it to drop: the newcomer goes
    assert box.put(Queued(halt(8), 0.0)) is None  # a halt is kept even past the bound
    assert [q.alert.title for q in box.items] == ["halt 2", "halt 5", "halt 6", "halt 8"]
    assert box.dropped == 4


def test_a_flood_drops_the_oldest_low_priority_alerts_and_keeps_every_halt(store):
    with AlertServer([Answer(hold=True)]) as srv:
        d = Dispatcher([slack(srv, queue_size=5)], lambda row: store.submit("alerts", row), close_grace_s=5)
        d.start()
        d.submit("desk", low(0))
        srv.wait_for(1)  # low 0 is in flight, held by the server: nothing leaves the queue meanwhile
        started = time.monotonic()
        for i in range(1, 51):
            d.submit("desk", low(i))
            if i in (10, 20, 30):
                d.submit("desk", halt(i))
        submitting = time.monotonic() - started
        srv.release()
        srv.wait_for(6)
        d.close()
    assert [s.json()["text"] for s in srv.seen] == ["low 0", "halt 10", "halt 20", "halt 30", "low 49", "low 50"]
    rows = audit_rows(store)
    dropped = [r for r in rows if r[2] == "dropped"]
    assert [r[4] for r in dropped] == [f"low {i}" for i in range(1, 49)]
    assert all(r[3] == 0 and r[5] == "queue full (5)" for r in dropped)
    assert sorted(r[4] for r in rows if r[2] == "sent") == ["halt 10", "halt 20", "halt 30", "low 0", "low 49", "low 50"]
    assert all(r[1] == "desk" and r[6] == 1 for r in rows)
    assert d.counts[("desk", "dropped")] == 48 and d.counts[("desk", "sent")] == 6
    assert submitting < 0.5  # 53 submits while the destination hangs: the submitter never waits
    assert no_dispatcher_thread()


def test_retries_and_failures_are_audited_by_name_never_by_url(store):
    with AlertServer([Answer(500)], default=Answer(200)) as srv:
        d = Dispatcher([slack(srv, max_attempts=2)], lambda row: store.submit("alerts", row))
        d.start()
        d.submit("desk", halt(1))
        srv.wait_for(2)
        time.sleep(0.05)
        srv.default = Answer(404)
        d.submit("desk", low(2))
        srv.wait_for(3)
        d.close()
    rows = audit_rows(store)
    assert [r[:6] for r in rows] == [("halt_raised", "desk", "retried", 2, "halt 1", "HTTP 500 Internal Server Error"),
                                     ("episode_opened", "desk", "failed", 1, "low 2", "HTTP 404 Not Found")]
    stored = b"".join(str(r).encode() for r in store.db.execute("SELECT * FROM alerts").fetchall())
    assert b"PLANTED" not in stored and b"127.0.0.1" not in stored


def test_the_rate_limit_holds_requests_back(store):
    with AlertServer() as srv:
        d = Dispatcher([slack(srv, max_per_minute=2)], lambda row: store.submit("alerts", row), close_grace_s=0.2)
        d.start()
        for i in range(3):
            d.submit("desk", low(i))
        srv.wait_for(2)
        time.sleep(0.3)
        assert len(srv.seen) == 2  # the third waits for the 60 s window
        d.close()
    assert [r[2:4] for r in audit_rows(store)] == [("sent", 1), ("sent", 1), ("failed", 0)]
    assert audit_rows(store)[2][5] == "cut off at shutdown"


def test_shutdown_cuts_off_a_hanging_destination_within_the_grace(store):
    with AlertServer(default=Answer(hold=True)) as srv:
        d = Dispatcher([slack(srv)], lambda row: store.submit("alerts", row), close_grace_s=0.3)
        d.start()
        for i in range(3):
            d.submit("desk", low(i))
        srv.wait_for(1)
        started = time.monotonic()
        d.close()
        took = time.monotonic() - started
        d.submit("desk", halt(9))  # too late: recorded, not sent
    assert 0.25 <= took < 2
    assert [(r[2], r[3], r[5]) for r in audit_rows(store)] == [
        ("failed", 1, "cut off at shutdown"), ("dropped", 0, "not sent before shutdown"),
        ("dropped", 0, "not sent before shutdown"), ("dropped", 0, "queued after shutdown")]
    assert no_dispatcher_thread()


def test_a_dispatcher_never_started_records_what_was_queued(store):
    d = Dispatcher([Destination(AlertConfig("desk", "slack", url_env="U"), Secret("http://127.0.0.1:9/x"))],
                   lambda row: store.submit("alerts", row))
    d.submit("desk", low(1))
    d.close()
    assert [(r[2], r[5]) for r in audit_rows(store)] == [("dropped", "dispatcher never started")]
