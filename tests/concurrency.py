"""Helpers for tests that race work against itself: threads released together, and
the same HTTP request sent from many connections at once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any, TypeVar

import httpx2

T = TypeVar("T")

START_TIMEOUT = 30.0  # seconds a worker waits at the barrier for the others
WORK_TIMEOUT = 60.0  # seconds the whole burst may take


def run_at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(0..count-1)`` on ``count`` threads released together by a barrier."""
    barrier = threading.Barrier(count)

    def start(index: int) -> T:
        barrier.wait(timeout=START_TIMEOUT)
        return work(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(start, index) for index in range(count)]
        return [future.result(timeout=WORK_TIMEOUT) for future in futures]


def requests_at_once(
    base_url: str,
    count: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str],
    body: dict[str, Any] | None = None,
) -> list[httpx2.Response]:
    """The same request from ``count`` threads at once, each on its own connection."""
    with ExitStack() as stack:
        clients = [
            stack.enter_context(httpx2.Client(base_url=base_url, timeout=WORK_TIMEOUT))
            for _ in range(count)
        ]
        return run_at_once(
            count, lambda i: clients[i].request(method, path, json=body, headers=headers)
        )
