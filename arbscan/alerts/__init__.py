"""Alerts: tell the operator about opportunities, outages, trades, halts and each day, wherever they are.

``[[alerts]]`` destinations (:mod:`arbscan.config.alerts`) are a generic JSON webhook, Slack and
Discord incoming webhooks, and Telegram's bot API (:mod:`.destinations`). :func:`build_alerts` makes
the run's :class:`Alerts` hub once (``arbscan.app`` does, and hands it to the scanner, the executors
and the live driver, :mod:`.hub`); messages are built by :mod:`.events` and delivered by the
:mod:`.dispatch` thread (bounded queues, :mod:`.delivery`'s retries), each one audited in the
journal's ``alerts`` table, which :func:`alerts_summary` reads back.

Layer: beside ``scan``, ``replay``, ``execution``, ``report``; above ``journal``, ``config``, ``funding``
and the domain core. Its settings (``[[alerts]]``) are ``arbscan.config.alerts``.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from arbscan.alerts.audit import alerts_summary
from arbscan.config.alerts import AlertConfig
from arbscan.alerts.destinations import Destination, load_secret
from arbscan.alerts.dispatch import CLOSE_GRACE_S, Dispatcher
from arbscan.alerts.hub import Alerts
from arbscan.errors import BadInput

__all__ = ["Alerts", "AlertConfig", "build_alerts", "alerts_summary", "send_test_alerts", "run_alert_test"]


def _destinations(configs: Sequence[AlertConfig], environ: Mapping[str, str] | None) -> list[Destination]:
    return [Destination(c, load_secret(c, environ)) for c in configs]


def build_alerts(configs: Sequence[AlertConfig], store: Any = None, *, close_grace_s: float = CLOSE_GRACE_S,
                 environ: Mapping[str, str] | None = None) -> Alerts | None:
    """The run's alert hub (not started), or None without destinations; alerts are audited into ``store``.

    Every destination's URL or token is read now, so a missing one stops the run before it starts
    (``ConfigError`` naming the variable).
    """
    if not configs:
        return None
    destinations = _destinations(configs, environ)
    audit = None if store is None else (lambda row: store.submit("alerts", row))
    return Alerts(destinations, Dispatcher(destinations, audit, close_grace_s=close_grace_s))


def send_test_alerts(configs: Sequence[AlertConfig], to: Sequence[str] = (),
                     environ: Mapping[str, str] | None = None) -> list[tuple[Destination, Any]]:
    """``arbscan alert-test``: one test message to each destination (those named in ``to``), waiting for each outcome.

    Returns (destination, ``Result``) pairs in config order. ``BadInput`` when no destination is
    configured or ``to`` names an unknown one.
    """
    from arbscan.alerts.delivery import deliver, throttler_for
    from arbscan.alerts.events import alert_test_message

    if not configs:
        raise BadInput("alerts: no destination configured; add an [[alerts]] table to the config")
    known = [c.name for c in configs]
    for name in to:
        if name not in known:
            raise BadInput(f"--to: no alert destination named {name!r} (known: {', '.join(known)})")
    chosen = [c for c in configs if not to or c.name in to]
    destinations = _destinations(chosen, environ)
    host = socket.gethostname()

    async def run() -> list[tuple[Destination, Any]]:
        import aiohttp

        async with aiohttp.ClientSession() as session:
            results = await asyncio.gather(*(deliver(session, d, alert_test_message(d.name, host, time.time()),
                                                     throttler_for(d)) for d in destinations))
        return list(zip(destinations, results, strict=True))

    return asyncio.run(run())


def run_alert_test(configs: Sequence[AlertConfig], to: Sequence[str], out: TextIO, err: TextIO) -> int:
    """``arbscan alert-test``: send, print a line per destination on ``out``; 2 and a line on ``err`` if one failed."""
    results = send_test_alerts(configs, to)
    failed = []
    for dest, result in results:
        tries = f"{result.attempts} attempt{'s' if result.attempts != 1 else ''}"
        if result.ok:
            earlier = f" (earlier: {result.detail})" if result.detail else ""
            print(f"{dest.name} ({dest.kind}): delivered after {tries}{earlier}", file=out)
        else:
            failed.append(dest.name)
            print(f"{dest.name} ({dest.kind}): FAILED after {tries}: {result.detail}", file=out)
    if failed:
        print(f"arbscan: error: alert-test: {len(failed)} of {len(results)} destinations failed: {', '.join(failed)}",
              file=err)
        return 2
    return 0
