"""A lock handed to the threads waiting for it in the order they came.

``threading.Lock`` lets whichever thread runs next take a released lock: under a
steady queue of writers some wait through many turns while newcomers go first. For
SQLite's writers in one server process that made the slowest requests several times
slower than the median (see docs/PERFORMANCE.md, scenario 6); first come, first served
bounds a request's wait by the queue in front of it.
"""

from __future__ import annotations

import threading
from collections import deque
from types import TracebackType


class FifoLock:
    """A non-reentrant lock whose waiters acquire it first come, first served."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held = False
        self._waiting: deque[threading.Lock] = deque()

    def acquire(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            turn = threading.Lock()
            turn.acquire()
            self._waiting.append(turn)
        try:
            turn.acquire()  # released by ``release`` when the lock passes to this thread
        except BaseException:  # interrupted while waiting (Ctrl-C in the main thread)
            with self._guard:
                if turn in self._waiting:
                    self._waiting.remove(turn)
                    raise
            self.release()  # the lock had just passed to this thread: pass it on
            raise

    def release(self) -> None:
        with self._guard:
            if not self._held:
                raise RuntimeError("release of an unheld FifoLock")
            if self._waiting:
                self._waiting.popleft().release()  # still held: it passes to the next
            else:
                self._held = False

    def locked(self) -> bool:
        return self._held

    def __enter__(self) -> FifoLock:
        self.acquire()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
