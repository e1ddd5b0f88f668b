"""Make the INT8 PP-OCRv6 small text detector (PP-OCRv6_det_small_int8.onnx).

Static INT8 quantization (QDQ, per-channel int8 weights, uint8 activations)
with onnxruntime.quantization of the float detector shipped in the rapidocr
wheel. Calibration uses only images this script renders itself, never
../shared/datasets (the benchmark): synthetic street scenes (vehicles with
plates, signs, clutter, multi-scale texture, blur, noise, JPEG) and frames
of edge_agent.commands.demo_footage, all at 1280x720, made into inputs exactly as
edge_agent.vision.text_detector.TextDetector does at the unit's detect_max_side (1024 ->
1x3x576x1024). Activation ranges: per image and tensor, the 0.001% and
99.999% quantiles; averaged over the images (--method quantile --aggregate
mean, the defaults). Plain MinMax over the same images lost 3-5 plates on
endtoend/us: a few flat synthetic scenes push deep-layer ranges up to 10x
wider than real footage gives. See models/README.md for the figures.
Last, tie_free.py moves the scales of the element-wise steps (the GELUs'
sums and products, the residual sums) by at most 1 % so that none of their
results lies near a rounding tie: x86 and ARM then compute the same bytes.

Run in a throw-away venv, never the project's (onnx is a dev-only tool):

    python3.11 -m venv /tmp/quant-venv
    /tmp/quant-venv/bin/pip install onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6 \
        opencv-python-headless==5.0.0.93
    /tmp/quant-venv/bin/python models/quantize_ppocr.py

The float model is read from the project's venv (rapidocr==3.10.0 wheel;
--float to point elsewhere) and checked against its checksum. Calibration
is deterministic (fixed seeds); the output was byte-identical across runs
on the dev machine (x86-64); float rounding in other CPUs' kernels could
move a range by an ulp, so check the sha256 against models/README.md.
Takes ~2 min and ~3 GB of memory on one core.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FLOAT_SHA256 = "090f04abcd9d9a7498bc4ebf677e4cb9bdce1fe4197ddb7e529f1ef44e1ff94f"
DEFAULT_FLOAT = ROOT / ".venv/lib/python3.11/site-packages/rapidocr/models/PP-OCRv6_det_small.onnx"
OUT = ROOT / "models" / "PP-OCRv6_det_small_int8.onnx"
# The same model with its int8 weights stored as uint8 (see with_uint8_weights).
U8W_OUT = ROOT / "models" / "PP-OCRv6_det_small_int8_u8w.onnx"
FRAME_W, FRAME_H = 1280, 720
MAX_SIDE = 1024
OPSET = 17

FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX,
         cv2.FONT_HERSHEY_TRIPLEX, cv2.FONT_HERSHEY_PLAIN)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
WORDS = ("STOP", "EXIT", "PARKING", "HOTEL", "BUS", "TAXI", "OPEN", "SALE", "CAFE", "POLICE", "ONE WAY",
         "NO ENTRY", "SLOW", "TOWN CENTRE", "A-7", "M30", "SALIDA", "CENTRO", "PEAJE", "50", "120")


def detector_input(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """TextDetector's own preprocessing, so calibration sees what the unit feeds the model."""
    from edge_agent.vision.text_detector import detector_input as unit_input

    return unit_input(image, max_side)


def _plate_text(rng: np.random.Generator) -> str:
    kind = rng.integers(4)
    pick = lambda s, n: "".join(rng.choice(list(s), n))  # noqa: E731
    if kind == 0:
        return f"{pick(DIGITS, 4)} {pick(LETTERS, 3)}"  # ES
    if kind == 1:
        return f"{pick(LETTERS, 3)} {pick(DIGITS, 4)}"  # US-like
    if kind == 2:
        return f"{pick(LETTERS, 2)}{pick(DIGITS, 2)} {pick(LETTERS, 3)}"  # UK-like
    return f"{pick(LETTERS, 2)} {pick(DIGITS, 4)} {pick(LETTERS, 2)}"


