"""What an API key may do, where the venue reports it (``CcxtAdapter.api_key_permissions``)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from adapters.ccxt.parse import binance_permissions, coinbase_permissions
from arbscan.errors import UnexpectedPayload

__all__ = ["KEY_PERMISSION_PROBES", "read_key_permissions"]

KEY_PERMISSION_PROBES: dict[str, tuple[str, Callable[[dict[str, Any]], list[str]]]] = {
    "binance": ("sapiGetAccountApiRestrictions", binance_permissions),
    "coinbase": ("v3PrivateGetBrokerageKeyPermissions", coinbase_permissions),
}
"""Venues whose API reports what a key may do: ccxt's implicit method and how to read its answer."""


async def read_key_permissions(exchange: Any, name: str,
                               errors: Callable[[], AbstractContextManager[Any]]) -> list[str]:
    """Ask venue ``name`` (one of :data:`KEY_PERMISSION_PROBES`) what the key may do, through ``exchange``.

    Names are the venue's own, except that a permission to move funds off the venue is named
    ``withdraw (<venue field>)`` so the live executor refuses it.
    """
    method, read = KEY_PERMISSION_PROBES[name]
    with errors():
        raw = await getattr(exchange, method)()
    if not isinstance(raw, dict):
        raise UnexpectedPayload(f"{name} key permissions: expected an object, got {type(raw).__name__}")
    return read(raw)
