"""Synthetic licence-plate text rows for fine-tuning the plate recognizer.

Every sample is a deterministic function of one integer seed:

    image, label = render(seed)      # image: HxWx3 uint8 BGR, label: str

`image` is what the recognizer is given at run time: the rectified character
row a text detector finds on a plate (tight or loose, sometimes with a piece of
the plate border, the state name or a sticker in it), or now and then the whole
plate, or a small line of other plate text (state name, slogan, dealer frame).
`label` is the registration characters only (A-Z0-9, no spaces or dashes) for
plate rows and whole plates, and the text itself for the other lines.

Fonts: the DejaVu faces the machine has, and (since v3) SIL-OFL condensed
plate-like faces from the npm @fontsource packages listed in PLATE_FONTS_V3,
read from the folder named by the environment variable PLATE_FONTS_DIR
(see models/TRAINING.md for the npm command). Unset or empty, it gives the
v2 generator's DejaVu-only registrations: v3 did not read real plates
better, and the v2 command keeps making the same file. Nothing else is
read; no benchmark image is used or looked at.

    python models/train/render_plates.py OUT_DIR --count 64 --seed 0   # writes PNGs to look at
"""

from __future__ import annotations

import argparse
import glob
import math
import os
import sys
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

# The rows are cut exactly as the unit cuts them, by the project's own code.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from edge_agent.vision.ocr import rectify  # noqa: E402

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
# Weight: how often each font is picked for the registration characters.
PLATE_FONTS = {
    "DejaVuSansCondensed-Bold.ttf": 5, "DejaVuSansCondensed.ttf": 3, "DejaVuSans-Bold.ttf": 4,
    "DejaVuSans.ttf": 2, "DejaVuSansMono-Bold.ttf": 4, "DejaVuSansMono.ttf": 2,
    "DejaVuSerifCondensed-Bold.ttf": 1, "DejaVuSerif-Bold.ttf": 1, "DejaVuSans-BoldOblique.ttf": 0.5,
    "DejaVuSansCondensed-BoldOblique.ttf": 0.5, "DejaVuSansMono-BoldOblique.ttf": 0.3,
    "DejaVuSerifCondensed.ttf": 0.5,
}
SMALL_FONTS = sorted(Path(p).name for p in glob.glob(f"{FONT_DIR}/DejaVu*.ttf") if "Math" not in p)

# v3: condensed plate-like faces (SIL OFL 1.1, npm @fontsource/* 5.3.0, latin subset .woff,
# which PIL/FreeType loads directly). US plates use narrow DIN / Highway-Gothic-like
# sans faces (Overpass is a Highway Gothic revival), EU plates DIN 1451 / FE-Schrift-like ones.
# (package, weights, pick weight per weight); the list order is fixed, so a seed
# always draws the same face.
PLATE_FONTS_V3 = [
    ("overpass", (500, 600, 700, 800), 1.2),
    ("roboto-condensed", (500, 600, 700), 1.0),
    ("barlow-condensed", (500, 600, 700, 800), 1.0),
    ("barlow-semi-condensed", (500, 600, 700), 1.0),
    ("oswald", (400, 500, 600), 1.0),
    ("archivo-narrow", (500, 600, 700), 0.8),
    ("fira-sans-condensed", (500, 600, 700), 0.8),
    ("ibm-plex-sans-condensed", (500, 600, 700), 0.8),
    ("saira-condensed", (500, 600, 700), 0.8),
    ("saira-extra-condensed", (500, 600, 700), 0.6),
    ("pt-sans-narrow", (400, 700), 0.8),
    ("big-shoulders-text", (600, 700, 800), 0.7),
    ("b612", (400, 700), 0.5),
]
DEJAVU_SHARE = 0.2  # with v3 fonts: share of registrations still drawn in DejaVu faces
PLATE_FONTS_DIR = os.environ.get("PLATE_FONTS_DIR", "")


