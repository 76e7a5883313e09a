"""The ccxt exchange object as arbscan builds it: spot only, no retries of orders, keys set, URLs overridable.

Also what goes into an order's ccxt params: its time in force as the venue reads it and our client id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from adapters.base import Credentials, replace_origin
from arbscan.errors import OrderRejected
from arbscan.model import OrderRequest

__all__ = ["new_exchange", "order_params", "rewrite_urls", "ws_open_timeout_s"]

# arbscan scans spot markets only; venues whose market list spans other products by default are told
# to load spot only (binance would otherwise also call its futures exchangeInfo endpoints, and its
# margin pairs with every currency list).
_DEFAULT_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False},
    "binanceus": {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False},
}

# Venues where ccxt passes ``timeInForce`` through unchanged and the venue wants its own field.
# Bitstamp: limit orders are IOC with ``ioc_order=True`` (https://www.bitstamp.net/api/#tag/Orders);
# an ignored ``timeInForce`` would leave a resting GTC order behind.
_TIME_IN_FORCE_PARAMS: dict[str, dict[str, dict[str, Any]]] = {
    "bitstamp": {"IOC": {"ioc_order": True}, "FOK": {"fok_order": True}, "GTC": {}},
}


def rewrite_urls(urls: Any, rest_url: str | None, ws_url: str | None) -> Any:
    """A copy of ccxt's ``urls['api']`` tree with every http(s) URL moved to ``rest_url`` and ws(s) to ``ws_url``."""
    if isinstance(urls, dict):
        return {k: rewrite_urls(v, rest_url, ws_url) for k, v in urls.items()}
    if isinstance(urls, list):
        return [rewrite_urls(v, rest_url, ws_url) for v in urls]
    if isinstance(urls, str):
        lower = urls.lower()
        if lower.startswith(("ws://", "wss://")):
            return replace_origin(urls, ws_url)
        if lower.startswith(("http://", "https://")):
            return replace_origin(urls, rest_url)
    return urls


def order_params(exchange: str, req: OrderRequest, features: Mapping[str, Any] | None) -> dict[str, Any]:
    """ccxt ``create_order`` params for ``req``: its time in force as the venue reads it, our client id, no retries.

    ``OrderRejected`` when the venue (by ccxt's ``features``, or our own table) has no such time in force.
    """
    tif = req.time_in_force.upper()
    supported = ((features or {}).get("spot") or {}).get("createOrder") or {}
    if supported.get("timeInForce") and not supported["timeInForce"].get(tif):
        raise OrderRejected(f"{exchange}: time in force {tif} is not supported")
    venue_tif = _TIME_IN_FORCE_PARAMS.get(exchange)
    if venue_tif is not None and tif not in venue_tif:
        raise OrderRejected(f"{exchange}: time in force {tif} is not supported")
    tif_params = venue_tif[tif] if venue_tif is not None else {"timeInForce": tif}
    # maxRetriesOnFailure=0: ccxt must not resend this request whatever its options say
    return {**tif_params, "clientOrderId": req.client_id, "maxRetriesOnFailure": 0}


def new_exchange(
    exchange_id: str,
    credentials: Credentials | None,
    options: Mapping[str, Any] | None,
    rest_url: str | None,
    ws_url: str | None,
) -> Any:
    """The ccxt exchange object: ccxt.pro's class where there is one, keys set, URLs moved to the overrides."""
    import ccxt.async_support as ccxt_async  # imported here: ccxt is slow to import
    import ccxt.pro as ccxt_pro

    cls = getattr(ccxt_pro, exchange_id) if exchange_id in ccxt_pro.exchanges else getattr(ccxt_async, exchange_id)
    merged_options = {**_DEFAULT_OPTIONS.get(exchange_id, {}), **dict(options or {})}
    merged_options.setdefault("maxRetriesOnFailure", 0)  # ccxt's default too; orders force 0 below
    config: dict[str, Any] = {"enableRateLimit": True, "options": merged_options}
    if credentials is not None:
        config["apiKey"] = credentials.api_key
        config["secret"] = credentials.api_secret
        if credentials.password:
            config["password"] = credentials.password
    exchange = cls(config)
    if rest_url or ws_url:
        exchange.urls["api"] = rewrite_urls(exchange.urls.get("api"), rest_url, ws_url)
    return exchange


def ws_open_timeout_s(exchange: Any) -> float:
    """How long ccxt.pro waits for a WebSocket to open: ``connectionTimeout`` (ms) from its settings or default."""
    from ccxt.async_support.base.ws.client import Client

    settings = {**(getattr(exchange, "streaming", None) or {}), **((exchange.options or {}).get("ws") or {})}
    return float(settings.get("connectionTimeout", Client.connectionTimeout)) / 1000.0
