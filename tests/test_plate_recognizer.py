"""fast-plate-ocr's plate recognizer, shipped in edge_agent/assets (plate_recognizer.py)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

from edge_agent.vision import onnx_models
from edge_agent.errors import AgentError
from edge_agent.vision.plate_recognizer import ALPHABET, MISSED, MODEL, PAD, REGIONS, SLOTS, PlateRecognizer, SlotRead

try:
    from rendered import render_br
except ImportError:  # tests/ imported as a package
    from tests.rendered import render_br

CONFIG = Path(__file__).resolve().parents[1] / "models" / "cct_xs_v2_global_plate_config.yaml"


def test_the_model_loads_from_the_package_assets_with_its_checksum():
    path = onnx_models.model_path(MODEL)
    assert path.parent.name == "assets" and path.parent.parent.name == "edge_agent"
    onnx_models._verify.cache_clear()


def test_a_model_file_with_another_checksum_is_refused(monkeypatch):
    onnx_models._verify.cache_clear()
    monkeypatch.setitem(onnx_models.MODEL_SHA256, MODEL, "0" * 64)
    try:
        with pytest.raises(AgentError, match="checksum"):
            onnx_models.model_path(MODEL)
    finally:
        onnx_models._verify.cache_clear()


def test_alphabet_and_regions_are_the_models_own_config():
    text = CONFIG.read_text()
    assert re.search(r"^alphabet: '(.*)'$", text, re.M).group(1) == ALPHABET
    assert re.search(r"^pad_char: '(.)'$", text, re.M).group(1) == PAD
    assert tuple(re.findall(r"'([^']+)'", text.split("plate_regions:")[1])) == REGIONS


def _slots(text: str, sure: float = 0.99) -> SlotRead:
    slots = np.full((SLOTS, len(ALPHABET)), (1 - sure) / (len(ALPHABET) - 1))
    for i in range(SLOTS):
        slots[i, ALPHABET.index(text[i] if i < len(text) else PAD)] = sure
    return SlotRead(text, slots, np.ones(len(REGIONS)) / len(REGIONS))


def test_a_text_one_character_off_costs_one_miss_not_a_misread_slot_each():
    read = _slots("KURSAE")
    assert read.log_likelihood("KURSAE") == pytest.approx(SLOTS * math.log(0.99))
    # URSAE: the K is an extra the recognizer read (one miss), not five slots misread.
    assert read.log_likelihood("URSAE") == pytest.approx(read.log_likelihood("KURSAE") - math.log(0.99)
                                                          + math.log(MISSED), abs=0.05)
    assert read.char_probs_of("URSAE") == pytest.approx([0.99] * 5)
    # A character the slots never read has no probability of its own.
    assert read.char_probs_of("KURSAEX") == pytest.approx([0.99] * 6 + [0.0])
    assert read.log_likelihood("KURSAE_") == -math.inf


def test_rendered_brazilian_plates_are_read_whole():
    renderer = render_br()
    recognizer = PlateRecognizer()
    texts, reads = [], []
    for seed in range(6):
        for kind in ("old", "mercosul"):
            plate, text = renderer.render_br(seed, kind)
            texts.append(text)
            reads.append(recognizer([plate])[0])
    # 11 of the 12 here; the miss is a Mercosul O read as 0 (the DejaVu
    # glyphs are nearly one). The region head takes these renderings for
    # US or UK plates, not Brazil's: they are not Brazil's fonts or colours.
    assert sum(r.text == t for r, t in zip(reads, texts)) >= 10, list(zip(texts, [r.text for r in reads]))
