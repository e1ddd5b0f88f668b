"""`edge-agent aim`: is the camera pointed and zoomed so that plates can be read?

For a technician on a ladder: it grabs frames from the configured camera for
a few seconds, finds every plate-like text row (including the ones too small
for the reader), reads them, and writes one annotated picture: each plate
boxed with its height in pixels and its read, the height the reader needs,
and the masked regions. It prints a verdict to act on.

Privacy: this command shows what it reads, on the technician's screen and in
the picture they asked for, because judging the aim needs it. Those texts go
to stdout and the picture only, never to the log, and nothing is stored or
sent: the hot list is not even loaded.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..vision.capture import open_source
from ..config import AgentConfig
from ..vision.detect import TextLinePlateDetector, quad_size
from ..errors import InputError
from ..privacy.out_files import write_file
from ..vision.read import make_reader
from ..records import Frame

# The reader's hard floor is [reader] min_plate_height (12 px by default):
# smaller rows are not even tried. Reliable reading needs more. Measured on
# highway-es.mp4 (every 12th frame scaled by 1.0 down to 0.35, each detected
# row counted as read when it gave one of the clip's eight plates): rows of
# 12-13 px read 17 % of the time, 14-15 px 57 %, 16-19 px 77 %, 20-23 px 94 %,
# 24 px and more 98 % (the misses there are signs, not plates).
RELIABLE_PLATE_HEIGHT = 20
# Above this a plate fills so much of the frame that the lane is not covered:
# a car in the next lane, or one slightly off-centre, is missed.
LARGEST_USEFUL_HEIGHT = 120

GREEN, AMBER, RED, GREY, WHITE, BLACK = (60, 200, 60), (0, 190, 255), (40, 40, 230), (150, 150, 150), \
    (255, 255, 255), (0, 0, 0)


@dataclass
class PlateSighting:
    height: int  # character-row height in frame pixels, as the reader's threshold measures it
    box: tuple[int, int, int, int]
    text: str = ""  # "" when it could not be read
    confidence: float = 0.0


@dataclass
class AimResult:
    frames: int = 0
    seconds: float = 0.0
    sightings: list[PlateSighting] = field(default_factory=list)
    best_frame: np.ndarray | None = None
    best_sightings: list[PlateSighting] = field(default_factory=list)
    mask: list[tuple[int, int, int, int]] = field(default_factory=list)
    min_height: int = 12
    verdict: str = ""
    camera_error: str = ""

    @property
    def read(self) -> list[PlateSighting]:
        return [s for s in self.sightings if s.text]


def aim(cfg: AgentConfig, *, seconds: float = 5.0, max_frames: int = 40) -> AimResult:
    """Grab and read frames for `seconds` (a file: its first `max_frames` frames)."""
    # Look below the reader's floor too, so a too-small plate is reported as
    # such, not missed. With the float detector: the INT8 one finds plates
    # of 12 px and more as well, but misses most of the 7-9 px rows that
    # tell a technician to zoom in (1 of 3 on highway frames scaled to 0.3).
    # Every frame is scanned whole and every plate read: the picture must
    # show every plate in view as this frame reads it, not only those
    # followed or settled in the frames before.
    probe = dataclasses.replace(cfg.reader, min_plate_height=6, detector="float", full_scan_seconds=0)
    detector = TextLinePlateDetector(probe)
    reader = make_reader(dataclasses.replace(cfg.reader, min_plate_height=6, reread_every=1))
    result = AimResult(min_height=cfg.reader.min_plate_height)
    source = open_source(cfg.camera)
    result.mask = list(source.mask)
    started = time.monotonic()
    best = (-1, -1)
    try:
        for frame in source.frames():
            found = _look(frame, detector, reader)
            result.frames += 1
            result.sightings += found
            # The picture shows the frame with the most reads, then the most plates.
            score = (sum(1 for s in found if s.text), len(found))
            if score >= best:
                best, result.best_frame, result.best_sightings = score, frame.image, found
            # A live camera is watched for `seconds`; a file is sampled by frames.
            if result.frames >= max_frames or (source.live and time.monotonic() - started >= seconds):
                break
        result.camera_error = source.last_error
    finally:
        source.close()
    result.seconds = time.monotonic() - started
    if result.best_frame is None:
        raise InputError(f"camera.source: no frames from {source.source} in {seconds:.0f} s"
                         + (f" ({result.camera_error})" if result.camera_error else ""))
    result.verdict = verdict(result)
    return result


def _look(frame: Frame, detector: TextLinePlateDetector, reader) -> list[PlateSighting]:
    candidates = detector(frame)
    reads = {r.box: r for r in reader(frame, candidates)}
    out = []
    for c in candidates:
        r = reads.get(c.box)
        if r is None and quad_size(c.quad)[0] / quad_size(c.quad)[1] > 8:
            continue  # a long unread row is a sign or a slogan, not a plate
        out.append(PlateSighting(round(quad_size(c.quad)[1]), tuple(c.box.as_list()),
                                 r.text if r else "", r.confidence if r else 0.0))
    return out


def verdict(result: AimResult) -> str:
    need, floor = max(RELIABLE_PLATE_HEIGHT, result.min_height), result.min_height
    read = result.read
    heights = [s.height for s in (read or result.sightings)]
    if not heights:
        return (f"no plates seen in {result.frames} frames: check that the camera looks at the lane, "
                "is focused, and that a vehicle passed while aiming (run again as one passes)")
    h = round(statistics.median(heights))
    what = f"plates {h} px tall"
    if not read:
        return f"{what} but none could be read: too small or blurred; zoom in or move closer (need {need} px)"
    if h < floor:
        return f"{what}: too small; zoom in or move closer (need {need} px)"
    if h < need:
        return f"{what}: readable but marginal; zoom in a little (need {need} px for reliable reads)"
    if h > LARGEST_USEFUL_HEIGHT:
        return f"{what}: larger than needed; zoom out to cover the whole lane ({need}-{LARGEST_USEFUL_HEIGHT} px)"
    return f"{what}: good (need {need} px); {len(read)} reads in {result.frames} frames"


def draw(result: AimResult) -> np.ndarray:
    """The best frame with plates, heights, reads, the needed height and the masked regions."""
    image = result.best_frame.copy()
    need = max(RELIABLE_PLATE_HEIGHT, result.min_height)
    for x, y, w, h in result.mask:
        cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), GREY, 2)
        for off in range(-h, w, 24):  # hatching: masked on purpose, not a dead camera
            cv2.line(image, (x + max(off, 0), y + max(-off, 0)), (x + min(off + h, w), y + min(w - off, h)), GREY, 1)
        _label(image, "masked", (x + 4, y + 18), GREY)
    for s in result.best_sightings:
        x, y, w, h = s.box
        colour = RED if s.height < result.min_height else AMBER if s.height < need else GREEN
        cv2.rectangle(image, (x, y), (x + w, y + h), colour, 2)
        _label(image, f"{s.height} px {s.text or '?'}", (x, max(y - 6, 14)), colour)
    banner = f"{result.verdict}  |  reader floor {result.min_height} px"
    strip = np.zeros((34, image.shape[1], 3), np.uint8)
    _label(strip, banner, (8, 23), WHITE, scale=0.55)
    # A ruler of the needed height, to hold against the plates in the picture.
    cv2.rectangle(image, (image.shape[1] - 24, 10), (image.shape[1] - 12, 10 + need), GREEN, -1)
    _label(image, f"{need} px", (image.shape[1] - 90, 10 + need), GREEN)
    return np.vstack([strip, image])


def _label(image: np.ndarray, text: str, at: tuple[int, int], colour, scale: float = 0.5) -> None:
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, BLACK, 3, cv2.LINE_AA)
    cv2.putText(image, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def write_picture(result: AimResult, path: str | Path) -> Path:
    """The picture, as a new 0600 file: it shows plates and their reads.

    An earlier picture there (the default name is the same each run) is
    replaced, not followed if it is a symlink (out_files.py).
    """
    path = Path(path)
    if path.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise InputError(f"--out: {path}: use a .png or .jpg name")
    ok, data = cv2.imencode(path.suffix.lower(), draw(result))
    if not ok:
        raise InputError(f"--out: cannot write {path}: encoding failed")
    return write_file(path, data.tobytes(), overwrite=True)
