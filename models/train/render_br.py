"""Brazilian plates, rendered: the old grey series (ABC-1234) and Mercosul (ABC1D23).

No Brazilian photo is in ../shared, so the reader's handling of Brazil's
formats (edge_agent/vision/regions.py) is checked on these. Both are 400x130 mm:

- old (1990-2018): grey, black characters with a dash between letters and
  digits, the city and state in a strip above ("SP - SAO PAULO");
- Mercosul (2018-): white, a blue band across the top with BRASIL in white
  and the flag at its right, black characters (red on commercial plates).

    plate, text = render_br(seed, "old" | "mercosul")    # BGR uint8, registration
    scene, text, box = road_scene(seed, kind)            # the plate on a car in a 1280x720 frame

Deterministic per seed. Uses DejaVu Sans Bold and Sans Mono Bold (Debian
fonts-dejavu-core): Brazil's own faces (Mandatory, FE-Schrift) are not free
fonts.
"""

from __future__ import annotations

import numpy as np
import cv2

from render_plates import _draw_text_mask, _paste  # noqa: E402 (a sibling script)
from scene import on_the_road  # noqa: E402

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
CITIES = ["SP - SAO PAULO", "RJ - RIO DE JANEIRO", "MG - BELO HORIZONTE", "PR - CURITIBA", "RS - PORTO ALEGRE",
          "BA - SALVADOR", "SC - JOINVILLE", "GO - GOIANIA", "PE - RECIFE", "DF - BRASILIA"]
# Debian's fonts-dejavu-core has these two on every machine, so a seed draws
# the same plate everywhere; squeezed, as plate faces are narrow.
FACES = ("DejaVuSans-Bold.ttf", "DejaVuSansMono-Bold.ttf")
W, H = 520, 169  # 400 x 130 mm at 1.3 px/mm


def _small_text(text: str, height: int) -> np.ndarray:
    mask, _ = _draw_text_mask(text, FACES[0], max(8, int(height * 1.25)), 0, 0.0, [], 0)
    return cv2.resize(mask, (max(2, int(mask.shape[1] * height / mask.shape[0])), max(2, height)),
                      interpolation=cv2.INTER_AREA)


def registration(rng: np.random.Generator, kind: str) -> str:
    fmt = "LLLDDDD" if kind == "old" else "LLLDLDD"
    return "".join(rng.choice(list(DIGITS if c == "D" else LETTERS)) for c in fmt)


def render_br(seed: int, kind: str) -> tuple[np.ndarray, str]:
    """A frontal Brazilian plate (BGR uint8, about 520x169) and its registration."""
    if kind not in ("old", "mercosul"):
        raise ValueError(f"kind must be 'old' or 'mercosul', not {kind!r}")
    rng = np.random.default_rng([seed, 20261205, kind == "old"])
    text = registration(rng, kind)
    face = FACES[int(rng.integers(len(FACES)))]
    if kind == "old":
        grey = float(rng.integers(165, 215))
        canvas = np.full((H, W, 3), grey, np.float32)
        fg = (20.0, 20.0, 20.0)
        band = int(H * 0.22)
        city = CITIES[int(rng.integers(len(CITIES)))]
        m = _small_text(city, int(band * 0.7))
        m = cv2.resize(m, (min(m.shape[1], int(W * 0.8)), m.shape[0]))
        _paste(canvas, m, (W - m.shape[1]) // 2, int(band * 0.15), fg)
        gaps, top = [3], band
    else:
        canvas = np.full((H, W, 3), float(rng.integers(225, 256)), np.float32)
        commercial = rng.random() < 0.2
        fg = (170.0, 20.0, 20.0) if commercial else (15.0, 15.0, 15.0)
        band = int(H * 0.2)
        canvas[:band] = (20, 60, 160)
        m = _small_text("BRASIL", int(band * 0.7))
        _paste(canvas, m, (W - m.shape[1]) // 2, int(band * 0.15), (255, 255, 255))
        # The flag at the band's right, the Mercosur mark at its left.
        fx = W - int(band * 1.6) - 6
        cv2.rectangle(canvas, (fx, 4), (fx + int(band * 1.4), band - 4), (0, 150, 60), -1)
        cv2.fillConvexPoly(canvas, np.array([[fx + int(band * 0.7), 6], [fx + int(band * 1.35), band // 2],
                                             [fx + int(band * 0.7), band - 6], [fx + int(band * 0.05), band // 2]]),
                           (250, 210, 0))
        cv2.circle(canvas, (fx + int(band * 0.7), band // 2), max(2, band // 5), (20, 40, 140), -1)
        cv2.circle(canvas, (int(band * 0.8), band // 2), max(2, band // 3), (255, 255, 255), 2)
        gaps, top = [], band
    mask, _ = _draw_text_mask(text, face, 96, 0, rng.uniform(0.0, 0.08), gaps, 0.45)
    th = int((H - top) * rng.uniform(0.62, 0.72))
    tw = min(int(W * 0.9), int(mask.shape[1] * th / mask.shape[0] * rng.uniform(0.7, 0.9)))
    mask = cv2.resize(mask, (tw, th), interpolation=cv2.INTER_AREA)
    y = top + (H - top - th) // 2
    _paste(canvas, mask, (W - tw) // 2, y, fg)
    cv2.rectangle(canvas, (1, 1), (W - 2, H - 2), (40, 40, 40), 2)
    return cv2.cvtColor(np.clip(canvas, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR), text


def road_scene(seed: int, kind: str, plate_width: int = 150) -> tuple[np.ndarray, str, tuple[int, int, int, int]]:
    """The plate on the back of a car in a 1280x720 frame, lightly tilted, blurred and noisy; its box (x, y, w, h)."""
    plate, text = render_br(seed, kind)
    rng = np.random.default_rng([seed, 7, kind == "old"])
    scene, box = on_the_road(plate, rng, plate_width)
    return scene, text, box


if __name__ == "__main__":
    import sys
    from pathlib import Path

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/br")
    out.mkdir(parents=True, exist_ok=True)
    for seed in range(8):
        for kind in ("old", "mercosul"):
            scene, text, box = road_scene(seed, kind)
            cv2.imwrite(str(out / f"{kind}-{seed}-{text}.jpg"), scene)
