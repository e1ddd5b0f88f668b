"""Plate detection: where in a frame a plate's character row is.

The default detector finds text lines with PP-OCR's DB model and keeps the
ones shaped like a plate's character row. A plate row split by its gap
("6380 CCS") is joined back into one candidate, because the reader needs the
whole row to read the plate, and the tracker needs one box per plate.

On a stream, the frames between whole scans are scanned only around the
rows found in the frame before (follow.py).
"""

from __future__ import annotations

import contextlib
import threading

from dataclasses import dataclass, replace
from typing import Protocol

import cv2
import numpy as np

from ..config import ReaderConfig
from .follow import Follower
from .onnx_models import DETECTOR_MODELS, resolve_detector
from .spare_hands import SpareHands
from .text_detector import TILE_OVERLAP, Runs, TextBox, TextDetector, detector_pixels, detector_size, order_quad
from ..records import Box, Frame, PlateCandidate


# Boxes joined into one row must share its top and bottom edges within this
# fraction of the row's height: a plate split at the gap between its
# character groups does, a van's fleet number painted beside the plate
# (CDK 575 and a taller 13, sitting higher) does not.
ROW_LINE_TOLERANCE = 0.3
# A plate row is wider than tall; its shortest form ("53 NM" on a moped,
# two-row US plates read row by row) is still ~1.3:1, and a row longer
# than 12:1 is a shop sign or a road marking.
MIN_ASPECT = 1.3
MAX_ASPECT = 12.0
# Mean text probability a detected row needs. PP-OCR's 0.5 suits documents;
# a small or dim plate (a 57x28 px plate in a 1280 px frame, a dark plate at
# dusk) scores 0.39-0.47, and 0.4 finds 2% more plates on the dev photos
# for one more non-plate read per 100 photos.
BOX_THRESH = 0.4
# A still is one picture of its plates, and what the DB detector finds in
# it, and where it sets a row's ends, moves with the scale it sees the
# picture at: a pale plate on a large photo (PE3 R2X) shows only at 1.56x
# the stream's side, a plate under a script state name (5LTA600) only whole
# at 1.25x, while others read worse there. A still whose first look finds
# no plate is therefore looked at again closer, at these multiples of
# detect_max_side (read.read_frame). Streams keep one look per frame: the
# tracker sees each plate many times, and time per frame is the budget.
STILL_LOOKS = (1.0, 1.25, 1.5625)
# A stream's whole-frame scan is made in two tiles side by side, where their
# overlap adds at most this share to its pixels (1024x576: two of 672x576,
# 1.31x). The detector's arena keeps what its largest run took, and the
# whole scan is by far the largest. Highway clip, one worker, alternated
# (bench speed, 2 runs each): peak 250 against 268 MB; the agent with two
# workers 292 against 303-306 MB. The scan's frames took 700-721 against
# 581-603 ms, the median frame the same. Smaller frames, whose overlap
# would cost more, are scanned whole: their arena is smaller too.
WHOLE_SCAN_MAX_OVERLAP = 0.35


@dataclass
class ScanCounts:
    """How the stream frames were scanned (for the bench and the log)."""

    full: int = 0
    follow: int = 0


class PlateDetector(Protocol):
    def __call__(self, frame: Frame) -> list[PlateCandidate]: ...

    def closer_looks(self, frame: Frame) -> list[PlateCandidate]: ...


