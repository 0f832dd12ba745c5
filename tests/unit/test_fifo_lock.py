"""SQLite's writers in one process take their turns in the order they came."""

from __future__ import annotations

import signal
import threading
import time

import pytest

from ordermill.fifo_lock import FifoLock


def _wait_until(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.001)


def test_waiters_get_the_lock_in_the_order_they_asked_for_it() -> None:
    lock = FifoLock()
    order: list[int] = []
    lock.acquire()
    threads = []
    for n in range(8):
        thread = threading.Thread(
            target=lambda n=n: (lock.acquire(), order.append(n), lock.release())
        )
        thread.start()
        threads.append(thread)
        _wait_until(lambda n=n: len(lock._waiting) == n + 1)  # each queued before the next

    lock.release()
    for thread in threads:
        thread.join(5)

    assert order == list(range(8))
    assert not lock.locked()


def test_a_newcomer_does_not_overtake_the_queue() -> None:
    lock = FifoLock()
    order: list[str] = []
    lock.acquire()
    waiter = threading.Thread(
        target=lambda: (lock.acquire(), order.append("waiter"), lock.release())
    )
    waiter.start()
    _wait_until(lambda: len(lock._waiting) == 1)

    lock.release()  # passes to the waiter, which may not have run yet
    with lock:
        order.append("newcomer")
    waiter.join(5)

    assert order == ["waiter", "newcomer"]


def test_it_excludes_and_releases_like_a_lock() -> None:
    lock = FifoLock()
    inside = 0
    most = 0
    guard = threading.Lock()

    def work() -> None:
        nonlocal inside, most
        for _ in range(200):
            with lock:
                with guard:
                    inside += 1
                    most = max(most, inside)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert most == 1
    assert not lock.locked()
    with pytest.raises(RuntimeError):
        lock.release()


class _Interrupted(Exception):
    pass


def test_a_waiter_interrupted_by_a_signal_leaves_the_queue() -> None:
    lock = FifoLock()
    holder_may_go = threading.Event()

    def hold() -> None:
        with lock:
            holder_may_go.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    _wait_until(lock.locked)

    def interrupt(_signum: int, _frame: object) -> None:
        raise _Interrupted

    previous = signal.signal(signal.SIGALRM, interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(_Interrupted):
            lock.acquire()  # as Ctrl-C would stop a command waiting for the lock
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

    holder_may_go.set()
    holder.join(5)
    assert not lock.locked()
    with lock:  # nobody is left holding a turn that never comes
        assert lock.locked()