def _v3_fonts() -> list[tuple[str, float]]:
    """[(absolute font path, pick weight)] of the v3 faces; [] when PLATE_FONTS_DIR is empty."""
    if not PLATE_FONTS_DIR:
        return []
    out = []
    for pkg, weights, w in PLATE_FONTS_V3:
        for wt in weights:
            path = Path(PLATE_FONTS_DIR) / pkg / "files" / f"{pkg}-latin-{wt}-normal.woff"
            if not path.is_file():
                raise SystemExit(f"missing font {path}: fetch the fonts (models/TRAINING.md) "
                                 "or unset PLATE_FONTS_DIR for DejaVu only")
            out.append((str(path), w / len(weights)))
    return out


V3_FONTS = _v3_fonts()
V3_SMALL = [p for p, _ in V3_FONTS]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
ALNUM = LETTERS + DIGITS
SERIAL_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"

STATES = [
    "ALABAMA", "ALASKA", "ARIZONA", "ARKANSAS", "California", "CALIFORNIA", "COLORADO", "CONNECTICUT",
    "DELAWARE", "FLORIDA", "Florida", "GEORGIA", "HAWAII", "IDAHO", "ILLINOIS", "Illinois", "INDIANA", "IOWA",
    "KANSAS", "KENTUCKY", "LOUISIANA", "MAINE", "MARYLAND", "MASSACHUSETTS", "MICHIGAN", "Michigan",
    "MINNESOTA", "MISSISSIPPI", "MISSOURI", "MONTANA", "NEBRASKA", "NEVADA", "NEW HAMPSHIRE", "NEW JERSEY",
    "New Jersey", "NEW MEXICO", "NEW YORK", "New York", "NORTH CAROLINA", "NORTH DAKOTA", "OHIO", "Ohio",
    "OKLAHOMA", "OREGON", "PENNSYLVANIA", "Pennsylvania", "RHODE ISLAND", "SOUTH CAROLINA", "SOUTH DAKOTA",
    "TENNESSEE", "TEXAS", "Texas", "UTAH", "VERMONT", "VIRGINIA", "Virginia", "WASHINGTON", "Washington",
    "WEST VIRGINIA", "WISCONSIN", "WYOMING",
]
SLOGANS = [
    "Sunshine State", "Land of Lincoln", "Great Lakes", "dmv.ca.gov", "Empire State", "Garden State",
    "The Lone Star State", "Famous Potatoes", "Live Free or Die", "Vacationland", "Grand Canyon State",
    "First in Flight", "Keystone State", "visitPA.com", "Peach State", "Wild Wonderful", "America's Dairyland",
    "Show Me State", "Evergreen State", "Ocean State", "Green Mountain State", "Heart of Dixie",
    "The Natural State", "Centennial", "Explore Minnesota", "Pure Michigan", "Beautiful", "COUNTY",
    "DEALER", "APPORTIONED", "COMMERCIAL", "TRUCK", "TRAILER", "PASSENGER", "Choose Life", "In God We Trust",
]
DEALERS = [
    "TOYOTA OF ORANGE", "HONDA CITY", "FORD COUNTRY", "BMW OF NORTH AMERICA", "AutoNation", "CarMax",
    "Sun Chevrolet", "Lexus of Westminster", "NISSAN", "SUBARU OF AMERICA", "Hyundai", "KIA MOTORS",
    "Mercedes-Benz of Austin", "Bob's Auto Sales", "VOLKSWAGEN", "Jeep Chrysler Dodge", "GO BEARS",
    "I'd rather be fishing", "WWW.DEALER.COM", "555-1234",
]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
EU_CODES = ["D", "F", "NL", "I", "E", "B", "P", "PL", "CZ", "SK", "A", "L", "GB", "IRL", "H", "RO"]

