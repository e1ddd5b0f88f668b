import gc
import logging
from dataclasses import fields
from datetime import date, datetime, timezone

import numpy as np
import pytest

from edge_agent.errors import InputError
from edge_agent.privacy.match import HotList, Matcher, load_hotlist
from edge_agent.records import Box, HotListEntry, VehicleRead

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
TODAY = date(2025, 6, 1)
PRIVATE = ["John Q Public", "1980-02-03", "12 Elm Street", "Mary Roe", "1975-11-30"]


def write(tmp_path, text, name="hot.csv", encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def vread(text):
    return VehicleRead(
        text=text,
        confidence=0.9,
        captured_at=NOW,
        first_seen=NOW,
        last_seen=NOW,
        frames=3,
        box=Box(10, 10, 80, 20),
        crop=np.zeros((20, 80, 3), np.uint8),
    )


def hotlist(*entries):
    return HotList(tuple(entries), "mem", (), ())


def test_private_columns_dropped_and_never_kept_or_logged(tmp_path, caplog):
    p = write(
        tmp_path,
        "plate,name,dob,state,address,category,ref,expires\n"
        "AB-12 CD,John Q Public,1980-02-03,NSW,12 Elm Street,stolen,R1,\n"
        "XY99ZZ,Mary Roe,1975-11-30,VIC,,warrant,R2,2030-01-01\n",
    )
    with caplog.at_level(logging.DEBUG):
        hl = load_hotlist(p)
    assert hl.entries == (
        HotListEntry("AB12CD", "NSW", "stolen", "R1", None),
        HotListEntry("XY99ZZ", "VIC", "warrant", "R2", date(2030, 1, 1)),
    )
    assert hl.dropped_columns == ("name", "dob", "address")
    assert hl.row_problems == ()
    everything = repr(hl) + "".join(repr(getattr(hl, f.name)) for f in fields(hl))
    for value in PRIVATE:
        assert value not in everything
        assert value not in caplog.text
    assert "dropped columns not allowed on the unit: name, dob, address" in caplog.text
    warnings = [r for r in caplog.records if "dropped columns" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_dropped_values_do_not_linger(tmp_path):
    # Built at run time so no constant in this module holds it.
    secret = "".join(["Secret", "Person", "42"])
    p = write(tmp_path, f"plate,name\nAB12,{secret}\nCD34,{secret}\n")
    hl = load_hotlist(p)
    assert len(hl.entries) == 2
    gc.collect()
    for obj in gc.get_objects():
        if isinstance(obj, (list, tuple, dict)):
            assert secret not in obj, "a dropped value is still referenced"


def test_malformed_rows_reported_with_line_and_rest_loaded(tmp_path, caplog):
    p = write(
        tmp_path,
        "plate,name,expires\n"  # line 1
        "AAA111,John Q Public,\n"  # 2
        "BBB222,1980-02-03\n"  # 3: wrong field count
        "\n"  # 4: blank, ignored
        "-,Mary Roe,\n"  # 5: empty plate after normalise
        "C,x,\n"  # 6: too short
        "DDD444,y,01/02/2030\n"  # 7: bad date
        '"EEE555","multi\nline",\n'  # 8-9
        "FFF 666,z,2030-12-31\n",  # 10
    )
    with caplog.at_level(logging.DEBUG):
        hl = load_hotlist(p)
    assert [e.plate for e in hl.entries] == ["AAA111", "EEE555", "FFF666"]
    lines = [prob.split(": ")[0] for prob in hl.row_problems]
    assert lines == [f"{p}:3", f"{p}:5", f"{p}:6", f"{p}:7"]
    assert "expected 3 fields, found 2" in hl.row_problems[0]
    text = repr(hl) + caplog.text
    for value in PRIVATE + ["01/02/2030", "BBB222"]:
        assert value not in text


def test_bom_and_semicolons(tmp_path):
    p = write(tmp_path, "\ufeffPlate ; State;DOB\nab 12 cd;NSW;1980-02-03\n")
    hl = load_hotlist(p)
    assert hl.entries == (HotListEntry("AB12CD", "NSW"),)
    assert hl.dropped_columns == ("dob",)
    assert "1980-02-03" not in repr(hl)


def test_utf8_sig_encoded_and_tabs(tmp_path):
    p = write(tmp_path, "plate\tref\nÅB12\tR9\n", encoding="utf-8-sig")
    assert load_hotlist(p).entries == (HotListEntry("AB12", ref="R9"),)


def test_no_plate_column(tmp_path):
    p = write(tmp_path, "name,state\nJohn Q Public,NSW\n")
    with pytest.raises(InputError) as e:
        load_hotlist(p)
    assert str(e.value) == f"{p}:1: hotlist: no 'plate' column"
    assert "John" not in str(e.value)


def test_missing_and_undecodable_file(tmp_path):
    with pytest.raises(InputError, match="nope.csv"):
        load_hotlist(tmp_path / "nope.csv")
    p = write(tmp_path, "plate,name\nAB12,Jos\xe9\n", encoding="latin-1")
    with pytest.raises(InputError) as e:
        load_hotlist(p)
    assert str(p) in str(e.value) and "Jos" not in str(e.value)


def test_exact_and_tolerant_match():
    m = Matcher(hotlist(HotListEntry("AB12CD", ref="R1"), HotListEntry("XO8Y", ref="R2")), 1)
    hit = m.match(vread("AB12CD"), TODAY)
    assert hit and hit.entry.ref == "R1" and hit.distance == 0
    hit = m.match(vread("A812CD"), TODAY)  # B read as 8
    assert hit and hit.entry.ref == "R1" and hit.distance == 1
    hit = m.match(vread("X08Y"), TODAY)  # O read as 0
    assert hit and hit.entry.ref == "R2" and hit.distance == 1
    assert m.match(vread("X00Y"), TODAY) is None  # two confusions, tolerance 1
    m2 = Matcher(hotlist(HotListEntry("XO8Y")), 2)
    assert m2.match(vread("X0BY"), TODAY).distance == 2


def test_tolerance_zero_refuses_confusable():
    m = Matcher(hotlist(HotListEntry("AB12CD")), 0)
    assert m.match(vread("A812CD"), TODAY) is None
    assert m.match(vread("AB12CD"), TODAY).distance == 0


def test_non_confusable_difference_never_matches():
    m = Matcher(hotlist(HotListEntry("AB12CD")), 2)
    assert m.match(vread("AB12CE"), TODAY) is None  # D/E not confusable
    assert m.match(vread("AB12C"), TODAY) is None  # shorter
    assert m.match(vread("AB12CDX"), TODAY) is None  # longer
    assert m.match(vread("XB12CD"), TODAY) is None


def test_exact_preferred_over_tolerant_and_deterministic():
    entries = (HotListEntry("AB1", ref="fuzzy"), HotListEntry("A81", ref="exact"),
               HotListEntry("A81", ref="dup"))
    m = Matcher(hotlist(*entries), 1)
    for _ in range(3):
        hit = m.match(vread("A81"), TODAY)
        assert hit.entry.ref == "exact" and hit.distance == 0


def test_expired_entries_not_matched():
    entries = (
        HotListEntry("OLD111", expires=date(2025, 5, 31)),
        HotListEntry("EDGE22", expires=date(2025, 6, 1)),
        HotListEntry("NEW333", expires=None),
    )
    m = Matcher(hotlist(*entries), 1)
    assert m.match(vread("OLD111"), TODAY) is None
    assert m.match(vread("EDGE22"), TODAY) is not None  # valid through its expiry day
    assert m.match(vread("EDGE22"), date(2025, 6, 2)) is None
    assert m.match(vread("NEW333"), TODAY) is not None


def test_expired_exact_falls_back_to_live_tolerant():
    entries = (
        HotListEntry("AB12", ref="old", expires=date(2000, 1, 1)),
        HotListEntry("A812", ref="live"),
    )
    hit = Matcher(hotlist(*entries), 1).match(vread("AB12"), TODAY)
    assert hit.entry.ref == "live" and hit.distance == 1


def test_len_counts_live_entries(tmp_path):
    p = write(tmp_path, "plate,expires\nAA11,2000-01-01\nBB22,\nCC33,2999-01-01\n")
    assert len(Matcher(load_hotlist(p), 1)) == 2


def test_matcher_logs_no_read_text(caplog):
    m = Matcher(hotlist(HotListEntry("AB12CD")), 1)
    with caplog.at_level(logging.DEBUG):
        assert m.match(vread("ZZ99ZZ"), TODAY) is None
    assert "ZZ99ZZ" not in caplog.text


def test_broken_csv_is_an_input_error_without_values(tmp_path):
    # A field over the csv module's size limit (131072 characters).
    p = write(tmp_path, "plate,name\nAB12,John Q Public\nCD34,Jo" + "h" * 200_000 + "\n")
    with pytest.raises(InputError) as e:
        load_hotlist(p)
    assert str(e.value).startswith(f"{p}:3: ") and "Jo" not in str(e.value)
