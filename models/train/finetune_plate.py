"""Fine-tune the plate recognizer (cct-xs-v2-global) on real crops and rendered plates.

The shipped ONNX file is turned into a PyTorch module (onnx2torch), every
weight trained at a small learning rate, and written back as ONNX with the
same input (uint8 N x 64 x 128 x 3, RGB) and outputs (`plate`: ten slots'
probabilities over 0-9 A-Z _, `region`: probabilities over 66 regions), so
edge_agent.vision.plate_recognizer loads it unchanged.

Data, mixed per batch:
- real crops of ../shared/datasets/train/real-plate-crops with the labels of
  pseudo_label.py (two independent readers agreed on a text that fits a
  format), cut around the labelled plate box with random margins, as the
  unit cuts a plate around a detected row (plate_recognizer.plate_quad),
  then blurred, re-lit and JPEG-compressed at random;
- rendered plates with true labels: US and EU layouts (render_plates.py,
  with state names, slogans, stickers and dealer frames the recognizer must
  leave out) and Brazil's two series (render_br.py).
The original model is kept as a teacher for the region head (KL), so the
regions the consensus weighs formats by are not forgotten.

Runs on a CPU (torch==2.13.0, CPU build, in a throw-away venv; see
TRAINING.md) or a GPU; the project never needs either to run the result.

    python models/train/finetune_plate.py ../shared/datasets/train/real-plate-crops out.onnx labels*.jsonl
"""

from __future__ import annotations

import argparse
import importlib.machinery
import json
import math
import sys
import time
import types
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent.parent))

# onnx2torch imports torchvision for three ops this model does not use; PyPI's
# torchvision does not import beside the CPU torch build (TRAINING.md).
_tv = types.ModuleType("torchvision")
_tv.__spec__ = importlib.machinery.ModuleSpec("torchvision", None)
_ops = types.ModuleType("torchvision.ops")
_ops.nms = _ops.batched_nms = _ops.roi_align = _ops.RoIAlign = None
_tv.ops = _ops
sys.modules.setdefault("torchvision", _tv)
sys.modules.setdefault("torchvision.ops", _ops)

import torch  # noqa: E402
import onnx2torch  # noqa: E402

from render_br import render_br  # noqa: E402
from render_plates import _add_frame, _degrade, _homography, _warp_pts, render_plate  # noqa: E402

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_"
SLOTS, WIDTH, HEIGHT = 10, 128, 64
BASE = HERE.parent / "cct_xs_v2_global.onnx"


def encode(text: str) -> list[int]:
    return [ALPHABET.index(c) for c in text.ljust(SLOTS, "_")]


def to_input(bgr: np.ndarray) -> np.ndarray:
    """As the unit feeds the model: stretched to 128x64, linear, RGB."""
    return cv2.cvtColor(cv2.resize(bgr, (WIDTH, HEIGHT), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)


def jitter_cut(rng: np.random.Generator, image: np.ndarray, box) -> np.ndarray:
    """The plate box with random margins (a little inside to well outside), slightly turned."""
    x, y, w, h = box
    H, W = image.shape[:2]
    left, right = (rng.uniform(-0.04, 0.14) * w for _ in range(2))
    top, bottom = (rng.uniform(-0.06, 0.25) * h for _ in range(2))
    quad = np.array([[x - left, y - top], [x + w + right, y - top], [x + w + right, y + h + bottom],
                     [x - left, y + h + bottom]], np.float32)
    angle = math.radians(rng.uniform(-4, 4))
    centre = quad.mean(0)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32)
    quad = (quad - centre) @ rot.T + centre
    out_w, out_h = max(8, int(w + left + right)), max(8, int(h + top + bottom))
    dst = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    return cv2.warpPerspective(image, cv2.getPerspectiveTransform(quad, dst), (out_w, out_h),
                               borderMode=cv2.BORDER_REPLICATE)


def photometric(rng: np.random.Generator, bgr: np.ndarray) -> np.ndarray:
    img = bgr.astype(np.float32)
    img = img * rng.uniform(0.6, 1.3) + rng.uniform(-30, 30)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 1.4))
    if rng.random() < 0.3:  # fewer pixels than the model's 128x64, as on a far plate
        s = rng.uniform(0.3, 0.8)
        small = cv2.resize(img, (max(8, int(img.shape[1] * s)), max(4, int(img.shape[0] * s))),
                           interpolation=cv2.INTER_AREA)
        img = cv2.resize(small, (img.shape[1], img.shape[0]), interpolation=cv2.INTER_LINEAR)
    img = np.clip(img, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 90))])
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return img