US_FORMATS = [
    ("DLLLDDD", 10), ("LLLDDDD", 6), ("LLLDDD", 5), ("DDDLLL", 3), ("DLLDDD", 2), ("LLDDDDD", 2),
    ("DDDDLL", 1), ("LLDDDD", 1), ("DDLLLD", 1), ("LDDLLL", 1), ("DDDLDD", 1), ("LLLDDL", 1),
    ("DDDDDD", 1), ("LDDDDD", 1), ("DDLLDD", 1), ("LLLLDD", 1), ("DLLLDD", 1), ("DDDLLLL", 1),
    ("LLDLDD", 1), ("DLDDDD", 1), ("VANITY", 4), ("MIXED", 4),
]
EU_FORMATS = [("DDDDLLL", 4), ("LLDDDLL", 4), ("LLDDLLL", 3), ("LDDDDLL", 1), ("LLLDDDD", 2),
              ("DLLDDDD", 1), ("LLDDDD", 1), ("LLLDDD", 1), ("LDDDLLL", 1), ("MIXED", 2)]

# A real detector row is the character row; US plates are ~2:1 and their
# registration is ~45% of the height, EU plates ~4.7:1 with ~70% text height.


def _pick(rng: np.random.Generator, weighted):
    items = [w[0] for w in weighted]
    p = np.array([w[1] for w in weighted], float)
    return items[rng.choice(len(items), p=p / p.sum())]


@lru_cache(maxsize=256)
def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(name if name.startswith("/") else f"{FONT_DIR}/{name}", size)


def plate_text(rng: np.random.Generator, region: str) -> tuple[str, list[int]]:
    """The registration, and where a gap (space, dash or emblem) goes after which characters."""
    fmt = _pick(rng, US_FORMATS if region == "us" else EU_FORMATS)
    if fmt == "VANITY":
        n = int(rng.integers(2, 8))
        text = "".join(rng.choice(list(LETTERS if rng.random() < 0.6 else ALNUM), n))
        return text, []
    if fmt == "MIXED":
        n = int(rng.integers(4, 8))
        return "".join(rng.choice(list(ALNUM), n)), []
    # Most US states and EU countries leave I, O and Q (look-alikes of 1 and 0)
    # out of their serial formats; vanity and odd plates above keep them.
    letters = SERIAL_LETTERS if rng.random() < 0.85 else LETTERS
    text = "".join(rng.choice(list(DIGITS if c == "D" else letters)) for c in fmt)
    gaps = []
    # A gap where letters and digits meet, as many plates print it.
    changes = [i for i in range(1, len(fmt)) if fmt[i] != fmt[i - 1]]
    if changes and rng.random() < (0.8 if region == "eu" else 0.4):
        gaps = list(rng.choice(changes, size=min(len(changes), int(rng.integers(1, 3))), replace=False))
    return text, sorted(int(g) for g in gaps)


def _colours(rng: np.random.Generator, region: str):
    """(background, foreground) RGB."""
    r = rng.random()
    if region == "eu":
        bg = (int(rng.integers(225, 256)),) * 3 if r < 0.75 else (250, int(rng.integers(195, 225)), 20)
        return bg, (int(rng.integers(0, 40)),) * 3
    if r < 0.55:  # dark on white or light tint
        bg = tuple(int(v) for v in rng.integers(200, 256, 3))
        fg = [(20, 30, 120), (15, 15, 15), (120, 20, 20), (10, 60, 20), (30, 40, 90)][int(rng.integers(5))]
    elif r < 0.70:  # dark on yellow / orange
        bg = (int(rng.integers(220, 256)), int(rng.integers(180, 230)), int(rng.integers(0, 90)))
        fg = [(15, 15, 15), (20, 30, 110)][int(rng.integers(2))]
    elif r < 0.80:  # dark on pale blue / green / pink art
        bg = tuple(int(v) for v in rng.integers(150, 240, 3))
        fg = (int(rng.integers(0, 50)), int(rng.integers(0, 50)), int(rng.integers(0, 90)))
    else:  # light on dark
        bg = tuple(int(v) for v in rng.integers(0, 90, 3))
        fg = tuple(int(v) for v in rng.integers(200, 256, 3))
    return bg, fg


