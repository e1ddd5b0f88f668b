"""Frames to reads on one core or two: detection of the next frames overlaps reading of this one.

On a stream each frame's work has two halves of about equal cost (highway
clip, one x86 core: decode and detect ~38 ms, read ~42 ms a frame), and each
half depends only on its own half of the frames before: the detector
follows the rows it found itself (follow.py), the reader skips plates it
already settled (settle.py). So with two workers the detector runs on its
own thread, up to AHEAD frames ahead of the reader, and each still sees
every frame in order: the reads are the same as on one worker, frame for
frame, and the tracker, the votes and the hits keep the camera's order.
onnxruntime and OpenCV release the GIL while they compute, which is most
of each half.

The halves are not equal frame by frame: a whole-frame scan (every
`full_scan_seconds`) costs the detector five followed frames, while new
plates cost the reader more. The queue absorbs the bursts, and when it is
full the detector spends its wait on the reader's work that does not
depend on the reader's state: the plate recognizer's read of each waiting
candidate's plate (read.RowReader.read_plate_ahead), which the reader then
takes instead of making it. A plate is read alone in each run, so the read
is the same whichever thread made it.

Where the detector's half is the longer (an AVX2 core without VNNI runs
the uint8-weight detector: detect 66 ms and decode 5 ms a frame, read
52 ms), the reader's thread, waiting, makes some of the detector's
followed-window runs (spare_hands.py), and the detector's whole-frame
scans have the reader's core as a second intra-op thread that sleeps when
not lent (split_threads), so a scan, one long run, takes both cores
while the reader waits for it. Each run is made on the same pixels and
the model's maps do not depend on its threads, so the reads are the same
on one worker or two.

More workers than two give each half's models intra-op threads
(`split_threads`): the halves are each a chain of frames, and a third
stage would have nothing independent to do.

Stills (photos from a folder) are read whole on the reader's side, as
read_frame does: their closer looks depend on the first look's reads. The
detector's side only decodes the next photo meanwhile, and holds one.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import cv2

from ..config import CameraConfig, ReaderConfig
from .detect import PlateDetector, TextLinePlateDetector
from .motion import MotionGate
from .plate_recognizer import SlotRead
from .read import PlateReader, make_reader, read_frame
from .spare_hands import SpareHands
from ..records import Frame, PlateCandidate, PlateRead

# Frames the detector may run ahead of the reader. A whole scan costs about
# five followed frames, so eight let the reader go on through one; more
# would only hold frames (2.7 MB each at 1280x720) and make a live camera's
# frames older when read (~0.3 s at eight).
AHEAD = 8
# How long the detector waits for room in the queue between two plate reads made ahead.
SPARE_WAIT = 0.002


@dataclass
class _Detected:
    frame: Frame
    candidates: list[PlateCandidate] | None  # None: a still, read whole by the reader
    plates: dict[int, SlotRead] = field(default_factory=dict)  # plate reads made ahead, by candidate
    taken: bool = False  # the reader has begun it; nothing more is made ahead


def usable_workers(workers: int) -> int:
    """The workers the cores this process may run on can use.

    More threads than cores cost time: onnxruntime's intra-op threads spin
    while they wait (one core, highway clip: 3 workers 0.57x and 4 workers
    0.43x the frames of one; 2 workers 0.97x).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(workers, cores))


class Threads(NamedTuple):
    """Intra-op threads of each half's model sessions."""

    detect: int
    read: int
    detect_spins: bool  # False: the detector's threads sleep between a run's parts (onnx_models._session)