def rendered(seed: int) -> tuple[np.ndarray, str]:
    """A whole rendered plate as a detector would box it: US, EU or Brazil (old or Mercosul)."""
    rng = np.random.default_rng([seed, 20261206])
    kind = rng.random()
    if kind < 0.2:
        plate, text = render_br(int(rng.integers(1 << 30)), "old" if rng.random() < 0.5 else "mercosul")
        canvas = cv2.cvtColor(plate, cv2.COLOR_BGR2RGB).astype(np.float32)
        row = (0, 0, canvas.shape[1], canvas.shape[0])
    else:
        canvas, text, row, extras = render_plate(rng, "us" if kind < 0.75 else "eu")
        if rng.random() < 0.45:
            canvas, row, extras = _add_frame(rng, canvas, row, extras)
    H, W = canvas.shape[:2]
    M = _homography(rng, W, H, rng.uniform(0.0, 0.1))
    corners = _warp_pts(M, np.array([[0, 0], [W, 0], [W, H], [0, H]], np.float32))
    out_w, out_h = int(np.ceil(corners[:, 0].max())) + 1, int(np.ceil(corners[:, 1].max())) + 1
    warped = cv2.warpPerspective(canvas, M, (out_w, out_h), borderMode=cv2.BORDER_REPLICATE)
    x0, y0 = corners.min(0)
    x1, y1 = corners.max(0)
    bgr = cv2.cvtColor(np.clip(warped, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    cut = jitter_cut(rng, bgr, (x0, y0, x1 - x0, y1 - y0))
    h = rng.uniform(20, 64)  # plates far and near
    small = cv2.resize(cut, (max(16, int(cut.shape[1] * h / cut.shape[0])), int(h)), interpolation=cv2.INTER_AREA)
    rgb = _degrade(rng, cv2.cvtColor(small, cv2.COLOR_BGR2RGB).astype(np.float32))
    return cv2.cvtColor(np.clip(rgb, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR), text


def load_model(path: Path) -> torch.nn.Module:
    return onnx2torch.convert(str(path))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("crops", type=Path, help="the real-plate-crops folder (crops/ inside)")
    ap.add_argument("out", type=Path)
    ap.add_argument("labels", type=Path, nargs="+", help="pseudo_label.py's files (shards, in any order)")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--real-share", type=float, default=0.5)
    ap.add_argument("--hard-share", type=float, default=0.3,
                    help="of the real crops, the share drawn from those two of three readers labelled")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)

    records = sorted((json.loads(line) for path in args.labels for line in open(path)), key=lambda r: r["crop"])
    labelled = [r for r in records if r["label"] and len(r["label"]) <= SLOTS]
    # Every tenth (by crop name) is held out to watch the real crops.
    train = [r for i, r in enumerate(labelled) if i % 10 != 9]
    held = [r for i, r in enumerate(labelled) if i % 10 == 9]
    # Two of three (pseudo_label.py --third): the crops one of the two readers misread.
    hard = [r for r in train if r.get("source", "").endswith("+easyocr")]
    easy = [r for r in train if not r.get("source", "").endswith("+easyocr")]
    images = {r["crop"]: cv2.imread(str(args.crops / "crops" / r["crop"])) for r in labelled}
    print(f"{len(records)} crops, {len(labelled)} labelled: {len(train)} to train ({len(hard)} two of three), "
          f"{len(held)} held out")

    student, teacher = load_model(BASE), load_model(BASE)
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    params = [p for p in student.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    warm = max(1, args.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps))))

    def batch(step: int):
        xs, ys = [], []
        for k in range(args.batch):
            if rng.random() < args.real_share:
                pool = hard if hard and rng.random() < args.hard_share else easy
                r = pool[int(rng.integers(len(pool)))]
                img, text = photometric(rng, jitter_cut(rng, images[r["crop"]], r["box"])), r["label"]
            else:
                img, text = rendered(step * args.batch + k)
            xs.append(to_input(img))
            ys.append(encode(text))
        return torch.from_numpy(np.stack(xs)), torch.tensor(ys)

    def exact(model, samples) -> float:
        model.eval()
        hits = 0
        with torch.no_grad():
            for i in range(0, len(samples), 64):
                part = samples[i:i + 64]
                x = torch.from_numpy(np.stack([to_input(img) for img, _ in part]))
                plate, _ = model(x)
                for row, (_, text) in zip(plate.argmax(-1).tolist(), part):
                    hits += "".join(ALPHABET[k] for k in row).replace("_", "") == text
        model.train()
        return 100 * hits / max(1, len(samples))

    vrng = np.random.default_rng(12345)
    held_set = [(jitter_cut(vrng, images[r["crop"]], r["box"]), r["label"]) for r in held]
    # The held-out crops the plate recognizer itself misread (the row and EasyOCR agreed against it).
    held_hard = [s for s, r in zip(held_set, held) if r.get("source") == "row+easyocr"]
    rendered_set = [rendered(10_000_000 + i) for i in range(400)]

    def watch(model) -> str:
        return (f"held-out real {exact(model, held_set):.1f} % ({exact(model, held_hard):.1f} % of the "
                f"{len(held_hard)} it misread), rendered {exact(model, rendered_set):.1f} %")

    print(f"step 0: {watch(student)}", flush=True)
    student.train()
    start = time.time()
    for step in range(1, args.steps + 1):
        x, y = batch(step)
        plate, region = student(x)
        with torch.no_grad():
            _, region_t = teacher(x)
        logp = torch.log(plate.clamp_min(1e-7))
        loss = torch.nn.functional.nll_loss(logp.reshape(-1, len(ALPHABET)), y.reshape(-1))
        kl = (region_t * (torch.log(region_t.clamp_min(1e-7)) - torch.log(region.clamp_min(1e-7)))).sum(-1).mean()
        (loss + 0.5 * kl).backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        sched.step()
        opt.zero_grad()
        if step % 100 == 0 or step == args.steps:
            print(f"step {step}: loss {loss.item():.3f} kl {kl.item():.4f}, {time.time() - start:.0f} s", flush=True)
        if step % 400 == 0 or step == args.steps:
            print(f"  {watch(student)}", flush=True)
    student.eval()
    torch.onnx.export(student, (torch.zeros(1, HEIGHT, WIDTH, 3, dtype=torch.uint8),), str(args.out),
                      input_names=["input"], output_names=["plate", "region"],
                      dynamic_axes={"input": {0: "batch"}, "plate": {0: "batch"}, "region": {0: "batch"}},
                      opset_version=17, dynamo=False)
    print(f"wrote {args.out} after {time.time() - start:.0f} s of training")
    return 0


if __name__ == "__main__":
    sys.exit(main())
