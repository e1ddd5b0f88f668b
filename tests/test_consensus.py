"""Two readers and the region's formats choose one text (consensus.py), on scripted reads."""

from __future__ import annotations

import numpy as np
import pytest

from edge_agent.vision.consensus import combine
from edge_agent.vision.ocr import PLATE_CHARSET, TextLine
from edge_agent.vision.plate_recognizer import ALPHABET, PAD, REGIONS, SLOTS, SlotRead


def row_read(text: str, unsure: dict[int, tuple[str, float]] | None = None,
             before: tuple[str, float] | None = None) -> TextLine:
    """A line recognizer's read: one step a character, a blank step between.

    `unsure` gives a character's second choice and its share; `before` a
    faint character on a step ahead of the row (an end character the
    row's box cut through).
    """
    unsure = unsure or {}
    columns = {ch: i + 1 for i, ch in enumerate(PLATE_CHARSET)}
    steps = [np.eye(len(PLATE_CHARSET) + 1)[0] * 0.98 + 0.02 / (len(PLATE_CHARSET) + 1)]
    if before:
        step = np.full(len(PLATE_CHARSET) + 1, 1e-4)
        step[columns[before[0]]], step[0] = before[1], 1 - before[1]
        steps.insert(0, step)
    probs = []
    for i, ch in enumerate(text):
        step = np.full(len(PLATE_CHARSET) + 1, 1e-4)
        other, share = unsure.get(i, (None, 0.0))
        step[columns[ch]] = 1.0 - share
        if other:
            step[columns[other]] = share
        steps += [step / step.sum(), steps[0]]
        probs.append(1.0 - share)
    alternatives = tuple(((ch, 1.0 - unsure.get(i, (None, 0.0))[1]),) +
                         (((unsure[i][0], unsure[i][1]),) if i in unsure else ()) for i, ch in enumerate(text))
    return TextLine(text, float(np.mean(probs)), tuple(probs), alternatives, text, np.array(steps, np.float32))


def plate_read(text: str, region: str, unsure: dict[int, tuple[str, float]] | None = None) -> SlotRead:
    unsure = unsure or {}
    slots = np.full((SLOTS, len(ALPHABET)), 1e-4)
    for i in range(SLOTS):
        ch = text[i] if i < len(text) else PAD
        other, share = unsure.get(i, (None, 0.0))
        slots[i, ALPHABET.index(ch)] = 1.0 - share
        if other:
            slots[i, ALPHABET.index(other)] = share
    regions = np.full(len(REGIONS), 0.001)
    regions[REGIONS.index(region)] = 1.0
    return SlotRead(text, slots / slots.sum(axis=1, keepdims=True), regions / regions.sum())


def test_two_readers_that_agree_on_a_format_keep_their_text():
    chosen = combine(row_read("7ABC123"), plate_read("7ABC123", "United States"))
    assert (chosen.line.text, chosen.reader) == ("7ABC123", "both")
    assert chosen.line.confidence > 0.95


def test_a_character_the_rows_box_cut_through_comes_from_the_plate_reader():
    # The row's box stops inside the W (a trace of it on its first step);
    # the plate reader, which sees the whole plate, reads it surely.
    chosen = combine(row_read("TC249", before=("W", 0.05)), plate_read("WTC249", "United States"))
    assert (chosen.line.text, chosen.reader) == ("WTC249", "plate")


def test_state_initials_the_plate_reader_adds_lose_to_a_sure_row():
    # "US" printed beside a Massachusetts registration: the row reader's box
    # holds the registration alone and shows no trace of them.
    chosen = combine(row_read("5555"), plate_read("US5555", "United States", {0: ("0", 0.3), 1: ("5", 0.3)}))
    assert (chosen.line.text, chosen.reader) == ("5555", "row")


def test_each_reader_wins_the_character_it_is_surer_of():
    # W/N on a small plate: the row reader half doubts its N, the plate reader is sure of the W.
    chosen = combine(row_read("383NJP", {3: ("W", 0.4)}), plate_read("383WJP", "United States"))
    assert chosen.line.text == "383WJP"
    chosen = combine(row_read("AYE132"), plate_read("4YE132", "United States", {0: ("A", 0.35)}))
    assert chosen.line.text == "AYE132"


@pytest.mark.parametrize("region, expected", [("Brazil", "ABC1D23"), ("United States", "ABCID23")])
def test_a_regions_formats_settle_a_glyph_both_readers_doubt(region, expected):
    # Mercosul's ABC1D23 with its bar read as I a little more than as 1 by
    # both: Brazil issues no plate with a letter there, the US issues
    # vanity plates of any shape.
    row = row_read("ABCID23", {3: ("1", 0.45)})
    plate = plate_read("ABCID23", region, {3: ("1", 0.45)})
    assert combine(row, plate).line.text == expected


def test_the_round_glyph_of_a_plate_that_fits_no_format_is_written_as_its_region_writes_it():
    # US records write a round glyph as 0 whatever it is; German plates print O and 0 apart.
    assert combine(row_read("HLOKTY1"), plate_read("HLOKTY1", "United States")).line.zero_for_o
    assert not combine(row_read("WOBVWMK4"), plate_read("WOBVWMK4", "Germany")).line.zero_for_o
    # A text that fits a format of its region keeps its O where the format puts a letter.
    assert not combine(row_read("NOX218"), plate_read("NOX218", "United States")).line.zero_for_o


def test_both_readers_own_reads_are_kept_for_the_bench():
    chosen = combine(row_read("383NJP", {3: ("W", 0.4)}), plate_read("383WJP", "United States"))
    assert [(who, text) for who, text, _ in chosen.line.readers] == [("row", "383NJP"), ("plate", "383WJP")]
