"""Which shard process owns which symbol: a stable rule, balanced by the number of venues per symbol.

Every route lives inside one symbol, so symbols can be split across processes without any book event
crossing a process boundary. :func:`assign` sorts the known symbols by their number of venues (most
first, then by name) and puts each on the least-loaded shard (the load of a shard is the number of
books it holds; ties go to the lowest shard number). The result depends only on the symbols and their
venue counts, so it is the same on every run and every restart. A symbol that was not known when the
shards were assigned (a replay file's market line after its first book line) goes to shard
``crc32(symbol) mod N``, which every process computes the same way.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping, Sequence

__all__ = ["assign", "ShardMap"]


def assign(venues_per_symbol: Mapping[str, int], shards: int) -> tuple[tuple[str, ...], ...]:
    """The symbols of each of ``shards`` shards: most venues first, each onto the least-loaded shard."""
    if shards < 1:
        raise ValueError(f"shards must be at least 1, got {shards}")
    load = [0] * shards
    owned: list[list[str]] = [[] for _ in range(shards)]
    for symbol in sorted(venues_per_symbol, key=lambda s: (-venues_per_symbol[s], s)):
        k = min(range(shards), key=lambda i: (load[i], i))
        owned[k].append(symbol)
        load[k] += max(venues_per_symbol[symbol], 1)
    return tuple(tuple(sorted(s)) for s in owned)


class ShardMap:
    """The owner of every symbol: the assigned ones, and ``crc32(symbol) mod N`` for any other."""

    def __init__(self, shards: Sequence[Iterable[str]]) -> None:
        self.shards: tuple[tuple[str, ...], ...] = tuple(tuple(s) for s in shards)
        if not self.shards:
            raise ValueError("a shard map needs at least one shard")
        self._owner: dict[str, int] = {sym: k for k, syms in enumerate(self.shards) for sym in syms}

    @classmethod
    def build(cls, venues_per_symbol: Mapping[str, int], shards: int) -> ShardMap:
        """The map :func:`assign` gives for these symbols."""
        return cls(assign(venues_per_symbol, shards))

    @property
    def count(self) -> int:
        """The number of shards."""
        return len(self.shards)

    def owner(self, symbol: str) -> int:
        """The shard (0-based) that owns ``symbol``."""
        k = self._owner.get(symbol)
        if k is None:
            k = self._owner[symbol] = zlib.crc32(symbol.encode("utf-8")) % len(self.shards)
        return k

    def describe(self, venues_per_symbol: Mapping[str, int], names: int = 6) -> list[str]:
        """One line per shard for the person starting the run: symbols, books, the first few names."""
        lines = []
        for k, syms in enumerate(self.shards):
            books = sum(venues_per_symbol.get(s, 0) for s in syms)
            shown = ", ".join(syms[:names]) + (f", ... ({len(syms) - names} more)" if len(syms) > names else "")
            lines.append(f"shard {k + 1}/{len(self.shards)}: {len(syms)} symbols, {books} books"
                         + (f": {shown}" if syms else ""))
        return lines
