import os
import sqlite3
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_agent.config.retention import RetentionConfig
from edge_agent.errors import AgentError
from edge_agent.records import Box, HotListEntry, Hit, VehicleRead
from edge_agent.privacy.store import DB_NAME, OutboxItem, Store, rfc3339_utc

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)  # on a 5-minute boundary


def make_read(text: str, when: datetime = NOW, seed: int = 0) -> VehicleRead:
    # Noise, so each crop's JPEG entropy-coded data is unique to it.
    crop = np.random.default_rng(seed).integers(0, 256, (24, 96, 3), dtype=np.uint8)
    return VehicleRead(
        text=text, confidence=0.91234, captured_at=when, first_seen=when, last_seen=when,
        frames=4, box=Box(10, 20, 96, 24), crop=crop,
    )


def make_hit(text: str, when: datetime = NOW, seed: int = 0) -> Hit:
    entry = HotListEntry(plate=text, state="CA", category="stolen", ref="case-17")
    return Hit(read=make_read(text, when, seed), entry=entry, distance=1)


def jpeg(hit: Hit) -> bytes:
    ok, buf = cv2.imencode(".jpg", hit.read.crop, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return buf.tobytes()


def scan_data(jpeg_bytes: bytes) -> list[bytes]:
    """32-byte pieces of the entropy-coded part: the headers before SOS are
    the same for every crop of that size, so only the scan data identifies one."""
    body = jpeg_bytes[jpeg_bytes.index(b"\xff\xda") + 16 : -2]
    assert len(body) > 64
    return [body[i : i + 32] for i in range(0, len(body) - 32, 32)]


def raw_bytes(data_dir: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in Path(data_dir).rglob("*") if p.is_file()}


def assert_absent(data_dir: Path, needles: list[bytes]) -> None:
    files = raw_bytes(data_dir)
    assert files, "nothing to scan"
    for name, blob in files.items():
        for needle in needles:
            assert needle not in blob, f"{needle[:16]!r}... still in {name}"


def add(store: Store, hit: Hit, alert_id: str) -> bytes:
    crop = jpeg(hit)
    payload = b'{"plate":"' + hit.read.text.encode() + b'"}'
    store.add_hit(hit, alert_id=alert_id, topic="edge-agent/s/c/hit", payload=payload, crop_jpeg=crop, camera="s/c")
    return crop


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data", RetentionConfig(non_hit_minutes=0, hit_days=30))
    yield s
    s.close()


def test_add_hit_then_pending_and_mark_delivered(store):
    add(store, make_hit("AB12CDE"), "a1")
    add(store, make_hit("XY98ZZZ", seed=1), "a2")
    assert store.outbox_depth() == 2
    items = store.pending()
    assert [i.alert_id for i in items] == ["a1", "a2"]
    assert isinstance(items[0], OutboxItem) and items[0].seq < items[1].seq
    assert items[0].topic == "edge-agent/s/c/hit" and items[0].payload == b'{"plate":"AB12CDE"}'
    assert store.pending(limit=1) == items[:1]

    store.mark_delivered("a1")
    assert [i.alert_id for i in store.pending()] == ["a2"]
    assert store.outbox_depth() == 1

    hits = store.hits()
    assert [h["plate"] for h in hits] == ["AB12CDE", "XY98ZZZ"]
    assert hits[0] == {
        "alert_id": "a1", "plate": "AB12CDE", "confidence": pytest.approx(0.91234),
        "captured_at": "2025-06-01T12:00:00.000Z", "hotlist_category": "stolen",
        "hotlist_ref": "case-17", "hotlist_state": "CA", "distance": 1, "camera": "s/c", "held": False,
    }
    assert store.crop("a1") == jpeg(make_hit("AB12CDE"))


def test_hit_and_outbox_row_are_one_transaction(store):
    add(store, make_hit("AB12CDE"), "dup")
    with pytest.raises(sqlite3.IntegrityError):
        add(store, make_hit("QQ11QQQ"), "dup")  # the hits insert fails ...
    assert store.outbox_depth() == 1  # ... and takes its outbox row with it
    assert [h["plate"] for h in store.hits()] == ["AB12CDE"]


def test_outbox_survives_restart(tmp_path):
    retention = RetentionConfig()
    s = Store(tmp_path, retention)
    add(s, make_hit("AB12CDE"), "a1")
    before = s.pending()
    s.close()
    s2 = Store(tmp_path, retention)
    try:
        assert s2.pending() == before
        assert s2.hits()[0]["plate"] == "AB12CDE"
    finally:
        s2.close()


def test_files_are_private_and_pragmas_set(tmp_path):
    data = tmp_path / "data"
    s = Store(data, RetentionConfig())
    try:
        assert stat.S_IMODE(os.stat(data).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(data / DB_NAME).st_mode) == 0o600
        conn = s._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    finally:
        s.close()
    assert not list(data.glob("*-journal"))


def test_purge_erases_expired_hits_from_every_file(tmp_path):
    data = tmp_path / "data"
    s = Store(data, RetentionConfig(hit_days=30))
    old = NOW - timedelta(days=31)
    delivered, undelivered, fresh = make_hit("OLD1DLV", old, 1), make_hit("OLD2UND", old, 2), make_hit("NEW3KEP", NOW, 3)
    crops = [add(s, delivered, "old-1"), add(s, undelivered, "old-2"), add(s, fresh, "new-3")]
    s.mark_delivered("old-1")
    # What the expired hits left on disk: their ciphertexts and their day's key.
    sealed = [bytes(b) for b in s._conn.execute(
        "SELECT record FROM hits WHERE alert_id LIKE 'old-%' UNION ALL SELECT crop FROM hits WHERE alert_id LIKE"
        " 'old-%' UNION ALL SELECT payload FROM outbox WHERE alert_id LIKE 'old-%'").fetchall() for b in b]
    old_key = (data / "keys" / "day-2025-05-01.key").read_bytes()
    assert len(sealed) == 5 and any(old_key in blob for blob in raw_bytes(data).values())
    kept = [bytes(s._conn.execute("SELECT record FROM hits WHERE alert_id = 'new-3'").fetchone()[0])]

    # Age never destroys an alert the broker has not taken: the undelivered
    # hit and its day's key wait for it.
    assert s.purge(NOW) == {"hits": 1, "outbox": 0, "non_hits": 0, "keys": 0, "holds": 0}
    assert [h["alert_id"] for h in s.hits()] == ["old-2", "new-3"]
    assert [i.alert_id for i in s.pending()] == ["old-2", "new-3"]
    s.mark_delivered("old-2")
    assert s.purge(NOW) == {"hits": 1, "outbox": 0, "non_hits": 0, "keys": 1, "holds": 0}
    assert [h["alert_id"] for h in s.hits()] == ["new-3"]

    gone = [b"OLD1DLV", b"OLD2UND", *scan_data(crops[0]), *scan_data(crops[1]), old_key,
            *(blob[i : i + 32] for blob in sealed for i in range(0, len(blob) - 32, 32))]
    assert_absent(data, gone)  # while the store is still open
    files = raw_bytes(data)
    assert files.get(f"{DB_NAME}-wal", b"") == b""
    assert any(kept[0] in blob for blob in files.values())  # the kept hit is still there
    assert not (data / "keys" / "day-2025-05-01.key").exists()
    s.close()
    assert_absent(data, gone)


def test_non_hits_not_written_when_retention_is_zero(store, tmp_path):
    store.remember_non_hit(make_read("NOHIT42"), NOW)
    assert store.non_hit_count() == 0
    assert store.non_hit_seen("NOHIT42", NOW) == 0
    assert_absent(tmp_path / "data", [b"NOHIT42"])
    store.close()
    assert_absent(tmp_path / "data", [b"NOHIT42"])


def test_non_hits_are_keyed_hashes_kept_for_the_window(tmp_path):
    data = tmp_path / "data"
    s = Store(data, RetentionConfig(non_hit_minutes=5))
    try:
        s.remember_non_hit(make_read("XRAY777"), NOW + timedelta(seconds=30))
        s.remember_non_hit(make_read("YANK888"), NOW + timedelta(minutes=4))
        assert s.non_hit_count() == 2
        assert s.non_hit_seen("XRAY777", NOW + timedelta(minutes=4, seconds=10)) == 1
        assert s.non_hit_seen("ZULU999", NOW + timedelta(minutes=4, seconds=10)) == 0
        assert_absent(data, [b"XRAY777", b"YANK888"])

        # 12:06: the first is older than 5 minutes, the second is not.
        assert s.purge(NOW + timedelta(minutes=6)) == {"hits": 0, "outbox": 0, "non_hits": 1, "keys": 0, "holds": 0}
        assert s.non_hit_count() == 1
        # A new window, a new key: the kept row can no longer be linked.
        assert s.non_hit_seen("YANK888", NOW + timedelta(minutes=6)) == 0
        assert s.purge(NOW + timedelta(minutes=10)) == {"hits": 0, "outbox": 0, "non_hits": 1, "keys": 0, "holds": 0}
        assert s.non_hit_count() == 0
        assert_absent(data, [b"XRAY777", b"YANK888"])
    finally:
        s.close()


def test_non_hits_from_an_earlier_run_are_dropped(tmp_path):
    s = Store(tmp_path, RetentionConfig(non_hit_minutes=5))
    s.remember_non_hit(make_read("XRAY777"), NOW)
    s.close()
    s = Store(tmp_path, RetentionConfig(non_hit_minutes=5))
    try:
        assert s.non_hit_count() == 0  # their key died with the old process
    finally:
        s.close()


def test_corrupt_database_is_a_one_line_error(tmp_path):
    (tmp_path / DB_NAME).write_bytes(b"this is not sqlite" * 512)
    with pytest.raises(AgentError) as err:
        Store(tmp_path, RetentionConfig())
    assert str(tmp_path / DB_NAME) in str(err.value)


def test_data_dir_that_is_a_file_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("not a directory")
    with pytest.raises(AgentError) as err:
        Store(blocker, RetentionConfig())
    assert str(blocker) in str(err.value)


def test_rfc3339_utc():
    assert rfc3339_utc(datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)) == "2025-01-02T03:04:05.678Z"
    plus2 = timezone(timedelta(hours=2))
    assert rfc3339_utc(datetime(2025, 1, 2, 5, 4, 5, tzinfo=plus2)) == "2025-01-02T03:04:05.000Z"


