"""Serialised read responses, reused until the store's state version moves.

Every data-changing transaction bumps ``StateStore.state_version()``, whichever process wrote,
so a cached body is served only while nothing it could show has changed: one primary-key read
instead of the endpoint's queries and serialisation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

__all__ = ["ResponseCache"]


class ResponseCache:
    """A bounded LRU of ``key -> (state version, JSON body)``; thread-safe."""

    def __init__(self, max_entries: int = 4096) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {max_entries}")
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[int, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str, version: int) -> bytes | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != version:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return entry[1]

    def put(self, key: str, version: int, body: bytes) -> None:
        with self._lock:
            self._entries[key] = (version, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