class TextLinePlateDetector:
    """Plate candidates from a general text-line detector."""

    def __init__(self, cfg: ReaderConfig, text_detector: TextDetector | None = None, spin: bool = True):
        self.cfg = cfg
        self.model_name = resolve_detector(cfg.detector)
        model = DETECTOR_MODELS[self.model_name]
        self.text_detector = text_detector or TextDetector(
            max_side=cfg.detect_max_side, threads=cfg.threads, thresh=model.thresh, box_thresh=BOX_THRESH,
            model=model.file_here(), spin=spin)
        self.scans = ScanCounts()
        self.follower = Follower(cfg.full_scan_seconds)
        # Held across a whole-frame scan by the cameras sharing this model
        # (sharing_models). A shared session's arena keeps room for the
        # largest runs made at once, and a whole 1280x720 scan is by far the
        # largest: two cameras peaked at 370-384 MB against one's 294 with
        # their scans at once, 304-305 MB taking turns, at the same frames a
        # second (highway clip, 2 cores). Followed windows are small, and
        # run at once.
        self._whole_scan: contextlib.AbstractContextManager = contextlib.nullcontext()
        # Set by a pipeline of two workers (pipeline.py): its reader's
        # thread makes some of a followed frame's window runs while it waits.
        self.spare_hands: SpareHands | None = None

    def sharing_models(self) -> TextLinePlateDetector:
        """Another camera's detector on this one's model: its own followed rows and counts."""
        if isinstance(self._whole_scan, contextlib.nullcontext):
            self._whole_scan = threading.Lock()
        sibling = TextLinePlateDetector(self.cfg, text_detector=self.text_detector)
        sibling._whole_scan = self._whole_scan
        return sibling

    def still_pixels(self, image: np.ndarray) -> int:
        """The most pixels a still's look scans at once: its first look's, at most a 4:3 frame's at detect_max_side.

        A near-square still (600x600) is enlarged to 1024x1024, 1.8x the
        pixels of a 16:9 frame, and the detector's arena keeps what that
        took: 76 MB more with the float model. Larger, it is scanned in
        overlapping tiles at the same scale (text_detector.tiles).
        """
        side = self.cfg.detect_max_side
        return min(detector_pixels(image, side, upscale=True), side * (side * 3 // 4))

    def whole_scan_tile(self, image: np.ndarray) -> int | None:
        """The most pixels a stream frame's whole scan runs at once: half its width and the overlap, or all of it."""
        rw, rh, _ = detector_size(image, self.cfg.detect_max_side, upscale=False)
        half = -(-(rw + TILE_OVERLAP) // 2 // 32) * 32
        return half * rh if 2 * half <= rw * (1 + WHOLE_SCAN_MAX_OVERLAP) else None

    def __call__(self, frame: Frame) -> list[PlateCandidate]:
        if frame.still:
            return self.candidates(frame.image, upscale=True, max_pixels=self.still_pixels(frame.image))
        h, w = frame.image.shape[:2]
        windows = self.follower.windows(frame.captured_at, w, h)
        if windows is None:
            with self._whole_scan:
                found = self.candidates(frame.image, max_pixels=self.whole_scan_tile(frame.image))
        else:
            found = self.candidates(frame.image, windows=windows,
                                    runs=self.spare_hands.map if self.spare_hands else None)
        if windows is None:
            self.scans.full += 1
        else:
            self.scans.follow += 1
        self.follower.update([c.box for c in found], frame.captured_at, whole=windows is None)
        return found

    def closer_looks(self, frame: Frame) -> list[PlateCandidate]:
        """A still's candidates at its closer looks (STILL_LOOKS after the first), each tagged with its look.

        None where `[reader] closer_looks` is off.
        """
        if not self.cfg.closer_looks:
            return []
        # A closer look scans no more pixels at once than the first look
        # did: larger, it is scanned in tiles, so stills need no more
        # memory than their first look (text_detector.TextDetector).
        budget = self.still_pixels(frame.image)
        return [replace(c, look=look)
                for look, factor in enumerate(STILL_LOOKS[1:], start=1)
                for c in self.candidates(frame.image, upscale=True,
                                         max_side=round(self.cfg.detect_max_side * factor), max_pixels=budget)]

    def candidates(self, image: np.ndarray, upscale: bool = False,
                   windows: list[Box] | None = None, max_side: int | None = None,
                   max_pixels: int | None = None, runs: Runs | None = None) -> list[PlateCandidate]:
        """Plate-row candidates, best first.

        `upscale` enlarges an image smaller than detect_max_side to it before
        detection: a still (a photo from an image folder) is often small,
        and the DB detector misses or mis-boxes rows under ~15 px that it
        finds at twice the size. Rows are still held to min_plate_height in
        the image's own pixels, too small to read otherwise. Stream frames
        are not enlarged: the detector's time grows with the pixels, on
        every frame. With `windows`, only those parts of the image are
        scanned (following), their model runs made through `runs` where
        given. `max_side` overrides detect_max_side; an image larger than
        `max_pixels` at it is scanned in tiles.
        """
        h, w = image.shape[:2]
        out = []
        for line in join_rows(self.text_detector(image, upscale=upscale, windows=windows, max_side=max_side,
                                                     max_pixels=max_pixels, runs=runs)):
            quad = line.quad.copy()
            quad[:, 0] = np.clip(quad[:, 0], 0, w - 1)
            quad[:, 1] = np.clip(quad[:, 1], 0, h - 1)
            width, height = quad_size(quad)
            if height < self.cfg.min_plate_height or not MIN_ASPECT <= width / height <= MAX_ASPECT:
                continue
            out.append(PlateCandidate(box=bounding_box(quad), score=line.score, quad=quad))
        out.sort(key=lambda c: c.score, reverse=True)
        return out


def quad_size(quad: np.ndarray) -> tuple[float, float]:
    tl, tr, br, bl = quad
    width = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    height = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    return float(width), float(max(height, 1.0))


def bounding_box(quad: np.ndarray) -> Box:
    x0, y0 = np.floor(quad.min(axis=0)).astype(int)
    x1, y1 = np.ceil(quad.max(axis=0)).astype(int)
    return Box(int(x0), int(y0), int(x1 - x0), int(y1 - y0))


def join_rows(lines: list[TextBox]) -> list[TextBox]:
    """Join text boxes that sit side by side on one row with a small gap."""
    lines = sorted(lines, key=lambda b: float(b.quad[:, 0].min()))
    merged = True
    while merged:
        merged = False
        for i in range(len(lines)):
            for j in range(i + 1, len(lines)):
                if _same_row(lines[i], lines[j]):
                    points = np.vstack([lines[i].quad, lines[j].quad])
                    quad = order_quad(cv2.boxPoints(cv2.minAreaRect(points)))
                    lines[i] = TextBox(quad, max(lines[i].score, lines[j].score))
                    del lines[j]
                    merged = True
                    break
            if merged:
                break
    return lines


def _same_row(a: TextBox, b: TextBox) -> bool:
    (wa, ha), (wb, hb) = quad_size(a.quad), quad_size(b.quad)
    if max(ha, hb) > 1.35 * min(ha, hb):
        return False
    ay0, ay1 = a.quad[:, 1].min(), a.quad[:, 1].max()
    by0, by1 = b.quad[:, 1].min(), b.quad[:, 1].max()
    overlap = min(ay1, by1) - max(ay0, by0)
    if overlap < 0.6 * min(ay1 - ay0, by1 - by0):
        return False
    gap = max(b.quad[:, 0].min() - a.quad[:, 0].max(), a.quad[:, 0].min() - b.quad[:, 0].max())
    # A plate's gap between character groups is under a character height;
    # words on a car badge or sign sit further apart.
    # The longer box's edges give the row's slope: a box of one character
    # (Wyoming's county number) has none worth carrying on.
    longer, shorter = (a, b) if wa >= wb else (b, a)
    return gap < 0.8 * min(ha, hb) and _in_line(longer.quad, shorter.quad, ROW_LINE_TOLERANCE * min(ha, hb))


def _in_line(a: np.ndarray, b: np.ndarray, tolerance: float) -> bool:
    """Whether b's top and bottom edges lie on a's, carried on along a's slope (a tilted row stays one)."""
    bx = float(b[:, 0].mean())
    for (p, q), (r, s) in (((a[0], a[1]), (b[0], b[1])), ((a[3], a[2]), (b[3], b[2]))):
        slope = (q[1] - p[1]) / max(1e-6, q[0] - p[0])
        if abs(p[1] + (bx - p[0]) * slope - (r[1] + s[1]) / 2) > tolerance:
            return False
    return True
