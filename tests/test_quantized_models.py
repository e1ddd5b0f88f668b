"""The INT8 text detector shipped in edge_agent/assets (made by models/quantize_ppocr.py), and its uint8-weights twin."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace

import cv2
import numpy as np
import pytest

from edge_agent.vision import onnx_models, text_detector
from edge_agent.commands.cli import bound_heap
from edge_agent.config import ReaderConfig
from edge_agent.config.reader import DETECTORS
from edge_agent.vision.detect import TextLinePlateDetector
from edge_agent.errors import AgentError
from edge_agent.vision.image_header import load_image
from edge_agent.vision.onnx_models import FLOAT_DETECTOR_MODEL, INT8_DETECTOR_MODEL, INT8_U8W_DETECTOR_MODEL

try:
    from datasets import DATASETS, require
except ImportError:  # tests/ imported as a package
    from tests.datasets import DATASETS, require

EU_PHOTOS = DATASETS / "openalpr-benchmarks" / "endtoend" / "eu"
US_PHOTOS = DATASETS / "openalpr-benchmarks" / "endtoend" / "us"


@pytest.mark.parametrize("model", [INT8_DETECTOR_MODEL, INT8_U8W_DETECTOR_MODEL])
def test_int8_detector_loads_from_the_package_assets_with_its_checksum(model):
    path = onnx_models.model_path(model)
    assert path.parent.name == "assets" and path.parent.parent.name == "edge_agent"
    assert len(onnx_models.MODEL_SHA256[model]) == 64


@pytest.mark.parametrize("model", [INT8_DETECTOR_MODEL, INT8_U8W_DETECTOR_MODEL])
def test_int8_detector_with_another_checksum_is_refused(monkeypatch, model):
    onnx_models._verify.cache_clear()
    monkeypatch.setitem(onnx_models.MODEL_SHA256, model, "0" * 64)
    try:
        with pytest.raises(AgentError, match="checksum"):
            onnx_models.model_path(model)
    finally:
        onnx_models._verify.cache_clear()


def _probability_map(model: str, image) -> np.ndarray:
    detector = text_detector.TextDetector(model=model)
    resized = cv2.resize(image, (1024, 576))
    return detector.session.run(None, {"x": text_detector._blob(resized)})[0]


@pytest.mark.skipif(not onnx_models.int8_is_exact(), reason="this CPU's uint8 x int8 sums saturate: here only the "
                    "uint8-weights file computes the INT8 model exactly, so there is nothing to compare it with")
def test_the_uint8_weights_file_computes_what_the_int8_file_computes_where_both_are_exact():
    # Each weight w is stored as w + 128 with zero point 128: the same
    # number. onnxruntime then runs uint8 x uint8 kernels, exact on every
    # x86 CPU, where the int8 file needs VNNI (or ARM) to be.
    image = cv2.imread(str(require(EU_PHOTOS) / "eu1.jpg"))
    int8, u8w = (_probability_map(model, image) for model in (INT8_DETECTOR_MODEL, INT8_U8W_DETECTOR_MODEL))
    assert int8.shape == u8w.shape and int8.max() > 0.9  # the map has text in it
    assert np.array_equal(int8, u8w)


def test_int8_detector_finds_the_plates_the_float_one_finds(monkeypatch):
    cfg = ReaderConfig()
    image = cv2.imread(str(require(EU_PHOTOS) / "eu1.jpg"))
    assert image is not None
    found = {}
    for setting, exact in (("float", True), ("int8", True), ("int8", False)):
        # As a technician would choose it: [reader] detector = "int8", on
        # a CPU with and without exact uint8 x int8 sums.
        monkeypatch.setattr(onnx_models, "int8_is_exact", lambda *a, **k: exact)
        detector = TextLinePlateDetector(replace(cfg, detector=setting))
        assert detector.text_detector.thresh == onnx_models.DETECTOR_MODELS[setting].thresh
        found[detector.text_detector.model] = detector.candidates(image)
    monkeypatch.undo()
    assert set(found) == {FLOAT_DETECTOR_MODEL, INT8_DETECTOR_MODEL, INT8_U8W_DETECTOR_MODEL}
    assert found[FLOAT_DETECTOR_MODEL], "the float detector finds no plate row in eu1.jpg"
    label = (EU_PHOTOS / "eu1.txt").read_text().split("\t")
    x, y, w, h = (int(v) for v in label[1:5])
    for model, candidates in found.items():
        # The labelled plate's row is among the candidates, where the label says.
        assert any(x <= c.box.center[0] <= x + w and y <= c.box.center[1] <= y + h for c in candidates), model
    for f in found[FLOAT_DETECTOR_MODEL]:
        # Every row the float model finds, the int8 model finds too, in the same place.
        assert any(f.box.iou(q.box) > 0.7 for q in found[INT8_U8W_DETECTOR_MODEL]), f.box
        if onnx_models.int8_is_exact():  # elsewhere the int8 file saturates and may lose rows
            assert any(f.box.iou(q.box) > 0.7 for q in found[INT8_DETECTOR_MODEL]), f.box


# sha256 of the INT8 detector's probability map (float32, as
# deploy/arm64_reads.py saves it: the photo's first look at detect_max_side)
# as an emulated Cortex-A72 computed it with the shipped file
# (deploy/arm64-check.sh, 2026-12-07; the A76's maps were the same). The
# file's scales keep every element-wise step clear of rounding ties
# (models/tie_free.py), so every CPU computes these bytes. A new detector
# file needs a new arm64 check, and these digests from it.
MAPS_ON_ARM = {
    "0b86cecf-67d1-4fc0-87c9-b36b0ee228bb.jpg": "3b357a5f63ed87ce3d2e68283cc329324200bf81b64c66066f09da4613661484",
    "car1.jpg": "83f72ff70f460f2e754b0a38a501b4f56e37d3e0b4e2129208a81d929efa57b8",
    "car14.jpg": "5ed905fe79650c30d003f59261fc612453ab69327feba1f7d3e3a09cbda0a982",
}


def test_this_cpu_computes_the_detector_maps_a_pi_computes():
    cfg = ReaderConfig()
    detector = TextLinePlateDetector(cfg).text_detector
    assert detector.model in (INT8_DETECTOR_MODEL, INT8_U8W_DETECTOR_MODEL)
    for name, digest in MAPS_ON_ARM.items():
        image = load_image(require(US_PHOTOS) / name)
        blob = text_detector.detector_input(image, cfg.detect_max_side, upscale=True)
        prob = detector.session.run(None, {"x": blob})[0][0, 0].astype(np.float32)
        assert hashlib.sha256(prob.tobytes()).hexdigest() == digest, f"{name}: not the map a Pi computes"


def test_an_unknown_detector_is_a_config_error():
    assert ("detector", "must be one of auto, float, int8") in ReaderConfig(detector="int4").problems()
    assert ReaderConfig().detector == "auto"
    # Every setting the config accepts names a model, and no model is unreachable.
    assert {onnx_models.resolve_detector(setting) for setting in DETECTORS} == set(onnx_models.DETECTOR_MODELS)


@pytest.mark.parametrize(("machine", "flags", "exact"), [
    ("aarch64", frozenset(), True),  # a Pi: NEON widening multiplies, or SDOT/UDOT
    ("x86_64", frozenset({"avx2", "avx512f", "avx512_vnni"}), True),
    ("x86_64", frozenset({"avx2", "avx_vnni"}), True),
    ("x86_64", frozenset({"avx2", "fma"}), False),  # VPMADDUBSW saturates at 16 bits
    ("x86_64", frozenset({"avx2", "avx512f", "avx512bw"}), False),
    ("riscv64", frozenset(), False),
])
def test_int8_counts_as_exact_only_on_arm_and_on_x86_with_vnni(machine, flags, exact):
    assert onnx_models.int8_is_exact(machine, flags) is exact


@pytest.mark.parametrize(("exact", "model"), [(True, INT8_DETECTOR_MODEL), (False, INT8_U8W_DETECTOR_MODEL)])
@pytest.mark.parametrize("setting", ["auto", "int8"])
def test_int8_runs_from_the_file_whose_sums_are_exact_on_this_cpu(monkeypatch, exact, model, setting):
    monkeypatch.setattr(onnx_models, "int8_is_exact", lambda *a, **k: exact)
    detector = TextLinePlateDetector(replace(ReaderConfig(), detector=setting))
    assert detector.model_name == "int8"
    assert detector.text_detector.model == model
    assert detector.text_detector.thresh == onnx_models.DETECTOR_MODELS["int8"].thresh
    # The log and every bench name the file that ran.
    assert model in onnx_models.describe_detector(setting)
    assert onnx_models.describe_detector("float") == f"detector float ({FLOAT_DETECTOR_MODEL})"


def test_cpu_flags_are_read_from_this_machine():
    flags = onnx_models.cpu_flags()
    if onnx_models.platform.machine().lower() in ("x86_64", "amd64"):
        assert "sse2" in flags  # every x86-64 CPU has it
    # The file on this machine follows from its flags.
    expected = INT8_DETECTOR_MODEL if onnx_models.int8_is_exact() else INT8_U8W_DETECTOR_MODEL
    assert onnx_models.DETECTOR_MODELS[onnx_models.resolve_detector("auto")].file_here() == expected


def _resident_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.parametrize("setting", DETECTORS[1:])
def test_the_detector_does_not_grow_with_each_new_image_size(setting):
    # Memory patterns (one planned block per input shape) grew the INT8
    # detector by ~85 MB on a second round of the same three sizes; a unit
    # sees a new shape with every following window and every still.
    bound_heap()  # as the agent does
    detector = TextLinePlateDetector(replace(ReaderConfig(), detector=setting)).text_detector
    image = cv2.imread(str(require(US_PHOTOS) / "car9.jpg"))
    resident = []
    for _ in range(2):
        for side in (640, 800, 1024):  # stills of three sizes, each scanned at its own
            detector(cv2.resize(image, (side, side * image.shape[0] // image.shape[1]), interpolation=cv2.INTER_AREA))
        resident.append(_resident_mb())
    assert resident[1] - resident[0] < 20, resident
