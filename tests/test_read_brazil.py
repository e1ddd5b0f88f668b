"""Brazilian plates, rendered (models/train/render_br.py), read through detection and both readers.

No Brazilian photo is in ../shared. Brazil issues two formats, the old grey
ABC1234 and Mercosul's ABC1D23 (regions.py); a plate read in the wrong
alphabet (O for 0, I for 1) is what a reader without them makes of it.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from edge_agent.config import ReaderConfig
from edge_agent.vision.detect import TextLinePlateDetector
from edge_agent.vision.read import make_reader, read_frame
from edge_agent.records import Frame

try:
    from rendered import render_br
except ImportError:  # tests/ imported as a package
    from tests.rendered import render_br

SEEDS = range(8)


def _reads(cfg: ReaderConfig, kind: str) -> list[tuple[str, str]]:
    renderer = render_br()
    detector, reader = TextLinePlateDetector(cfg), make_reader(cfg)
    out = []
    for seed in SEEDS:
        scene, text, _ = renderer.road_scene(seed, kind)
        reads = read_frame(Frame(scene, 0, datetime.now(timezone.utc), f"{kind}-{seed}", still=True),
                           detector, reader)
        out.append((text, reads[0].text if reads else ""))
    return out


@pytest.mark.parametrize("kind, at_least", [("old", 8), ("mercosul", 7)])
def test_rendered_brazilian_plates_are_read_exactly(kind, at_least):
    reads = _reads(ReaderConfig(), kind)
    assert sum(text == read for text, read in reads) >= at_least, reads
