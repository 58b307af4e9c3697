"""An open-loop load generator for the HTTP API: fixed request rate, latency percentiles.

Requests are sent on a fixed schedule (``rps``) whatever the server does, and each latency is
measured from the request's *scheduled* time, so a slow server cannot hide its queueing
("coordinated omission"). Run it in a process other than the server's:

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


async def _load(
    url: str, headers: dict[str, str], urls: list[tuple[str, str]], rps: float, timeout: float
) -> tuple[dict[str, list[float]], dict[str, int], float]:
    latencies: dict[str, list[float]] = {template: [] for template, _ in urls}
    errors: dict[str, int] = dict.fromkeys(latencies, 0)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=timeout, limits=limits
    ) as client:

        async def one(template: str, path: str, scheduled: float) -> None:
            try:
                resp = await client.get(path)
                ok = resp.status_code == 200
            except httpx.HTTPError:
                ok = False
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
    return latencies, errors, elapsed


def run_load(
    url: str,
    token: str,
    paths: Sequence[str],
    *,
    rps: float = 200.0,
    requests: int = 2000,
    timeout: float = 10.0,
) -> LoadReport:
    """Send ``requests`` GETs at ``rps`` spread over ``paths``; report latency percentiles."""
    if rps <= 0 or requests <= 0 or not paths:
        raise ValueError("run_load needs rps > 0, requests > 0 and at least one path")
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
    latencies, errors, elapsed = asyncio.run(_load(url, headers, urls, rps, timeout))
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
