"""A local filesystem that takes its time opening files, so a test can lose a worker mid-query
(importable by the workers, which unpickle it by name)."""

from __future__ import annotations

import time
from typing import Any

from fsspec.implementations.local import LocalFileSystem


class SlowFS(LocalFileSystem):
    """``LocalFileSystem`` whose ``open`` sleeps ``delay`` seconds first."""

    def __init__(self, delay: float = 0.2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay = delay

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        time.sleep(self.delay)
        return super()._open(path, mode=mode, **kwargs)