def test_a_schema_1_store_is_encrypted_in_place(tmp_path):
    # Schema 1, as the first release wrote it: plate and crop in plain text.
    conn = sqlite3.connect(tmp_path / DB_NAME)
    conn.executescript("""
        CREATE TABLE hits (alert_id TEXT PRIMARY KEY, plate TEXT NOT NULL, confidence FLOAT, captured_at TEXT NOT NULL,
            hotlist_category TEXT, hotlist_ref TEXT, hotlist_state TEXT, distance INTEGER, crop_jpeg BLOB);
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY, alert_id TEXT NOT NULL, topic TEXT NOT NULL,
            payload BLOB NOT NULL, created_at TEXT);
        CREATE TABLE non_hits (id INTEGER PRIMARY KEY, plate_hmac TEXT, seen_at TEXT);
        PRAGMA user_version=1;""")
    crop = jpeg(make_hit("V1PLATE"))
    for alert_id in ("b", "a"):
        conn.execute("INSERT INTO hits VALUES (?, 'V1PLATE', 0.9, '2025-06-01T12:00:00.000Z', 'stolen', 'R-1', 'CA', 0, ?)",
                     (alert_id, crop))
        conn.execute("INSERT INTO outbox (alert_id, topic, payload, created_at) VALUES (?, 't', ?, 'x')",
                     (alert_id, b'{"plate":"V1PLATE"}'))
    conn.commit()
    conn.close()
    s = Store(tmp_path, RetentionConfig())
    try:
        assert [(h["alert_id"], h["plate"], h["hotlist_ref"]) for h in s.hits()] == [("a", "V1PLATE", "R-1"),
                                                                                     ("b", "V1PLATE", "R-1")]
        assert [i.alert_id for i in s.pending()] == ["b", "a"]  # publish order kept
        assert s.crop("a") == crop
    finally:
        s.close()
    assert_absent(tmp_path, [b"V1PLATE", *scan_data(crop)])
