"""US plates of a given class, and scene text that is no plate, rendered on a car in a road frame.

The reader's rules (edge_agent/vision/rank.py, verify.py) each serve a class of
plates, or keep a class of scene text out; this draws examples of each, so
the tests check a rule on its class rather than on the one photo it was
first seen on (tests/test_rules_rendered.py):

- plate classes: `all_digits` (Delaware 211907, Rhode Island 697-241 with
  its dash), `short` (four characters: 4127, low numbers and vanity),
  `vanity` (letters alone: GWAGEN), `serial` (the common 3 letters and 4
  digits, or 1 digit 3 letters 3 digits, as California), `stacked` (two
  small characters set one above the other beside the serial: a specialty
  or county mark, Massachusetts' and West Virginia's U/S, Minnesota's H/C,
  Wyoming's county 22 and suffix B/H; records and benchmarks leave them
  out of the registration);
- scene text: a camera's burnt-in date, time or both, a photographer's
  copyright caption (in the frame's corner); a fleet number painted on the
  car, a model badge on its boot lid, a roadside sign of stacked lines, a
  panel's line in two sizes.

    plate, text = render_us(seed, kind)                      # BGR uint8, the registration as issued
    scene, text, box = road_scene(seed, kind, stamp="date")  # 1280x720 frame, the plate's box

Deterministic per seed. DejaVu faces (Debian fonts-dejavu-core), squeezed
as plate faces are; no benchmark image is used or looked at.
"""

from __future__ import annotations

import cv2
import numpy as np

from render_plates import _draw_text_mask, _paste  # noqa: E402 (a sibling script)
from scene import car, finish, mount  # noqa: E402

LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q: most states leave them out of serials
DIGITS = "0123456789"
STATES = ["DELAWARE", "RHODE ISLAND", "CALIFORNIA", "TEXAS", "NEW YORK", "OHIO", "FLORIDA", "ILLINOIS"]
VANITY = ["GWAGEN", "FZRULZ", "MYCAR", "BIGDOG", "SURFUP", "NOMAD", "ROCKET", "ZEPHYR"]
FACES = ("DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf")
W, H = 480, 240  # 12 x 6 in at 40 px/in
KINDS = ("serial", "all_digits", "short", "vanity", "stacked")
STACKED = ["US", "HC", "RT", "DV", "TL", "SN", "22", "17", "BH", "AC"]


def registration(rng: np.random.Generator, kind: str) -> tuple[str, list[int]]:
    """The registration as read (A-Z0-9) and where the plate prints a gap or dash."""
    def pick(chars: str, n: int) -> str:
        return "".join(rng.choice(list(chars)) for _ in range(n))

    if kind == "serial":
        if rng.random() < 0.5:
            return pick(DIGITS[1:], 1) + pick(LETTERS, 3) + pick(DIGITS, 3), []
        return pick(LETTERS, 3) + pick(DIGITS, 4), [3]
    if kind == "all_digits":
        return (pick(DIGITS[1:], 1) + pick(DIGITS, 5), [3]) if rng.random() < 0.5 else \
            (pick(DIGITS[1:], 1) + pick(DIGITS, 5), [])
    if kind == "short":
        return (pick(DIGITS[1:], 1) + pick(DIGITS, 3), []) if rng.random() < 0.5 else \
            (pick(LETTERS, 2) + pick(DIGITS, 2), [])
    if kind == "vanity":
        return VANITY[int(rng.integers(len(VANITY)))], []
    if kind == "stacked":
        return (pick(DIGITS[1:], 1) + pick(DIGITS, int(rng.integers(3, 5))), []) if rng.random() < 0.5 else \
            (pick(LETTERS, 2) + pick(DIGITS, 3), [])
    raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")


def _small_text(text: str, height: int, face: str = FACES[0]) -> np.ndarray:
    mask, _ = _draw_text_mask(text, face, max(8, int(height * 1.25)), 0, 0.0, [], 0)
    return cv2.resize(mask, (max(2, int(mask.shape[1] * height / mask.shape[0])), max(2, height)),
                      interpolation=cv2.INTER_AREA)


