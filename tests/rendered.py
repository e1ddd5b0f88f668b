"""The project's plate renderers (models/train/), for tests on rendered examples of a class of plates."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

TRAIN = Path(__file__).resolve().parents[1] / "models" / "train"
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")


def _renderer(name: str):
    """models/train/<name>.py; skips the calling test without Pillow or the DejaVu fonts it draws with."""
    pytest.importorskip("PIL", reason="Pillow draws the rendered plates (deploy/setup.sh --test installs it)")
    if not FONT.is_file():
        pytest.skip(f"the rendered plates are drawn in DejaVu fonts, not found at {FONT} (Debian fonts-dejavu-core)")
    if str(TRAIN) not in sys.path:
        sys.path.insert(0, str(TRAIN))
    return importlib.import_module(name)


def render_br():
    """models/train/render_br.py: Brazilian plates, old and Mercosul."""
    return _renderer("render_br")


def render_us():
    """models/train/render_us.py: US plates by class, and scene text that is no plate."""
    return _renderer("render_us")


def render_two_rows():
    """models/train/render_two_rows.py: two-row plates (Brazilian motorcycles, UK square plates)."""
    return _renderer("render_two_rows")
