import itertools

import pytest

from edge_agent.plates import CONFUSION_GROUPS, confusable, fold, normalise


@pytest.mark.parametrize(
    "raw, want",
    [
        ("ab-12 cd", "AB12CD"),
        ("AB.12.CD", "AB12CD"),
        ("  6380 ccs\n", "6380CCS"),
        ("ＡＢ１２ＣＤ", "AB12CD"),  # full-width forms
        ("Ａ‐１２３", "A123"),  # full-width letter, Unicode hyphen
        ("émile-1", "EMILE1"),  # accents stripped, not dropped
        ("АВ123С", "AB123C"),  # Cyrillic look-alikes
        ("ΚΜ-77", "KM77"),  # Greek look-alikes
        ("AB12🚗CD", "AB12CD"),
        ("", ""),
        ("-- ..", ""),
    ],
)
def test_normalise(raw, want):
    assert normalise(raw) == want


def test_normalise_is_idempotent():
    for s in ["ab-12 cd", "ＡＢ１２", "émile"]:
        assert normalise(normalise(s)) == normalise(s)


def test_groups_are_disjoint_and_normalised():
    seen = set()
    for group in CONFUSION_GROUPS:
        assert normalise(group) == group
        assert not seen & set(group)
        seen |= set(group)


def test_confusable_is_symmetric_within_groups():
    for group in CONFUSION_GROUPS:
        for a, b in itertools.product(group, repeat=2):
            assert confusable(a, b) and confusable(b, a)


def test_not_confusable_across_groups():
    assert not confusable("A", "B")
    assert not confusable("0", "8")
    assert not confusable("X", "K")
    assert confusable("X", "X")
    for g1, g2 in itertools.combinations(CONFUSION_GROUPS, 2):
        assert not confusable(g1[0], g2[0])


def test_confusable_wants_single_chars():
    with pytest.raises(ValueError):
        confusable("AB", "A")


def test_fold():
    assert fold("O0DQ") == "0000"
    assert fold("B8") == "88"
    assert fold("6380CCS") == fold("G380CC5")
    assert fold("XYZ") == "XY2"
    assert fold("") == ""
