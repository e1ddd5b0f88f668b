"""Plate formats: one-swap and one-drop corrections into a known format, O/0 by format."""

from __future__ import annotations

import numpy as np

from edge_agent.vision.ocr import TextLine, TextRecognizer
from edge_agent.vision.plate_formats import apply_formats, canonical_glyphs, fits


def line(text: str, probs=None, alternatives=()) -> TextLine:
    probs = tuple(probs or (0.99,) * len(text))
    alternatives = alternatives or tuple(((c, p),) for c, p in zip(text, probs))
    return TextLine(text, sum(probs) / len(probs), probs, alternatives)


def test_a_read_that_fits_a_format_is_left_alone():
    assert apply_formats(line("6380CCS")).text == "6380CCS"
    assert apply_formats(line("7ABC123")).text == "7ABC123"


def test_one_letter_digit_confusion_is_fixed_by_the_models_next_best_character():
    alts = list(((c, 0.99),) for c in "LABC234")
    alts[0] = (("L", 0.6), ("1", 0.3), ("I", 0.05))
    fixed = apply_formats(line("LABC234", (0.6,) + (0.99,) * 6, tuple(alts)))
    assert fixed.text == "1ABC234"
    assert fixed.confidence < 0.99  # a corrected read never outranks a clean one


def test_no_swap_the_model_saw_no_trace_of():
    alts = list(((c, 0.99),) for c in "LABC234")
    alts[0] = (("L", 0.99), ("E", 0.01))  # no digit among the alternatives
    assert apply_formats(line("LABC234", alternatives=tuple(alts))).text == "LABC234"


def test_a_weak_emblem_between_character_groups_is_dropped():
    # Slovak plates carry a coat of arms between RK and the digits; it reads as 0.
    dropped = apply_formats(line("RK0565AV", (1.0, 1.0, 0.23, 1.0, 1.0, 1.0, 1.0, 1.0)))
    assert dropped.text == "RK565AV"
    assert dropped.confidence == 1.0


def test_a_weak_emblem_at_an_end_is_dropped():
    # Arizona's cactus before the registration reads as a weak 4; Slovakia's
    # coat of arms before it as a weak R.
    assert apply_formats(line("4ASC7399", (0.55,) + (1.0,) * 7)).text == "ASC7399"
    assert apply_formats(line("RRK776A1", (0.64,) + (1.0,) * 6 + (0.66,))).text == "RK776AI"


def test_a_lone_weak_character_between_sure_ones_is_dropped_as_an_emblem():
    # Florida's orange between the groups of 7164HF; Florida's formats are not listed.
    assert apply_formats(line("71684HF", (1.0, 1.0, 1.0, 0.46, 0.99, 1.0, 1.0))).text == "7164HF"
    # Two weak characters, or a weak one beside a doubtful one, are blur, not an emblem.
    assert apply_formats(line("71684HF", (1.0, 0.45, 1.0, 0.46, 0.99, 1.0, 1.0))).text == "71684HF"
    assert apply_formats(line("71684HF", (1.0, 1.0, 0.8, 0.46, 0.99, 1.0, 1.0))).text == "71684HF"


def test_a_sure_character_is_never_dropped():
    assert apply_formats(line("RK0565AV")).text == "RK0565AV"  # every character sure
    assert apply_formats(line("X6380CCS", (0.9,) + (1.0,) * 7)).text == "X6380CCS"


def test_round_glyph_and_bar_are_written_by_format():
    assert canonical_glyphs("RK1O1AO") == "RK101AO"  # LLDDDLL: digits in the middle, letters at the end
    assert canonical_glyphs("O380CCS") == "0380CCS"
    assert canonical_glyphs("NOX218") == "N0X218"  # no format: US records write the round glyph as 0
    assert fits("RK101AO") and not fits("RK0565AV")


def test_spain_issues_consonants_only():
    # 7506IHI is no Spanish plate (no vowels there), so its bars stay free
    # for another format to place.
    assert not fits("7506IHI") and fits("7506BHC")
    alts = list(((c, 0.99),) for c in "0752GJA")
    alts[6] = (("A", 0.6), ("R", 0.3), ("4", 0.05))
    assert apply_formats(line("0752GJA", (0.99,) * 6 + (0.6,), tuple(alts))).text == "0752GJR"


def test_californias_commercial_series_writes_its_bars_as_digits():
    # 12345A1 on trucks and taxis: the glyphs are set, nothing is swapped.
    assert canonical_glyphs("7506IHI") == "75061H1"
    assert canonical_glyphs("5932IPI") == "59321P1"
    # An all-digit read, or a bar in the letter's place, is left as read.
    assert canonical_glyphs("1234517") == "1234517"
    assert canonical_glyphs("12345I7") == "12345I7"
    assert not fits("75061H1")  # no format to correct into


def test_a_czech_registration_keeps_its_third_place_a_digit():
    # 1B1 9839: read with a bar in the third place it also fits DLLDDDD,
    # but the Czech series DLDDDDD is consulted first.
    assert canonical_glyphs("1BI9839") == "1B19839"
    assert canonical_glyphs("1B19839") == "1B19839"


def test_an_edge_character_split_between_look_alikes_is_kept():
    rec = TextRecognizer()
    vocab = len(rec.session.get_modelmeta().custom_metadata_map["character"].splitlines()) + 2
    index = {label: rec._keep[i] for i, label in enumerate(rec._labels)}
    steps = []
    for ch in "RK857A":
        p = np.zeros(vocab, np.float32)
        p[index[ch]] = 1.0
        steps += [p, np.eye(vocab, dtype=np.float32)[0]]  # the character, then a blank
    last = np.zeros(vocab, np.float32)
    last[index["1"]], last[index["I"]], last[0] = 0.43, 0.45, 0.12
    steps.append(last)
    assert rec._decode(np.stack(steps)).text == "RK857AI"
    # A weak edge mark with no look-alike support is still dropped.
    last[index["1"]], last[index["I"]], last[index["T"]], last[0] = 0.2, 0.1, 0.3, 0.4
    steps[-1] = last
    assert rec._decode(np.stack(steps)).text == "RK857A"
