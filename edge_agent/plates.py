"""Plate text helpers: normalising reader/hot-list text and OCR confusion.

Both sides of a comparison (what the reader saw, what the hot list wants)
go through `normalise`, so a plate written "ab-12 cd" in a CSV still matches
a read of "AB12CD".

`fold` maps every character to the canonical member of its OCR confusion
group, so two texts that differ only by confusable characters fold to the
same string; the matcher indexes the hot list by folded text for that
reason.
"""

from __future__ import annotations

import logging
import unicodedata

log = logging.getLogger(__name__)

# OCR confusion groups. Each group is an equivalence class: any member may be
# misread as any other, so `confusable` is symmetric (and transitive) by
# construction. The first character of a group is its canonical form.
# Kept deliberately small: every extra group widens what a tolerant match
# accepts, and a false hit stops a real person's car.
#   0 O D Q  round glyphs; D and Q lose their stroke/tail at low resolution
#   1 I L    vertical strokes; L's foot vanishes on blurred or tilted plates
#   8 B      closed double bowls
#   5 S      same outline, top corner squared or not
#   2 Z      same outline, bottom curve squared or not
#   6 G      G's bar reads as 6's closed bowl
#   4 A      open apex reads as 4's crossbar
CONFUSION_GROUPS: tuple[str, ...] = ("0ODQ", "1IL", "8B", "5S", "2Z", "6G", "4A")

_FOLD: dict[str, str] = {ch: group[0] for group in CONFUSION_GROUPS for ch in group}

# Cyrillic and Greek capitals that look exactly like Latin ones. NFKC does
# not map these (they are distinct letters), yet OCR models trained on mixed
# scripts and CSVs pasted from other systems both produce them.
_HOMOGLYPHS = str.maketrans(
    {
        "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O",
        "Р": "P", "С": "C", "Т": "T", "У": "Y", "Х": "X", "І": "I", "Ј": "J",
        "Ѕ": "S",
        "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K",
        "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P", "Τ": "T", "Υ": "Y", "Χ": "X",
    }
)


def normalise(text: str) -> str:
    """Upper-case `text` and keep only A-Z and 0-9.

    Full-width and other compatibility forms are folded by NFKC, accents are
    stripped (É -> E) and Cyrillic/Greek look-alikes become Latin; any other
    character (space, dash, dot, emoji...) is dropped.
    """
    text = unicodedata.normalize("NFKC", text).upper().translate(_HOMOGLYPHS)
    # NFKD after upper-casing splits an accented capital into base + combining
    # mark, and the ASCII filter below then drops the mark.
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if ("A" <= ch <= "Z") or ("0" <= ch <= "9"))


def fold(text: str) -> str:
    """Map each character to its confusion group's canonical character.

    Characters in no group are kept as they are. Expects normalised text.
    """
    return "".join(_FOLD.get(ch, ch) for ch in text)


def letters_only(text: str) -> bool:
    """A read of letters alone: a vanity plate, or as often a badge or a sign's word.

    The reader keeps such a read only on a closed panel (read.py), and the
    agent counts it only when it hits (service/agent.py).
    """
    return text.isalpha()


def confusable(a: str, b: str) -> bool:
    """True if single characters `a` and `b` are equal or in the same group."""
    if len(a) != 1 or len(b) != 1:
        raise ValueError("confusable() compares single characters")
    return _FOLD.get(a, a) == _FOLD.get(b, b)