def render_us(seed: int, kind: str) -> tuple[np.ndarray, str]:
    """A frontal US plate of the class (BGR uint8, 480x240) and its registration."""
    rng = np.random.default_rng([seed, 20261206, KINDS.index(kind)])
    text, gaps = registration(rng, kind)
    face = FACES[int(rng.integers(len(FACES)))]
    canvas = np.full((H, W, 3), float(rng.integers(225, 256)), np.float32)
    fg = tuple(float(v) for v in ((20, 30, 110) if rng.random() < 0.5 else (25, 25, 25)))
    state = STATES[int(rng.integers(len(STATES)))]
    m = _small_text(state, int(H * 0.13))
    _paste(canvas, m, (W - m.shape[1]) // 2, int(H * 0.07), (150, 30, 30))
    dash = kind == "all_digits" and gaps
    shown = text[:gaps[0]] + "-" + text[gaps[0]:] if dash else text
    mask, _ = _draw_text_mask(shown, face, 110, 0, rng.uniform(0.0, 0.06), [] if dash else gaps, 0.4)
    th = int(H * rng.uniform(0.42, 0.5))
    tw = min(int(W * 0.88), int(mask.shape[1] * th / mask.shape[0] * rng.uniform(0.7, 0.85)))
    if kind == "stacked":
        tw = min(tw, int(W * 0.62))
    mask = cv2.resize(mask, (tw, th), interpolation=cv2.INTER_AREA)
    x, y = (W - tw) // 2, int(H * 0.3)
    _paste(canvas, mask, x, y, fg)
    if kind == "stacked":
        _stacked_pair(rng, canvas, face, fg, x, y, tw, th)
    cv2.rectangle(canvas, (2, 2), (W - 3, H - 3), (60, 60, 60), 3)
    return cv2.cvtColor(np.clip(canvas, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR), text


def _stacked_pair(rng: np.random.Generator, canvas: np.ndarray, face: str, fg, x: int, y: int, tw: int,
                  th: int) -> None:
    """Two small characters one above the other, filling the serial's height, before or after it."""
    pair = STACKED[int(rng.integers(len(STACKED)))]
    ch = int(th * rng.uniform(0.42, 0.46))
    masks = [_small_text(c, ch, face) for c in pair]
    cw = max(m.shape[1] for m in masks)
    gap = int(th * rng.uniform(0.08, 0.16))
    left = x - gap - cw if rng.random() < 0.6 else x + tw + gap
    for m, top in zip(masks, (y, y + th - ch)):
        _paste(canvas, m, left + (cw - m.shape[1]) // 2, top, fg)


def _date(rng: np.random.Generator) -> str:
    return f"20{rng.integers(10, 25)}{'-/.'[int(rng.integers(3))]}{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"


def _time(rng: np.random.Generator) -> str:
    return f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d}:{rng.integers(0, 60):02d}"


STAMPS = {
    # A camera's clock, as dashcams and trail cameras burn it in: the date,
    # the time, or both on one line.
    "date": _date,
    "time": _time,
    "datetime": lambda rng: f"{_date(rng)} {_time(rng)}",
    # A photographer's caption.
    "copyright": lambda rng: f"© {''.join(rng.choice(list('ABCDEFGHKLMNPRSTW'), 2))}"
                             f"{rng.integers(100, 999)}",
}


def _fleet_number(rng: np.random.Generator, canvas: np.ndarray, body, cx: int, cy: int) -> None:
    """A fleet number painted on the car's body, as trucks and vans carry: digits on open paint."""
    number = "".join(rng.choice(list(DIGITS), int(rng.integers(5, 8))))
    m = _small_text(number, int(rng.integers(30, 44)), FACES[int(rng.integers(2))])
    ink = (245, 245, 245) if sum(body) < 380 else (20, 20, 20)
    _paste(canvas, m, cx - 230, cy - 170, ink)


def _sign(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """A roadside sign: lines of one height stacked on one board, digits among them."""
    lines = [f"UNIT {rng.integers(10, 99)}{rng.choice(list('ABC'))}", f"CALL {rng.integers(200, 999)} "
             f"{rng.integers(1000, 9999)}", f"OPEN {rng.integers(6, 10)} TO {rng.integers(5, 11)}"]
    height = int(rng.integers(22, 30))
    masks = [_small_text(line, height, FACES[0]) for line in lines]
    w = max(m.shape[1] for m in masks) + 40
    x0, y0 = 1280 - w - 30, 40
    canvas[y0:y0 + 3 * int(height * 1.6) + 30, x0:x0 + w] = (235, 235, 225)
    for i, m in enumerate(masks):
        _paste(canvas, m, x0 + 20, y0 + 15 + i * int(height * 1.6), (30, 60, 30))


def _two_sizes(rng: np.random.Generator, canvas: np.ndarray) -> None:
    """A shop's line in two sizes on a panel: small letters beside big digits (No 1234)."""
    small = _small_text(str(rng.choice(["NO", "LOT", "BAY", "GATE"])), int(rng.integers(18, 22)), FACES[0])
    big = _small_text("".join(rng.choice(list(DIGITS), 4)), int(rng.integers(34, 40)), FACES[0])
    x0, y0 = 40, 60
    w = small.shape[1] + big.shape[1] + 50
    canvas[y0:y0 + big.shape[0] + 30, x0:x0 + w] = (230, 230, 230)
    _paste(canvas, small, x0 + 15, y0 + 15 + big.shape[0] - small.shape[0], (20, 20, 120))
    _paste(canvas, big, x0 + 30 + small.shape[1], y0 + 15, (20, 20, 120))


def _badge(rng: np.random.Generator, canvas: np.ndarray, body, cx: int, cy: int) -> None:
    """A model badge on the boot lid, chrome on paint: short, digits among letters (323i, 2.0 TDI)."""
    word = str(rng.choice(["323i", "V6 LE", "2.0 TDI", "GT 350", "520d", "4x4", "S60", "RS 4"]))
    m = _small_text(word, int(rng.integers(20, 30)), FACES[0])
    x, y = cx + int(rng.integers(60, 140)), cy - int(rng.integers(40, 70))
    _paste(canvas, m, x + 1, y + 1, (30, 30, 30))  # the chrome's shadow
    _paste(canvas, m, x, y, (205, 205, 210))


SCENE_TEXT = {"fleet": _fleet_number, "badge": _badge, "sign": _sign, "two_sizes": _two_sizes}


def road_scene(seed: int, kind: str | None, plate_width: int = 170, stamp: str = "", text_on: str = ""
               ) -> tuple[np.ndarray, str, tuple[int, int, int, int] | None]:
    """The plate (none for kind None) on the back of a car in a 1280x720 frame, lightly tilted,
    blurred and noisy, with a `stamp` (a STAMPS key) in the bottom-left corner and `text_on`
    (a SCENE_TEXT key) on the car or beside the road; the plate's box."""
    rng = np.random.default_rng([seed, 11, KINDS.index(kind) if kind else 9])
    frame, body, (cx, cy) = car(rng, body_max=200)
    text, box = "", None
    if kind is not None:
        plate, text = render_us(seed, kind)
        box = mount(frame, plate, rng, (cx, cy), plate_width)
    if text_on:
        canvas = frame.astype(np.float32)
        if text_on in ("fleet", "badge"):
            SCENE_TEXT[text_on](rng, canvas, body, cx, cy)
        else:
            SCENE_TEXT[text_on](rng, canvas)
        frame = canvas.astype(np.uint8)
    if stamp:
        canvas = frame.astype(np.float32)
        m = _small_text(STAMPS[stamp](rng), 26, FACES[1])
        _paste(canvas, m, 24, 720 - 24 - m.shape[0], (240, 240, 240))
        frame = canvas.astype(np.uint8)
    return finish(frame, rng, blur_max=0.8, quality_min=75), text, box

if __name__ == "__main__":
    import sys
    from pathlib import Path

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/us")
    out.mkdir(parents=True, exist_ok=True)
    for seed in range(4):
        for kind in KINDS:
            scene, text, _ = road_scene(seed, kind, stamp=(*STAMPS, "")[seed % (len(STAMPS) + 1)])
            cv2.imwrite(str(out / f"{kind}-{seed}-{text}.jpg"), scene)
