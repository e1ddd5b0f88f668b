"""Plate formats by region (regions.py): what each place of a registration holds."""

from __future__ import annotations

import pytest

from edge_agent.vision.plate_recognizer import REGIONS as RECOGNIZER_REGIONS
from edge_agent.vision.regions import REGIONS, fits, fitting

try:
    from rendered import render_br
except ImportError:  # tests/ imported as a package
    from tests.rendered import render_br


def test_every_region_with_formats_is_one_the_plate_recognizer_names():
    assert set(REGIONS) <= set(RECOGNIZER_REGIONS)


@pytest.mark.parametrize("region, plate", [
    ("Brazil", "ABC1234"), ("Brazil", "ABC1D23"),  # old grey series, Mercosul
    ("United States", "7ABC123"), ("United States", "ABC1234"), ("United States", "ABCD12"),  # CA, TX/NY/PA, FL
    ("Spain", "6380CCS"), ("Spain", "MA4844CC"), ("France", "AB123CD"), ("United Kingdom", "AB12CDE"),
    ("Germany", "WOB1234"), ("Germany", "MAB123"), ("Netherlands", "12ABC3"), ("Czech Republic", "4B04979"),
])
def test_common_series_fit_their_regions_format(region, plate):
    assert fitting(plate, REGIONS[region])


def test_a_text_that_breaks_a_format_at_one_place_does_not_fit_it():
    assert not fitting("ABCID23", REGIONS["Brazil"])  # a letter where Mercosul puts a digit
    assert not fitting("6380CAS", REGIONS["Spain"])  # Spain issues no vowels
    assert not fitting("7ABCI23", REGIONS["United States"])
    assert fits("ABC1D23") and not fits("ABC1D23", ("United States",))


def test_rendered_brazilian_plates_fit_brazils_formats_as_rendered():
    renderer = render_br()
    for seed in range(5):
        for kind, fmt in (("old", "LLLDDDD"), ("mercosul", "LLLDLDD")):
            _, text = renderer.render_br(seed, kind)
            assert fitting(text, REGIONS["Brazil"]) == [fmt]
