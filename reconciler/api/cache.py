"""Serialised read responses, reused until the store's state version moves.

Every data-changing transaction bumps ``StateStore.state_version()``, whichever process wrote,
so a cached body is served only while nothing it could show has changed: one primary-key read
instead of the endpoint's queries and serialisation. Entries are keyed on the route and its
validated parameters (never the raw query string, which a client can vary at will) and the
cache is bounded both by entries and by bytes, least recently used out first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

__all__ = ["CacheKey", "ResponseCache"]

#: The route and its validated parameters, e.g. ``("metrics/group", "web", 48)``.
CacheKey = tuple[Hashable, ...]


class ResponseCache:
    """A bounded LRU of ``key -> (state version, JSON body)``; thread-safe."""

    def __init__(self, max_entries: int = 4096, max_bytes: int = 64 * 1024 * 1024) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, got {max_bytes}")
        self._max = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[CacheKey, tuple[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.bytes = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: CacheKey, version: int) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: CacheKey, version: int, body: bytes) -> None:
        """Keep ``body``, evicting the least recently used; a body larger than the whole
        cache is not kept."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= len(old[1])
            if len(body) > self._max_bytes:
                return
            self._entries[key] = (version, body)
            self.bytes += len(body)
            while len(self._entries) > self._max or self.bytes > self._max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self.bytes -= len(evicted)

    def __len__(self) -> int:
        return len(self._entries)
