"""Independent parts of one thread's call, run meanwhile by another thread that is waiting.

With two workers (pipeline.py) the detector's thread is the slower half
wherever the detector costs more than the reader (2-core AVX2 x86 running
the uint8-weight detector, highway clip: detect 66 ms a frame plus 5 ms
decoding, read 52 ms), so the reader's thread waits for frames a quarter
of its time. Most of the detector's time on a followed frame is separate
model runs, one per window around the rows of the frame before
(text_detector.TextDetector), and those depend on nothing but the frame's
pixels: the waiting thread runs some of them. Each run is the same model on
the same pixels, and the model's maps do not depend on which thread calls
it or on its intra-op threads (tests/test_spare_hands.py), so the reads
stay those of one worker.

One object per pipeline: its owner (the detector's thread) opens one batch
at a time with `map`; the helper (the reader's thread) calls `wait` when it
has nothing of its own, which runs a part of an open batch or sleeps until
there is one or until `signal` says its own work has come.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Batch(Generic[T, R]):
    def __init__(self, fn: Callable[[T], R], items: Sequence[T]):
        self.fn, self.items = fn, items
        self.results: list = [None] * len(items)
        self.claimed = 0  # parts given out, to either thread
        self.finished = 0
        self.error: BaseException | None = None


class SpareHands:
    """A meeting point of a busy thread's parts and a waiting thread."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._batch: _Batch | None = None
        self._news = 0  # counts batches opened and signals; a waiter sleeps only while it is unchanged
        self.helped = 0  # parts the helper ran (bench, tests)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """[fn(x) for x in items], some of them perhaps run by a waiting thread; in items' order.

        The calling thread runs every part nobody else has taken, so a
        helper that never comes costs nothing but the lock.
        """
        if len(items) < 2:
            return [fn(x) for x in items]
        batch = _Batch(fn, items)
        with self._cond:
            self._batch = batch
            self._news += 1
            self._cond.notify_all()
        try:
            while self._run_one(batch):
                pass
        finally:
            with self._cond:
                self._batch = None
                # A part the helper took is finished before the results are used.
                self._cond.wait_for(lambda: batch.finished == batch.claimed)
        if batch.error is not None:
            raise batch.error
        return batch.results

    def signal(self) -> None:
        """Wake a waiting helper: its own work has come."""
        with self._cond:
            self._news += 1
            self._cond.notify_all()

    def news(self) -> int:
        """A mark to hand to `wait`, read before the helper last looked for its own work."""
        with self._cond:
            return self._news

    def wait(self, seen: int, timeout: float) -> bool:
        """Run one part of an open batch (True), or sleep until news after `seen` or the timeout (False)."""
        with self._cond:
            batch = self._batch
        if batch is not None and self._run_one(batch):
            self.helped += 1
            return True
        with self._cond:
            self._cond.wait_for(lambda: self._news != seen or
                                (self._batch is not None and self._batch.claimed < len(self._batch.items)),
                                timeout)
        return False

    def _run_one(self, batch: _Batch) -> bool:
        with self._cond:
            if batch.claimed >= len(batch.items) or batch.error is not None:
                return False
            i = batch.claimed
            batch.claimed += 1
        try:
            batch.results[i] = batch.fn(batch.items[i])
        except BaseException as exc:  # noqa: BLE001 - raised on the owner's thread by map
            batch.error = exc
        finally:
            with self._cond:
                batch.finished += 1
                self._cond.notify_all()
        return True
