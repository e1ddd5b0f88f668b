"""Schema 1 of the store kept hits and queued alerts in plain text; seal them.

Run once, inside Store._open, on a unit upgraded in place: every hit and its
queued alert is re-written under its day's key, in publish order, and the
plain tables are dropped in the same transaction (secure_delete zeroes their
pages; the checkpoint at open truncates the WAL).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from ..clock import parse_rfc3339

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger(__name__)


def migrate_v1(store: Store) -> None:
    conn = store._db.conn
    hits = conn.execute("SELECT alert_id, plate, confidence, captured_at, hotlist_category, hotlist_ref,"
                        " hotlist_state, distance, crop_jpeg FROM hits").fetchall()
    queued = {r[0]: (r[1], bytes(r[2]), r[3]) for r in
              conn.execute("SELECT alert_id, topic, payload, created_at FROM outbox ORDER BY seq")}
    order = {alert_id: i for i, alert_id in enumerate(queued)}
    hits.sort(key=lambda h: order.get(h[0], -1))  # queued alerts keep their publish order
    with store._db.atomic():
        conn.execute("DROP TABLE hits")
        conn.execute("DROP TABLE outbox")
        store._create_schema()
        for alert_id, plate, confidence, captured_at, category, ref, state, distance, crop in hits:
            record = {"plate": plate, "state": state or "", "category": category or "", "ref": ref or "",
                      "confidence": confidence, "distance": distance}
            store._insert(alert_id, parse_rfc3339(captured_at), "", record, bytes(crop) if crop is not None else None,
                          queued.get(alert_id))
    log.info("store %s: %d hits from schema 1 encrypted at rest", store.path, len(hits))
