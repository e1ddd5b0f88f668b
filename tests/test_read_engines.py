"""Both reader engines run on onnxruntime from models shipped with the package, without torch."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from edge_agent.vision import easyocr_onnx
from edge_agent.errors import AgentError

try:
    from datasets import DATASETS, require
except ImportError:  # tests/ imported as a package
    from tests.datasets import DATASETS, require

ROOT = Path(__file__).resolve().parents[1]
US_CROPS = DATASETS / "openalpr-benchmarks" / "ocr" / "us"

# Refuses torch (and what would pull it in) the way a unit without it would.
WITHOUT_TORCH = textwrap.dedent("""
    import json, sys

    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision", "easyocr"):
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
            return None

    sys.meta_path.insert(0, NoTorch())
    import cv2
    from dataclasses import replace
    from edge_agent.config import ReaderConfig
    from edge_agent.vision.read import make_reader

    reader = make_reader(replace(ReaderConfig(), engine="easyocr"))
    reads = reader.read_crop(cv2.imread(sys.argv[1]))
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "easyocr"))
    print(json.dumps({"reads": [[r.text, r.confidence] for r in reads], "loaded": loaded,
                      "reader": type(reader).__name__}))
""")


def test_easyocr_engine_reads_a_us_plate_without_torch():
    crop = require(US_CROPS) / "ar1282.png"  # labelled 318ACZ in groundtruth.csv
    done = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, str(crop)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["reader"] == "EasyOcrReader"
    assert out["loaded"] == []
    text, confidence = out["reads"][0]
    assert text == "318ACZ"
    assert confidence > 0.6


def test_easyocr_input_is_padded_like_easyocr():
    gray = np.tile(np.linspace(0, 255, 90, dtype=np.float32), (40, 1)).astype(np.uint8)
    x = easyocr_onnx.to_input(gray)
    # 90x40 -> 144 px wide at height 64, padded to the next multiple of 64.
    assert x.shape == (1, 1, 64, 192)
    assert x.min() >= -1.0 and x.max() <= 1.0
    assert np.array_equal(x[0, 0, :, 144:], np.repeat(x[0, 0, :, 143:144], 48, axis=1))


def test_easyocr_model_with_another_checksum_is_refused(monkeypatch):
    monkeypatch.setattr(easyocr_onnx, "MODEL_SHA256", "0" * 64)
    with pytest.raises(AgentError, match="checksum"):
        easyocr_onnx.model_path()
