"""An open-loop load generator for the HTTP API: fixed request rate, latency percentiles.

Requests are sent on a fixed schedule (``rps``) whatever the server does, and each latency is
measured from the request's *scheduled* time, so a slow server cannot hide its queueing
("coordinated omission"). Requests wait for one of ``connections`` keep-alive connections, and
that wait counts. Run it in a process other than the server's:

    python -m reconciler.api.loadtest --url http://127.0.0.1:8080 --token hr_... \\
        --rps 200 --seconds 10 --path /metrics/global --path '/metrics/group/{group}'

``{group}`` in a path is filled round-robin from ``GET /groups``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import httpx
import numpy as np

__all__ = ["LoadReport", "PathStats", "main", "run_load"]


@dataclass(frozen=True)
class PathStats:
    path: str
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass(frozen=True)
class LoadReport:
    target_rps: float
    achieved_rps: float
    requests: int
    errors: int
    p50_ms: float
    p99_ms: float
    paths: list[PathStats] = field(default_factory=list)


def _stats(path: str, latencies: list[float], errors: int) -> PathStats:
    arr = np.asarray(latencies or [float("nan")]) * 1000.0
    return PathStats(
        path=path,
        requests=len(latencies),
        errors=errors,
        p50_ms=float(np.percentile(arr, 50)),
        p99_ms=float(np.percentile(arr, 99)),
        max_ms=float(arr.max()),
    )


class _Conn:
    """One keep-alive HTTP/1.1 connection speaking just enough HTTP for GETs (cheap on CPU)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, timeout: float) -> int:
        if self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\n{self.extra}\r\n"
        self.writer.write(request.encode())
        try:
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await asyncio.wait_for(self.reader.readexactly(length), timeout)
            return status
        except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError):
            self.writer.close()
            self.writer = None
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def _load(
    url: str,
    headers: dict[str, str],
    urls: list[tuple[str, str]],
    rps: float,
    timeout: float,
    connections: int,
) -> tuple[dict[str, list[float]], dict[str, int], float]:
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    latencies: dict[str, list[float]] = {template: [] for template, _ in urls}
    errors: dict[str, int] = dict.fromkeys(latencies, 0)
    pool: asyncio.Queue[_Conn] = asyncio.Queue()
    conns = [_Conn(host, port, headers) for _ in range(connections)]
    for conn in conns:
        pool.put_nowait(conn)

    async def one(template: str, path: str, scheduled: float) -> None:
        conn = await pool.get()  # waiting for a connection counts: latency is from `scheduled`
        try:
            ok = await conn.get(path, timeout) == 200
        except (TimeoutError, OSError, ValueError, asyncio.IncompleteReadError):
            ok = False
        finally:
            pool.put_nowait(conn)
        latencies[template].append(time.perf_counter() - scheduled)
        if not ok:
            errors[template] += 1

    start = time.perf_counter()
    tasks = []
    for i, (template, path) in enumerate(urls):
        scheduled = start + i / rps
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(template, path, scheduled)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    for conn in conns:
        conn.close()
    return latencies, errors, elapsed


def run_load(
    url: str,
    token: str,
    paths: Sequence[str],
    *,
    rps: float = 200.0,
    requests: int = 2000,
    timeout: float = 10.0,
    connections: int = 32,
) -> LoadReport:
    """Send ``requests`` GETs at ``rps`` spread over ``paths``; report latency percentiles.

    Requests go over ``connections`` keep-alive connections with a minimal HTTP/1.1 client, so
    the generator's own CPU use stays small next to the server's on a shared machine.
    """
    if rps <= 0 or requests <= 0 or connections <= 0 or not paths:
        raise ValueError(
            "run_load needs rps > 0, requests > 0, connections > 0 and at least one path"
        )
    headers = {"Authorization": f"Bearer {token}"}
    groups: list[str] = []
    if any("{group}" in p for p in paths):
        resp = httpx.get(f"{url}/groups", headers=headers, timeout=timeout)
        resp.raise_for_status()
        groups = [g["id"] for g in resp.json()]
        if not groups:
            raise ValueError("a path uses {group} but GET /groups returned no groups")
    urls = [
        (
            paths[i % len(paths)],
            paths[i % len(paths)].replace("{group}", groups[i % len(groups)])
            if groups
            else paths[i % len(paths)],
        )
        for i in range(requests)
    ]
    latencies, errors, elapsed = asyncio.run(_load(url, headers, urls, rps, timeout, connections))
    everything = [x for xs in latencies.values() for x in xs]
    total = _stats("*", everything, sum(errors.values()))
    return LoadReport(
        target_rps=rps,
        achieved_rps=requests / elapsed if elapsed > 0 else 0.0,
        requests=requests,
        errors=total.errors,
        p50_ms=total.p50_ms,
        p99_ms=total.p99_ms,
        paths=[_stats(p, latencies[p], errors[p]) for p in latencies],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--url", required=True, help="e.g. http://127.0.0.1:8080")
    parser.add_argument("--token", required=True, help="a read token")
    parser.add_argument("--path", action="append", required=True, help="repeatable")
    parser.add_argument("--rps", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    try:
        report = run_load(
            args.url,
            args.token,
            args.path,
            rps=args.rps,
            requests=max(1, int(args.rps * args.seconds)),
        )
    except (ValueError, httpx.HTTPError) as exc:
        print(f"loadtest: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(report), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
