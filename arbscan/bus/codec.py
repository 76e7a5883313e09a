"""How messages are written on the bus: journal batches as JSON, executor messages as a restricted pickle.

Journal batches hold only what the journal stores (``arbscan.journal.schema.to_db_value`` already made every
value a str, int, float or None), so they travel as JSON (orjson) and any tool can read them.

The executor's messages carry arbscan's own value types (books, routes, markets, episodes, funding
facts, a shard's report), which JSON cannot hold exactly. They travel pickled, and are read back with
an unpickler that only builds the classes listed in :data:`ALLOWED` (the approach of Python's
``pickle`` documentation, "Restricting Globals"): a message naming any other class — ``os.system``,
say — is refused with ``UnexpectedPayload`` instead of run. Still, anyone who may publish on the bus
can feed the executor routes: give NATS users and permissions (docs/hosts.md).
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import orjson

from arbscan.errors import UnexpectedPayload

__all__ = ["encode_json", "decode_json", "encode_pickle", "decode_pickle", "ALLOWED"]

ALLOWED: dict[str, frozenset[str]] = {
    "decimal": frozenset({"Decimal"}),
    "collections": frozenset({"Counter", "OrderedDict", "deque"}),
    "builtins": frozenset({"set", "frozenset", "dict", "list", "tuple", "complex", "slice"}),
    "copyreg": frozenset({"_reconstructor"}),
    "arbscan.model": frozenset({"Market", "BookSnapshot", "Opportunity", "Side", "OrderStatus", "OrderRequest",
                                "OrderUpdate", "Route"}),
    "arbscan.scan.records": frozenset({"Episode", "RouteFunnel", "FeedStats"}),
    "arbscan.funding.facts": frozenset({"AssetFunding", "NetworkFunding"}),
    "arbscan.funding.transfers": frozenset({"TransferView", "RouteTransfer"}),
    "arbscan.parallel.shard": frozenset({"ShardReport"}),
}
"""The only (module, class) pairs a routes message may build."""


def encode_json(obj: Any) -> bytes:
    """``obj`` (dicts, lists, str, int, float, None) as JSON bytes."""
    return orjson.dumps(obj)


def decode_json(data: bytes) -> Any:
    """JSON bytes back to Python; ``UnexpectedPayload`` when they are not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UnexpectedPayload(f"a journal message is not JSON: {exc}") from None


def encode_pickle(obj: Any) -> bytes:
    """``obj`` pickled (protocol 5)."""
    return pickle.dumps(obj, protocol=5)


class _Restricted(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if name in ALLOWED.get(module, ()):
            return super().find_class(module, name)
        raise UnexpectedPayload(f"a routes message names {module}.{name}, which arbscan does not accept from the bus")


def decode_pickle(data: bytes) -> Any:
    """A routes message back to Python, building only the classes in :data:`ALLOWED`."""
    try:
        return _Restricted(io.BytesIO(data)).load()
    except UnexpectedPayload:
        raise
    except Exception as exc:  # noqa: BLE001 - a truncated or foreign message: named, never run
        raise UnexpectedPayload(f"a routes message cannot be read: {type(exc).__name__}: {exc}") from None