def _background(rng: np.random.Generator, w: int, h: int, bg) -> np.ndarray:
    img = np.empty((h, w, 3), np.float32)
    img[:] = bg
    if rng.random() < 0.5:  # vertical or horizontal gradient
        g = np.linspace(-1, 1, h if rng.random() < 0.6 else w, dtype=np.float32)
        amp = rng.uniform(10, 50) * rng.choice([-1, 1])
        if len(g) == h:
            img += (g * amp)[:, None, None]
        else:
            img += (g * amp)[None, :, None]
    if rng.random() < 0.35:  # scenic art: a few soft coloured blobs / waves
        layer = np.zeros((h, w, 3), np.float32)
        for _ in range(int(rng.integers(1, 4))):
            col = rng.uniform(-90, 60, 3)
            cx, cy = int(rng.integers(0, w)), int(rng.integers(0, h))
            ax, ay = int(rng.integers(w // 8, w // 2)), int(rng.integers(h // 8, h // 2))
            mask = np.zeros((h, w), np.uint8)
            cv2.ellipse(mask, (cx, cy), (ax, ay), float(rng.uniform(0, 180)), 0, 360, 255, -1)
            mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, h / 15)).astype(np.float32) / 255
            layer += mask[..., None] * col
        img += layer * rng.uniform(0.3, 0.8)
    return np.clip(img, 0, 255)


def _draw_text_mask(text: str, font_name: str, size: int, stroke: int, tracking: float, gaps: list[int],
                    gap_w: float) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """White-on-black mask of the text drawn character by character; returns per-gap x ranges."""
    font = _font(font_name, size)
    ascent, descent = font.getmetrics()
    widths = [font.getlength(c) for c in text]
    total = sum(widths) + tracking * size * (len(text) - 1) + gap_w * size * len(gaps) + 2 * stroke + 4
    img = Image.new("L", (int(math.ceil(total)) + 4, ascent + descent + 2 * stroke + 4), 0)
    d = ImageDraw.Draw(img)
    x = 2 + stroke
    gap_spans = []
    for i, (c, cw) in enumerate(zip(text, widths)):
        if i in gaps:
            gap_spans.append((int(x), int(x + gap_w * size)))
            x += gap_w * size
        d.text((x, 2 + stroke), c, fill=255, font=font, stroke_width=stroke, stroke_fill=255)
        x += cw + tracking * size
    mask = np.array(img)
    ys, xs = np.nonzero(mask > 40)
    if len(ys) == 0:
        return mask, gap_spans
    y0, y1 = ys.min(), ys.max() + 1
    x0 = xs.min()
    return mask[y0:y1, x0:xs.max() + 1], [(a - x0, b - x0) for a, b in gap_spans]


def _paste(canvas: np.ndarray, mask: np.ndarray, x: int, y: int, colour) -> None:
    h, w = mask.shape
    H, W = canvas.shape[:2]
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    if x1 <= x0 or y1 <= y0:
        return
    m = mask[y0 - y:y1 - y, x0 - x:x1 - x].astype(np.float32)[..., None] / 255
    canvas[y0:y1, x0:x1] = canvas[y0:y1, x0:x1] * (1 - m) + np.array(colour, np.float32) * m


def _small_text(rng: np.random.Generator, text: str, height: int) -> np.ndarray:
    font_name = SMALL_FONTS[int(rng.integers(len(SMALL_FONTS)))]
    if V3_SMALL and rng.random() < 0.5:
        font_name = V3_SMALL[int(rng.integers(len(V3_SMALL)))]
    mask, _ = _draw_text_mask(text, font_name, max(8, int(height * 1.25)), 0, 0.0, [], 0)
    if mask.size == 0 or mask.shape[0] < 2:
        return np.zeros((max(2, height), 2), np.uint8)
    scale = height / mask.shape[0]
    sx = scale * rng.uniform(0.8, 1.2)
    return cv2.resize(mask, (max(2, int(mask.shape[1] * sx)), max(2, height)), interpolation=cv2.INTER_AREA)


def _small_line(rng: np.random.Generator, lines, plate_w: int, plate_h: int,
                low: float, high: float) -> tuple[str, np.ndarray, int]:
    """One of `lines`, `low`-`high` of the plate's height tall and at most 90% of its width.

    Returns the text, its mask and the height drawn; the random draws are the
    ones the state-name and slogan blocks made inline, in the same order.
    """
    text = lines[int(rng.integers(len(lines)))]
    height = int(plate_h * rng.uniform(low, high))
    mask = _small_text(rng, text, height)
    if mask.shape[1] > plate_w * 0.9:
        mask = cv2.resize(mask, (int(plate_w * 0.9), height))
    return text, mask, height