def _text(img, text, org, font, scale, colour, thick):
    cv2.putText(img, text, org, font, scale, colour, thick, cv2.LINE_AA)


def _plate(img: np.ndarray, rng: np.random.Generator, cx: int, cy: int, height: int) -> None:
    text = _plate_text(rng)
    font = FONTS[rng.integers(4)]
    thick = max(1, int(round(height / 14)))
    scale = cv2.getFontScaleFromHeight(font, max(6, int(height * 0.62)), thick)
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    pw, ph = int(tw * 1.15) + 6, height
    x0, y0 = cx - pw // 2, cy - ph // 2
    bg = [(235, 235, 235), (40, 200, 235), (245, 245, 250), (60, 60, 60)][rng.choice(4, p=[.6, .2, .15, .05])]
    fg = (20, 20, 20) if sum(bg) > 300 else (230, 230, 230)
    cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), bg, -1)
    cv2.rectangle(img, (x0, y0), (x0 + pw, y0 + ph), (30, 30, 30), max(1, height // 20))
    if rng.random() < 0.4:  # EU band
        cv2.rectangle(img, (x0, y0), (x0 + max(3, pw // 12), y0 + ph), (150, 50, 20), -1)
    _text(img, text, (cx - tw // 2, cy + th // 2), font, scale, fg, thick)


def _vehicle(img: np.ndarray, rng: np.random.Generator, cx: int, bottom: int, width: int) -> None:
    h = int(width * rng.uniform(0.8, 1.2))
    x0, y0 = cx - width // 2, bottom - h
    body = tuple(int(c) for c in rng.integers(20, 230, 3))
    cv2.rectangle(img, (x0 + width // 30, y0 + width // 30), (x0 + width + width // 30, bottom + width // 30),
                  (45, 45, 45), -1)
    cv2.rectangle(img, (x0, y0), (x0 + width, bottom), body, -1)
    shade = tuple(int(c * 0.6) for c in body)
    cv2.rectangle(img, (x0, bottom - h // 6), (x0 + width, bottom), shade, -1)  # bumper
    cv2.rectangle(img, (x0 + width // 10, y0 + h // 10), (x0 + width - width // 10, y0 + h // 2 - h // 12),
                  (50, 40, 35), -1)  # rear window
    lw = max(4, width // 6)
    for lx in (x0 + width // 25, x0 + width - width // 25 - lw):
        cv2.rectangle(img, (lx, y0 + h // 2), (lx + lw, y0 + h // 2 + max(3, h // 9)), (30, 30, 200), -1)
    if rng.random() < 0.3:  # a badge or model name
        _text(img, "".join(rng.choice(list(LETTERS), rng.integers(2, 6))), (cx + width // 6, y0 + h // 2 + h // 6),
              FONTS[rng.integers(5)], max(0.3, width / 500), (200, 200, 200), 1)
    plate_h = int(np.clip(width * rng.uniform(0.09, 0.13), 9, 90))
    _plate(img, rng, cx, y0 + int(h * 0.7), plate_h)


def _sign(img: np.ndarray, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    text = str(rng.choice(WORDS))
    font = FONTS[rng.integers(5)]
    scale = rng.uniform(0.5, 2.5)
    thick = int(rng.integers(1, 4))
    (tw, th), _ = cv2.getTextSize(text, font, scale, thick)
    x, y = int(rng.integers(0, max(1, w - tw - 20))), int(rng.integers(th + 10, max(th + 11, h // 2)))
    colours = [((20, 120, 20), (240, 240, 240)), ((160, 60, 10), (240, 240, 240)), ((240, 240, 240), (20, 20, 20)),
               ((20, 20, 200), (240, 240, 240)), ((0, 200, 240), (10, 10, 10))]
    bg, fg = colours[rng.integers(len(colours))]
    cv2.rectangle(img, (x - 8, y - th - 8), (x + tw + 8, y + 10), bg, -1)
    _text(img, text, (x, y), font, scale, fg, thick)


def _texture(rng: np.random.Generator, amplitude: float) -> np.ndarray:
    """Multi-scale noise (asphalt, foliage, facades): real frames are never flat."""
    out = np.zeros((FRAME_H, FRAME_W), np.float32)
    for cells in (6, 24, 96, 320):
        small = rng.normal(0, 1, (max(2, cells * FRAME_H // FRAME_W), cells)).astype(np.float32)
        out += cv2.resize(small, (FRAME_W, FRAME_H), interpolation=cv2.INTER_CUBIC) * (amplitude / cells ** 0.3)
    return out


def _clutter(img: np.ndarray, rng: np.random.Generator, count: int) -> None:
    """Poles, bushes, windows, road marks, shadows: small shapes of any colour."""
    h, w = img.shape[:2]
    for _ in range(count):
        grey = rng.integers(30, 220)
        colour = tuple(int(grey + (c - grey) * 0.4) for c in rng.integers(0, 256, 3))  # muted, as outdoors
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        kind = rng.integers(4)
        if kind == 0:
            cv2.rectangle(img, (x, y), (x + int(rng.integers(3, 80)), y + int(rng.integers(3, 80))), colour, -1)
        elif kind == 1:
            cv2.ellipse(img, (x, y), (int(rng.integers(3, 60)), int(rng.integers(3, 40))), float(rng.uniform(0, 180)),
                        0, 360, colour, -1)
        elif kind == 2:
            cv2.line(img, (x, y), (x + int(rng.integers(-200, 200)), y + int(rng.integers(-200, 200))), colour,
                     int(rng.integers(1, 6)))
        else:
            pts = np.array([[x + rng.integers(-50, 50), y + rng.integers(-50, 50)] for _ in range(5)], np.int32)
            cv2.fillPoly(img, [pts], colour)


def synthetic_scene(rng: np.random.Generator) -> np.ndarray:
    """A 1280x720 street-like scene: road, buildings, vehicles with plates, signs."""
    img = np.zeros((FRAME_H, FRAME_W, 3), np.uint8)
    horizon = int(rng.integers(0, FRAME_H // 3))
    sky = np.array(rng.integers(120, 230, 3), np.float32)
    img[:horizon] = sky.astype(np.uint8)
    grey = int(rng.integers(60, 140))
    img[horizon:] = grey
    img = cv2.add(img, rng.integers(0, 18, img.shape, dtype=np.uint8))
    for _ in range(int(rng.integers(0, 6))):  # buildings, walls, trees
        x, bw = int(rng.integers(0, FRAME_W)), int(rng.integers(60, 400))
        top = int(rng.integers(0, max(1, horizon + 40)))
        colour = tuple(int(c) for c in rng.integers(30, 220, 3))
        cv2.rectangle(img, (x, top), (x + bw, horizon + int(rng.integers(0, 80))), colour, -1)
        for _ in range(int(rng.integers(0, 12))):  # windows
            wx, wy = x + int(rng.integers(0, bw)), top + int(rng.integers(0, max(1, horizon - top + 40)))
            cv2.rectangle(img, (wx, wy), (wx + 14, wy + 20), (40, 40, 40), -1)
    _clutter(img, rng, int(rng.integers(20, 120)))
    for x in np.linspace(0, FRAME_W, int(rng.integers(2, 6)))[1:-1]:  # lane lines
        x = int(x + rng.integers(-80, 80))
        cv2.line(img, (x + int(rng.integers(-200, 200)), horizon), (x, FRAME_H), (220, 220, 220),
                 int(rng.integers(2, 7)))
    for _ in range(int(rng.integers(0, 4))):
        _sign(img, rng)
    for _ in range(int(rng.integers(1, 7))):  # vehicles, far ones first
        bottom = int(rng.integers(horizon + 60, FRAME_H + 60))
        depth = (bottom - horizon) / (FRAME_H + 60 - horizon)
        width = int(np.clip(60 + depth * rng.uniform(150, 420), 50, 600))
        _vehicle(img, rng, int(rng.integers(0, FRAME_W)), bottom, width)
    if rng.random() < 0.5:
        angle = rng.uniform(-6, 6)
        m = cv2.getRotationMatrix2D((FRAME_W / 2, FRAME_H / 2), angle, 1.0)
        img = cv2.warpAffine(img, m, (FRAME_W, FRAME_H), borderMode=cv2.BORDER_REFLECT)
    gain, bias = rng.uniform(0.5, 1.3), rng.uniform(-30, 30)
    img = img.astype(np.float32) + _texture(rng, rng.uniform(6, 25))[..., None] * rng.uniform(0.7, 1.3, 3)
    img = np.clip(img * gain + bias, 0, 255)
    sigma = rng.uniform(0, 1.2)
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img = np.clip(img + rng.normal(0, rng.uniform(1, 7), img.shape), 0, 255).astype(np.uint8)
    quality = int(rng.integers(40, 95))
    return cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


def calibration_images(n_synthetic: int, n_demo: int, seed: int = 2026) -> list[np.ndarray]:
    from edge_agent.commands.demo_footage import SECONDS, render_frames

    rng = np.random.default_rng(seed)
    images = [synthetic_scene(rng) for _ in range(n_synthetic)]
    demo = list(render_frames(seconds=SECONDS))
    for i in np.linspace(0, len(demo) - 1, n_demo).astype(int):
        images.append(cv2.resize(demo[i], (FRAME_W, FRAME_H), interpolation=cv2.INTER_LINEAR))
    return images


class Reader:
    """onnxruntime CalibrationDataReader over the detector inputs."""

    def __init__(self, blobs: list[np.ndarray]):
        self.blobs = blobs
        self.i = 0

    def get_next(self):
        if self.i >= len(self.blobs):
            return None
        self.i += 1
        return {"x": self.blobs[self.i - 1]}

    def rewind(self):
        self.i = 0

    def __iter__(self):
        return iter({"x": b} for b in self.blobs)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def activation_ranges(model_path: Path, blobs: list[np.ndarray], quantile: float,
                      aggregate: str = "max") -> dict[str, tuple[float, float]]:
    """Per tensor: the per-image quantile ranges, combined over the images (mean, or widest).

    MinMax takes the single most extreme value seen; in this model a few
    deep backbone sums reach ~70 on one flat synthetic scene while on most
    scenes 99.99% of their values stay within +-4..8, so MinMax would spend
    the 256 levels on outliers. onnxruntime's Percentile calibrator would fix that but keeps
    every activation of every image in memory (tens of GB at 1024x576);
    this keeps two numbers per tensor per image.
    """
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(model_path))
    names = [o for n in model.graph.node for o in n.output if o]
    for name in names:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    outputs = [o.name for o in session.get_outputs()]
    per_image: dict[str, list[tuple[float, float]]] = {}
    for blob in blobs:
        values = dict(zip(outputs, session.run(outputs, {"x": blob})))
        values["x"] = blob
        for name, v in values.items():
            if v.dtype != np.float32 or v.size < 2:
                continue
            flat = v.reshape(-1)
            k_hi = min(flat.size - 1, int(np.floor(flat.size * quantile / 100)))
            k_lo = max(0, flat.size - 1 - k_hi)
            part = np.partition(flat, (k_lo, k_hi))
            per_image.setdefault(name, []).append((float(min(part[k_lo], 0.0)), float(max(part[k_hi], 0.0))))
    reduce = {"max": (np.min, np.max), "mean": (np.mean, np.mean), "median": (np.median, np.median)}[aggregate]
    return {name: (float(reduce[0]([r[0] for r in rs])), float(reduce[1]([r[1] for r in rs])))
            for name, rs in per_image.items()}


def low_resolution_nodes(model_path: Path, max_height: int) -> list[str]:
    """Nodes whose output is at most max_height rows high for a 1024x576 input.

    The deepest stage (stride 32) and the squeeze-excitation branches (1x1)
    lose most of their signal in INT8 (qdq_loss_debug on the synthetic
    scenes: the stride-32 FPN branch falls below 0 dB SQNR) and cost little
    in float.
    """
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(model_path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, 3, 576, 1024)):
        dim.ClearField("dim_param")
        dim.dim_value = value
    model = shape_inference.infer_shapes(model)
    shapes = {vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
              for vi in list(model.graph.value_info) + list(model.graph.output)}
    out = []
    for node in model.graph.node:
        shape = shapes.get(node.output[0])
        if shape and len(shape) == 4 and 0 < shape[2] <= max_height:
            out.append(node.name)
    return out


def quantize(src: Path, dst: Path, blobs: list[np.ndarray], fmt: str = "qdq", method: str = "minmax",
             per_channel: bool = True, exclude: tuple[str, ...] = (), op_types: tuple[str, ...] | None = None,
             extra: dict | None = None, reduce_range: bool = False, quantile: float | None = None,
             aggregate: str = "max", float_max_height: int = 0, weight_type: str = "int8") -> None:
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    import onnx
    from onnx import version_converter

    with tempfile.TemporaryDirectory() as tmp:
        # The wheel's model is opset 11; per-channel weights need
        # DequantizeLinear's axis attribute (opset 13).
        upgraded = Path(tmp) / "opset17.onnx"
        onnx.save(version_converter.convert_version(onnx.load(str(src)), OPSET), str(upgraded))
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(upgraded), str(pre), skip_symbolic_shape=True)
        extra = dict(extra or {})
        if float_max_height:
            exclude = tuple(exclude) + tuple(low_resolution_nodes(pre, float_max_height))
        if quantile is not None:
            ranges = activation_ranges(pre, blobs, quantile, aggregate)
            extra["TensorQuantOverrides"] = {k: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}]
                                             for k, (lo, hi) in ranges.items()}
        quantize_static(
            str(pre), str(dst), Reader(blobs),
            quant_format=QuantFormat.QDQ if fmt == "qdq" else QuantFormat.QOperator,
            per_channel=per_channel,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QUInt8 if weight_type == "uint8" else QuantType.QInt8,
            calibrate_method={"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                              "percentile": CalibrationMethod.Percentile}[method],
            nodes_to_exclude=list(exclude), op_types_to_quantize=list(op_types) if op_types else None,
            reduce_range=reduce_range, extra_options=extra,
        )


def with_uint8_weights(src: Path, dst: Path) -> int:
    """Write src with each int8 weight w (zero point 0) stored as uint8 w + 128 (zero point 128).

    Every weight dequantizes to the same number, so the model computes the
    same thing; but onnxruntime then runs its convolutions with uint8 x
    uint8 kernels, which widen both sides to 16 bits and add up exactly on
    every x86 CPU. Its uint8 x int8 kernels need VNNI to do that: without
    it they sum pairs of products with VPMADDUBSW, which saturates at 16
    bits and loses plates (models/README.md). Returns the weights changed.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    initializers = {t.name: t for t in model.graph.initializer}
    changed = set()
    for node in model.graph.node:
        if node.op_type != "DequantizeLinear" or node.input[0] not in initializers:
            continue
        weight = initializers[node.input[0]]
        if weight.data_type != onnx.TensorProto.INT8 or weight.name in changed:
            continue
        zero_point = initializers[node.input[2]]
        zeros = numpy_helper.to_array(zero_point)
        if zeros.any():
            raise SystemExit(f"{src}: {node.name}: weights not symmetric (zero point not 0)")
        values = numpy_helper.to_array(weight).astype(np.int16) + 128
        weight.CopyFrom(numpy_helper.from_array(values.astype(np.uint8), weight.name))
        zero_point.CopyFrom(numpy_helper.from_array(np.full(zeros.shape, 128, np.uint8), zero_point.name))
        changed.add(weight.name)
    onnx.save(model, str(dst))
    return len(changed)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--float", type=Path, default=DEFAULT_FLOAT)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--synthetic", type=int, default=112)
    ap.add_argument("--demo", type=int, default=16)
    ap.add_argument("--format", choices=("qdq", "qoperator"), default="qdq")
    ap.add_argument("--method", choices=("minmax", "entropy", "percentile", "quantile"), default="quantile",
                    help="quantile: per-image quantile ranges (--percentile), see activation_ranges; "
                         "onnxruntime's entropy and percentile keep every activation in memory (tens of GB)")
    ap.add_argument("--per-tensor", action="store_true")
    ap.add_argument("--op-types", default="", help="comma-separated op types to quantize (default: all it can)")
    ap.add_argument("--exclude", default="", help="comma-separated node names to keep in float")
    ap.add_argument("--percentile", type=float, default=99.999)
    ap.add_argument("--reduce-range", action="store_true")
    ap.add_argument("--weight-type", choices=("int8", "uint8"), default="int8")
    ap.add_argument("--float-max-height", type=int, default=0,
                    help="keep in float the nodes whose output is at most this many rows at 1024x576")
    ap.add_argument("--aggregate", choices=("max", "mean", "median"), default="mean",
                    help="--method quantile: how the per-image ranges are combined")
    ap.add_argument("--save-calibration", type=Path, help="also write the calibration images here (to look at)")
    ap.add_argument("--u8w-out", type=Path, default=U8W_OUT,
                    help="where to write the same model with uint8 weights (for x86 CPUs without VNNI)")
    ap.add_argument("--keep-ties", action="store_true",
                    help="leave the calibrated scales as they are (tie_free.py: x86 and ARM then round some "
                         "element-wise steps apart)")
    ap.add_argument("--u8w-only", action="store_true",
                    help="only derive --u8w-out from the existing --out, without quantizing again")
    args = ap.parse_args()
    if args.u8w_only:
        n = with_uint8_weights(args.out, args.u8w_out)
        print(f"{args.u8w_out}  {n} weights as uint8  sha256 {sha256(args.u8w_out)}")
        return 0
    if sha256(args.float) != FLOAT_SHA256:
        raise SystemExit(f"{args.float}: not the PP-OCRv6 small detector this script was made for")
    images = calibration_images(args.synthetic, args.demo)
    if args.save_calibration:
        args.save_calibration.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images):
            cv2.imwrite(str(args.save_calibration / f"calib{i:03d}.jpg"), image)
    blobs = [detector_input(im) for im in images]
    extra = {"CalibPercentile": args.percentile}
    quantile = args.percentile if args.method == "quantile" else None
    method = "minmax" if args.method == "quantile" else args.method
    quantize(args.float, args.out, blobs, args.format, method, not args.per_tensor, quantile=quantile,
             aggregate=args.aggregate, float_max_height=args.float_max_height,
             exclude=tuple(x for x in args.exclude.split(",") if x),
             op_types=tuple(x for x in args.op_types.split(",") if x) or None, extra=extra,
             reduce_range=args.reduce_range, weight_type=args.weight_type)
    if not args.keep_ties:
        from tie_free import without_ties

        report = without_ties(args.out, args.out)
        print(f"{report[0]}; {len(report) - 1} more element-wise steps moved clear of ties (tie_free.py)")
    print(f"{args.out}  sha256 {sha256(args.out)}")
    if args.weight_type == "int8" and not args.reduce_range:
        n = with_uint8_weights(args.out, args.u8w_out)
        print(f"{args.u8w_out}  {n} weights as uint8  sha256 {sha256(args.u8w_out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
