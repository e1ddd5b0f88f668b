"""Two-row plates, rendered: Brazilian motorcycles (old grey and Mercosul) and the UK's square rear plates.

No such plate is among the dev photos, and the reader's handling of them
(edge_agent/vision/two_rows.py) is checked on these:

- `br_old`: a grey 200x170 mm motorcycle plate, the city strip on top,
  ABC over 1234;
- `br_mercosul`: white, the blue BRASIL band on top, ABC over 1D23;
- `uk`: a yellow square rear plate (as on imported 4x4s and motorcycles),
  AB12 over CDE, in the current GB format.

    plate, text = render_two_rows(seed, kind)       # BGR uint8, the registration read top then bottom
    scene, text, box = road_scene(seed, kind)       # the plate on a vehicle in a 1280x720 frame

Deterministic per seed; DejaVu faces (Debian fonts-dejavu-core).
"""

from __future__ import annotations

import cv2
import numpy as np

from render_br import CITIES, FACES, _small_text, registration  # noqa: E402 (sibling scripts)
from render_plates import _draw_text_mask, _paste  # noqa: E402
from scene import on_the_road  # noqa: E402

KINDS = ("br_old", "br_mercosul", "uk")
LETTERS = "ABCDEFGHJKLMNOPRSTUVWXYZ"  # the UK leaves out I, Q and Z in some places; kept simple
W, H = 260, 220  # 200 x 170 mm at 1.3 px/mm


def _uk_registration(rng: np.random.Generator) -> str:
    letters = "ABCDEFGHJKLMNOPRSTUVWXY"
    return ("".join(rng.choice(list(letters), 2)) + f"{int(rng.integers(2, 75)):02d}"
            + "".join(rng.choice(list(letters), 3)))


def render_two_rows(seed: int, kind: str) -> tuple[np.ndarray, str]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    rng = np.random.default_rng([seed, 20261206, KINDS.index(kind)])
    face = FACES[int(rng.integers(len(FACES)))]
    if kind == "uk":
        text = _uk_registration(rng)
        rows, top = [text[:4], text[4:]], int(H * 0.06)
        canvas = np.full((H, W, 3), (255.0, 205.0, 30.0), np.float32)  # RGB: the rear plate's yellow
    else:
        text = registration(rng, "old" if kind == "br_old" else "mercosul")
        rows, top = [text[:3], text[3:]], int(H * 0.18)
        if kind == "br_old":
            canvas = np.full((H, W, 3), float(rng.integers(165, 215)), np.float32)
            m = _small_text(CITIES[int(rng.integers(len(CITIES)))], int(top * 0.6))
            m = cv2.resize(m, (min(m.shape[1], int(W * 0.85)), m.shape[0]))
            _paste(canvas, m, (W - m.shape[1]) // 2, int(top * 0.2), (20.0, 20.0, 20.0))
        else:
            canvas = np.full((H, W, 3), float(rng.integers(225, 256)), np.float32)
            canvas[:top] = (20, 60, 160)
            m = _small_text("BRASIL", int(top * 0.7))
            _paste(canvas, m, (W - m.shape[1]) // 2, int(top * 0.15), (255, 255, 255))
    row_h = int((H - top) * rng.uniform(0.34, 0.4))
    for i, row in enumerate(rows):
        mask, _ = _draw_text_mask(row, face, 96, 0, rng.uniform(0.02, 0.08), [], 0)
        tw = min(int(W * 0.88), int(mask.shape[1] * row_h / mask.shape[0] * rng.uniform(0.75, 0.9)))
        mask = cv2.resize(mask, (tw, row_h), interpolation=cv2.INTER_AREA)
        y = top + int((H - top) * 0.07) + i * int(row_h * 1.3)
        _paste(canvas, mask, (W - tw) // 2, y, (15.0, 15.0, 15.0))
    cv2.rectangle(canvas, (1, 1), (W - 2, H - 2), (40, 40, 40), 2)
    return cv2.cvtColor(np.clip(canvas, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR), text


def road_scene(seed: int, kind: str, plate_width: int = 110) -> tuple[np.ndarray, str, tuple[int, int, int, int]]:
    """The plate on the back of a vehicle in a 1280x720 frame, lightly tilted, blurred and noisy; its box."""
    plate, text = render_two_rows(seed, kind)
    rng = np.random.default_rng([seed, 13, KINDS.index(kind)])
    scene, box = on_the_road(plate, rng, plate_width)
    return scene, text, box


if __name__ == "__main__":
    import sys
    from pathlib import Path

    out = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/two_rows")
    out.mkdir(parents=True, exist_ok=True)
    for seed in range(4):
        for kind in KINDS:
            scene, text, _ = road_scene(seed, kind)
            cv2.imwrite(str(out / f"{kind}-{seed}-{text}.jpg"), scene)