def render_plate(rng: np.random.Generator, region: str):
    """A frontal plate. Returns (RGB float image, registration, char-row box (x0, y0, x1, y1), extra lines).

    extra lines: [(text, (x0, y0, x1, y1))] of the small texts drawn on it.
    """
    text, gaps = plate_text(rng, region)
    if region == "us":
        W, H = 480, int(240 * rng.uniform(0.9, 1.1))
    else:
        W, H = int(520 * rng.uniform(0.9, 1.05)), int(112 * rng.uniform(0.95, 1.2))
    bg, fg = _colours(rng, region)
    canvas = _background(rng, W, H, bg)
    left = 0
    extras = []
    if region == "eu":  # blue strip with stars and a country code
        sw = int(W * rng.uniform(0.075, 0.095))
        canvas[:, :sw] = (20, 50, int(rng.integers(140, 200)))
        cx, cy, r = sw // 2, int(H * 0.3), sw * 0.3
        for k in range(12):
            a = 2 * math.pi * k / 12
            cv2.circle(canvas, (int(cx + r * math.cos(a)), int(cy + r * math.sin(a))), max(1, sw // 22),
                       (250, 210, 0), -1)
        code = EU_CODES[int(rng.integers(len(EU_CODES)))]
        cm = _small_text(rng, code, int(H * 0.25))
        cm = cv2.resize(cm, (min(cm.shape[1], sw - 4), cm.shape[0]))
        _paste(canvas, cm, (sw - cm.shape[1]) // 2, int(H * 0.58), (255, 255, 255))
        left = sw
    # Registration characters.
    condensed = bool(V3_FONTS) and rng.random() >= DEJAVU_SHARE
    font_name = _pick(rng, V3_FONTS if condensed else list(PLATE_FONTS.items()))
    size = 96
    stroke = int(rng.choice([0, 0, 0, 1, 2, 3]))
    gap_w = rng.uniform(0.2, 0.7)
    mask, gap_spans = _draw_text_mask(text, font_name, size, stroke, rng.uniform(-0.02, 0.15), gaps, gap_w)
    char_h = H * (rng.uniform(0.38, 0.55) if region == "us" else rng.uniform(0.62, 0.78))
    # Plate fonts are narrow: squeeze horizontally, sometimes a lot (California).
    # (The v3 faces are already condensed: squeeze them less.)
    aspect = rng.uniform(0.72, 1.15) if condensed else rng.uniform(0.55, 1.1)
    tw = mask.shape[1] * char_h / mask.shape[0] * aspect
    avail = (W - left) * rng.uniform(0.72, 0.94)
    if tw > avail:
        tw = avail
    th = int(round(char_h))
    tw = max(4, int(round(tw)))
    orig_w = mask.shape[1]
    mask = cv2.resize(mask, (tw, th), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.3:  # vary stroke weight
        k = np.ones((2, 2) if rng.random() < 0.7 else (3, 3), np.uint8)
        mask = cv2.dilate(mask, k) if rng.random() < 0.5 else cv2.erode(mask, k)
    x = int(left + (W - left - tw) / 2 + rng.uniform(-0.04, 0.04) * W)
    x = int(np.clip(x, left + 2, W - tw - 2))
    if region == "us":
        y = int(H * rng.uniform(0.26, 0.36))
    else:
        y = int((H - th) / 2 + rng.uniform(-0.05, 0.05) * H)
    y = int(np.clip(y, 1, H - th - 1))
    if rng.random() < 0.15:  # embossed look: dark shadow offset
        _paste(canvas, mask, x + 2, y + 2, tuple(max(0, c - 80) for c in bg))
    _paste(canvas, mask, x, y, fg)
    row = (x, y, x + tw, y + th)
    # Emblem in a gap (a state outline, a heart, a dash), sometimes.
    scale_x = tw / max(1, orig_w)
    for a, b in gap_spans:
        gx = x + int((a + b) / 2 * scale_x)
        r = rng.random()
        if r < 0.25:
            cv2.line(canvas, (gx - th // 8, y + th // 2), (gx + th // 8, y + th // 2), fg, max(2, th // 12))
        elif r < 0.45:
            col = tuple(int(v) for v in rng.integers(0, 256, 3))
            cv2.circle(canvas, (gx, y + th // 2), max(3, th // 6), col, -1)
        elif r < 0.55 and region == "eu":
            cv2.circle(canvas, (gx, y + th // 2), max(3, th // 7), (60, 60, 160), -1)
    if region == "us":
        # State name above, slogan below.
        if rng.random() < 0.85:
            st, m, sh = _small_line(rng, STATES, W, H, 0.09, 0.2)
            sx = int((W - m.shape[1]) / 2 + rng.uniform(-0.05, 0.05) * W)
            sy = int(max(1, y - sh - H * rng.uniform(0.03, 0.1)))
            col = fg if rng.random() < 0.5 else tuple(int(v) for v in rng.integers(0, 256, 3))
            _paste(canvas, m, sx, sy, col)
            extras.append((st, (sx, sy, sx + m.shape[1], sy + sh)))
        if rng.random() < 0.6:
            sl, m, sh = _small_line(rng, SLOGANS, W, H, 0.07, 0.13)
            sx = int((W - m.shape[1]) / 2)
            sy = int(min(H - sh - 2, y + th + H * rng.uniform(0.04, 0.12)))
            _paste(canvas, m, sx, sy, fg)
            extras.append((sl, (sx, sy, sx + m.shape[1], sy + sh)))
        # Registration stickers in the corners.
        for corner in range(2):
            if rng.random() < 0.45:
                sw_, sh_ = int(W * rng.uniform(0.08, 0.14)), int(H * rng.uniform(0.1, 0.17))
                sx = int(W * 0.03) if corner == 0 else int(W * 0.97) - sw_
                sy = int(H * rng.uniform(0.03, 0.1)) if rng.random() < 0.7 else int(H * 0.75)
                col = tuple(int(v) for v in rng.integers(0, 256, 3))
                cv2.rectangle(canvas, (sx, sy), (sx + sw_, sy + sh_), col, -1)
                s = MONTHS[int(rng.integers(12))] if corner == 0 else f"{int(rng.integers(0, 30)):02d}"
                m = _small_text(rng, s, int(sh_ * 0.7))
                m = cv2.resize(m, (min(m.shape[1], sw_ - 2), m.shape[0]))
                _paste(canvas, m, sx + 1, sy + int(sh_ * 0.15), (0, 0, 0) if sum(col) > 380 else (255, 255, 255))
        # Bolts.
        if rng.random() < 0.6:
            by = int(H * rng.uniform(0.08, 0.2))
            for bx in (int(W * 0.25), int(W * 0.75)):
                r = max(3, int(H * 0.035))
                cv2.circle(canvas, (bx + int(rng.integers(-8, 9)), by), r, (150, 150, 150), -1)
                cv2.circle(canvas, (bx, by), max(1, r // 2), (70, 70, 70), -1)
    # Embossed rim.
    if rng.random() < 0.6:
        cv2.rectangle(canvas, (2, 2), (W - 3, H - 3), fg if rng.random() < 0.5 else (90, 90, 90),
                      int(rng.integers(1, 5)))
    return canvas, text, row, extras


def _add_frame(rng: np.random.Generator, canvas: np.ndarray, row, extras):
    """Surround the plate with a (dealer) frame and some car body; shifts coordinates."""
    H, W = canvas.shape[:2]
    top, side = int(H * rng.uniform(0.03, 0.12)), int(W * rng.uniform(0.02, 0.06))
    bottom = int(H * rng.uniform(0.05, 0.22))
    body = tuple(float(v) for v in rng.integers(0, 256, 3))
    out = np.empty((H + top + bottom, W + 2 * side, 3), np.float32)
    out[:] = body
    dealer = []
    if rng.random() < 0.7:  # a frame
        fc = tuple(float(v) for v in (rng.integers(0, 60, 3) if rng.random() < 0.6 else rng.integers(150, 256, 3)))
        cv2.rectangle(out, (0, 0), (out.shape[1] - 1, out.shape[0] - 1), fc, -1)
        if bottom > 10 and rng.random() < 0.7:
            dt = DEALERS[int(rng.integers(len(DEALERS)))]
            m = _small_text(rng, dt, int(bottom * 0.6))
            if m.shape[1] > out.shape[1] * 0.9:
                m = cv2.resize(m, (int(out.shape[1] * 0.9), m.shape[0]))
            dx = (out.shape[1] - m.shape[1]) // 2
            dy = H + top + int(bottom * 0.2)
            tc = (255, 255, 255) if sum(fc) < 380 else (0, 0, 0)
            _paste(out, m, dx, dy, tc)
            dealer = [(dt, (dx, dy, dx + m.shape[1], dy + m.shape[0]))]
    out[top:top + H, side:side + W] = canvas
    shifted = [(t, (a + side, b + top, c + side, d + top)) for t, (a, b, c, d) in extras] + dealer
    x0, y0, x1, y1 = row
    return out, (x0 + side, y0 + top, x1 + side, y1 + top), shifted


def _homography(rng: np.random.Generator, w: int, h: int, strength: float) -> np.ndarray:
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float32)
    jitter = rng.uniform(-strength, strength, (4, 2)) * np.array([w, h], np.float32) * np.array([0.5, 1.0])
    ang = math.radians(rng.uniform(-6, 6))
    c, s = math.cos(ang), math.sin(ang)
    centre = np.array([w / 2, h / 2], np.float32)
    rot = (src - centre) @ np.array([[c, s], [-s, c]], np.float32) + centre
    dst = rot + jitter
    dst -= dst.min(0)
    return cv2.getPerspectiveTransform(src, dst.astype(np.float32))


def _warp_pts(M: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float32), M).reshape(-1, 2)


def _degrade(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """Camera effects on an RGB float image (already at its final, small size)."""
    h, w = img.shape[:2]
    r = rng.random()
    if r < 0.15:  # night / infrared: grey, high contrast, maybe glare
        g = img.mean(2, keepdims=True)
        g = (g - g.mean()) * rng.uniform(1.2, 2.2) + g.mean() + rng.uniform(-30, 40)
        img = np.repeat(g, 3, 2)
        if rng.random() < 0.5:
            gx, gy = rng.uniform(0, w), rng.uniform(0, h)
            yy, xx = np.mgrid[0:h, 0:w]
            d = ((xx - gx) ** 2 + (yy - gy) ** 2) / (2 * (max(w, h) * rng.uniform(0.1, 0.4)) ** 2)
            img = img + (np.exp(-d) * rng.uniform(60, 160))[..., None]
    elif r < 0.3:  # grey camera
        img = np.repeat(img.mean(2, keepdims=True), 3, 2)
    # Contrast and brightness.
    c = rng.uniform(0.45, 1.15) if rng.random() < 0.5 else 1.0
    img = (img - 128) * c + 128 + rng.uniform(-50, 40)
    if rng.random() < 0.3:  # colour cast
        img = img + rng.uniform(-25, 25, 3)
    if rng.random() < 0.25:  # shadow across part of the row
        x = int(rng.uniform(0, w))
        img[:, x:] *= rng.uniform(0.4, 0.8) if rng.random() < 0.5 else 1.0
        if rng.random() < 0.5:
            img[:, :x] *= rng.uniform(0.5, 0.9)
    img = np.clip(img, 0, 255).astype(np.uint8)
    # Blur.
    r = rng.random()
    if r < 0.35:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0) * max(1.0, h / 40))
    elif r < 0.5:
        k = int(rng.integers(2, max(3, int(h / 10)) + 1))
        kern = np.zeros((k, k), np.float32)
        if rng.random() < 0.7:
            kern[k // 2, :] = 1
        else:
            kern[:, k // 2] = 1
        img = cv2.filter2D(img, -1, kern / kern.sum())
    # Noise.
    if rng.random() < 0.5:
        img = np.clip(img.astype(np.float32) + rng.normal(0, rng.uniform(2, 10), img.shape), 0, 255).astype(np.uint8)
    # JPEG.
    if rng.random() < 0.6:
        q = int(rng.integers(12, 90))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, q])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img


def render(seed: int) -> tuple[np.ndarray, str]:
    """One training sample: (BGR uint8 image, label)."""
    rng = np.random.default_rng([seed, 20261124])
    region = "us" if rng.random() < 0.72 else "eu"
    canvas, text, row, extras = render_plate(rng, region)
    if rng.random() < 0.45:
        canvas, row, extras = _add_frame(rng, canvas, row, extras)
    kind = rng.random()
    if kind < 0.12:
        target, label = (0, 0, canvas.shape[1], canvas.shape[0]), text  # whole plate
    elif kind < 0.22 and extras:
        label, target = extras[int(rng.integers(len(extras)))]  # a small line of other text
    else:
        target, label = row, text
    H, W = canvas.shape[:2]
    M = _homography(rng, W, H, rng.uniform(0.0, 0.12))
    corners = _warp_pts(M, np.array([[0, 0], [W, 0], [W, H], [0, H]], np.float32))
    out_w, out_h = int(np.ceil(corners[:, 0].max())) + 1, int(np.ceil(corners[:, 1].max())) + 1
    bgc = tuple(float(v) for v in rng.integers(0, 256, 3))
    warped = cv2.warpPerspective(canvas, M, (out_w, out_h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_CONSTANT, borderValue=bgc)
    # The detector's quad around the target, with its own looseness.
    x0, y0, x1, y1 = target
    th = y1 - y0
    whole = target == (0, 0, W, H)
    if whole:
        mx = [rng.uniform(-0.02, 0.08) * W for _ in range(2)]
        my = [rng.uniform(-0.02, 0.08) * H for _ in range(2)]
    else:
        tight = rng.random() < 0.5
        mx = [th * (rng.uniform(0.03, 0.25) if tight else rng.uniform(0.1, 0.9)) for _ in range(2)]
        my = [th * (rng.uniform(0.0, 0.15) if tight else rng.uniform(0.05, 0.45)) for _ in range(2)]
    box = np.array([[x0 - mx[0], y0 - my[0]], [x1 + mx[1], y0 - my[0]], [x1 + mx[1], y1 + my[1]],
                    [x0 - mx[0], y1 + my[1]]], np.float32)
    quad = _warp_pts(M, box)
    if rng.random() < 0.5:  # the detector's box is a rotated rectangle, not the exact perspective quad
        rect = cv2.minAreaRect(quad)
        pts = cv2.boxPoints(rect)
        s = pts.sum(1)
        d = np.diff(pts, axis=1).ravel()
        quad = np.array([pts[s.argmin()], pts[d.argmin()], pts[s.argmax()], pts[d.argmax()]], np.float32)
    quad += rng.normal(0, 0.01 * th, quad.shape).astype(np.float32)
    crop = rectify(warped.astype(np.float32), quad)
    # Resolution: the text in the real crops is often only 10-30 px tall.
    ch = crop.shape[0] * (th / max(1.0, (y1 - y0 + my[0] + my[1])))
    target_h = rng.uniform(11, 48) if not whole else rng.uniform(16, 60)
    s = min(1.0, target_h / max(1.0, ch))
    if s < 1.0:
        small = cv2.resize(crop, (max(4, int(crop.shape[1] * s)), max(4, int(crop.shape[0] * s))),
                           interpolation=cv2.INTER_AREA)
    else:
        small = crop
    img = _degrade(rng, small)
    return cv2.cvtColor(img, cv2.COLOR_RGB2BGR), label


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "labels.tsv", "w") as f:
        for i in range(args.seed, args.seed + args.count):
            img, label = render(i)
            cv2.imwrite(str(args.out / f"{i:07d}.png"), img)
            f.write(f"{i:07d}.png\t{label}\n")


if __name__ == "__main__":
    main()