def split_threads(workers: int, threads: int) -> Threads:
    """Intra-op threads: `threads`, or the workers shared out between the halves, the odd one the detector's.

    With exactly two workers the detector's model has one more thread,
    which sleeps rather than spins: the reader's core, lent to the
    detector's whole-frame scans whenever the reader waits (one run each,
    which nothing else can share: 233 -> 140 ms at 1024x576, AVX2).
    Followed windows run on a one-thread session of their own
    (text_detector.TextDetector.window_session), where the reader's
    thread helps instead (spare_hands.py). Maps are the same to the bit
    on one thread or two.

    Three workers or more give each half's models workers' threads that
    spin. The detector's half takes the odd one, so no half has fewer
    threads with more workers: it is the longer half where the CPU has no
    exact uint8 x int8 sums (detect 66 against read 52 ms, AVX2), and a
    whole-frame scan is one run that only its own threads can share.
    """
    if workers <= 1:
        return Threads(threads, threads, True)
    if workers == 2:
        return Threads(threads + 1, threads, False)
    return Threads(max(threads, workers - workers // 2), max(threads, workers // 2), True)


class Pipeline:
    """Reads of each frame of a source, in order; on two threads when workers > 1."""

    def __init__(self, detector: PlateDetector, reader: PlateReader, motion: MotionGate, workers: int = 1):
        self.detector, self.reader, self.motion, self.workers = detector, reader, motion, workers
        self.window_runs_helped = 0  # the detector's window runs the reader's thread made (spare_hands.py)
        # A reader passed in (tests, tools) may not read plates ahead.
        self._read_plate_ahead = getattr(reader, "read_plate_ahead", None)

    @classmethod
    def build(cls, cfg: ReaderConfig, camera: CameraConfig, workers: int = 1, *,
              detector: PlateDetector | None = None, reader: PlateReader | None = None) -> Pipeline:
        """The pipeline with its models loaded, each half's given its share of threads (split_threads).

        A detector or reader passed in (tests, tools) is used as it is.
        """
        # The pipeline's threads (and the models' intra-op threads) are its
        # parallelism; OpenCV's own (resize, warps, colour conversions, split
        # over every core by default) only contend with them. Highway clip,
        # 2 cores, CPU per frame: 97.8 ms with them and 91.1 without on one
        # worker, 95.0 and 86.7 on two (19.5 and 20.9 fps). OpenCV's results
        # do not depend on its thread count.
        cv2.setNumThreads(1)
        threads = split_threads(workers, cfg.threads)
        detector = detector or TextLinePlateDetector(replace(cfg, threads=threads.detect), spin=threads.detect_spins)
        reader = reader or make_reader(replace(cfg, threads=threads.read))
        return cls(detector, reader, MotionGate(camera), workers)

    def sharing_models(self, camera: CameraConfig) -> Pipeline:
        """A pipeline for another camera on this one's models (several cameras, camera_loop.py).

        Its own followed rows, settled rows and motion gate, so one camera's
        frames never steer another's reads; onnxruntime runs one session
        from several threads at once. A detector or reader passed in that
        cannot share (tests, tools) is used as it is.
        """
        detector = getattr(self.detector, "sharing_models", lambda: self.detector)()
        reader = getattr(self.reader, "sharing_models", lambda: self.reader)()
        return Pipeline(detector, reader, MotionGate(camera), self.workers)

    def _detect(self, frame: Frame) -> list[PlateCandidate] | None:
        if frame.still:
            return None
        return self.detector(frame) if self.motion.moved(frame) else []

    def _read(self, frame: Frame, candidates: list[PlateCandidate] | None,
              plates: dict[int, SlotRead] | None = None) -> list[PlateRead]:
        if candidates is None:
            self.motion.moved(frame)  # counted; a still is always read
            return read_frame(frame, self.detector, self.reader)
        if not candidates:
            return []
        if plates:
            return self.reader(frame, candidates, plates=plates)  # type: ignore[call-arg]
        return self.reader(frame, candidates)

    def _spare_work(self, waiting: deque[_Detected]) -> bool:
        """Make one plate read ahead for a frame still waiting for the reader; False if there is none to make."""
        if self._read_plate_ahead is None:
            return False
        for item in waiting:
            for i, candidate in enumerate(item.candidates or ()):
                if item.taken:
                    break
                if i not in item.plates:
                    plate = self._read_plate_ahead(item.frame, candidate)
                    if plate is None:
                        return False
                    item.plates[i] = plate
                    return True
        return False

    def reads(self, frames: Iterator[Frame], idle: Callable[[], None] | None = None
              ) -> Iterator[tuple[Frame, list[PlateRead]]]:
        """(frame, its reads) for every frame, in order. `idle` is called on this
        thread about once a second while the detector's side waits for frames."""
        if self.workers <= 1:
            for frame in frames:
                yield frame, self._read(frame, self._detect(frame))
            return
        ahead: queue.Queue = queue.Queue(maxsize=AHEAD)
        stop = threading.Event()
        hands = SpareHands()
        lends = hasattr(self.detector, "spare_hands")  # a detector passed in (tests, tools) may not
        if lends:
            self.detector.spare_hands = hands  # type: ignore[attr-defined]

        def detect_side() -> None:
            waiting: deque[_Detected] = deque()
            try:
                for frame in _one_still_ahead(frames, ahead, stop):
                    item = _Detected(frame, self._detect(frame))
                    while not stop.is_set():
                        try:
                            ahead.put_nowait(item)
                            break
                        except queue.Full:
                            pass
                        # The reader is behind: help it, or wait for room.
                        try:
                            ahead.put(item, timeout=SPARE_WAIT if self._spare_work(waiting) else 0.5)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                    hands.signal()
                    while waiting and waiting[0].taken:
                        waiting.popleft()  # read: no more to make ahead, and the frame may go
                    if item.candidates:
                        waiting.append(item)
                ahead.put(_END)
            except BaseException as exc:  # noqa: BLE001 - handed to the reader's side, raised there
                ahead.put(exc)
            hands.signal()

        worker = threading.Thread(target=detect_side, name="detect", daemon=True)
        worker.start()
        try:
            idle_at = time.monotonic() + 1.0
            while True:
                # Waiting for the detector, this thread makes some of its
                # window runs (spare_hands.py).
                seen = hands.news()
                try:
                    item = ahead.get_nowait()
                except queue.Empty:
                    if not hands.wait(seen, 1.0) and idle is not None and time.monotonic() >= idle_at:
                        idle()
                        idle_at = time.monotonic() + 1.0
                    continue
                idle_at = time.monotonic() + 1.0
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                item.taken = True
                yield item.frame, self._read(item.frame, item.candidates, item.plates)
        finally:
            stop.set()
            # A detector blocked on the full queue sees the stop within its
            # put timeout; one blocked in a camera read ends when the caller
            # stops the source, as it does on every way out.
            try:
                while True:
                    ahead.get_nowait()
            except queue.Empty:
                pass
            worker.join(timeout=1.0)
            if lends:
                self.detector.spare_hands = None  # type: ignore[attr-defined]
            self.window_runs_helped += hands.helped


def _one_still_ahead(frames: Iterator[Frame], ahead: queue.Queue, stop: threading.Event) -> Iterator[Frame]:
    """The frames, but after a still the next is taken from the source only once the reader has the still.

    A still is read whole by the reader, so holding more gains nothing, and
    a photo can be 50 megapixels (image_header.py), 150 MB decoded: the
    reader's photo and the next one are all that is held.
    """
    for frame in frames:
        yield frame
        while frame.still and not ahead.empty() and not stop.is_set():
            stop.wait(0.005)


_END = object()
