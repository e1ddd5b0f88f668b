"""Signed hot lists: the message central servers publish and units verify.

    {"schema": "edge-agent/hotlist/1", "version": 42, "issued_at": "2026-05-01T06:00:00.000Z",
     "entries": [{"plate": "7305BRX", "state": "ES", "category": "stolen-vehicle",
                  "ref": "CASE-2026-0142", "expires": "2026-12-31"}],
     "signature": "<base64 Ed25519 signature>"}

The signature covers every other field, serialised canonically (RFC 8785:
keys sorted, no whitespace, UTF-8), so any edit, added field or reordering
trick breaks it. `version` must grow with every list a site issues; a unit
refuses one that is not newer than the list it holds.

Anyone who can publish on the topic can send anything, so the signature is
checked before any other field is looked at, and a refusal's reason is a
fixed phrase with counts and sizes: it never quotes the message (a field's
name is any text an attacker likes, a plate or a person's name), because the
reason goes to the status, the journal and the access log.

A unit keeps only the hot-list fields of match.KEPT_COLUMNS. A list whose entries carry any
other field (a name, a birth date) is refused whole, counting the fields,
never naming them: the signer drops such columns before signing, so a
list that still has them was not made by `edge-agent hotlist sign`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ..clock import rfc3339_utc, utc_now
from ..errors import InputError
from ..privacy.match import KEPT_COLUMNS, MAX_ENTRIES, MIN_PLATE_LEN, _parse_expires
from ..plates import normalise
from ..records import HotListEntry

SCHEMA = "edge-agent/hotlist/1"
_FIELDS = {"schema", "version", "issued_at", "entries", "signature"}
# A full list of MAX_ENTRIES entries with every field filled is about 16 MB;
# this leaves each entry twice that room. Parsing a message this size, signed
# or not, takes about 210 MB for a moment; a bigger one is refused unread.
MAX_BYTES = 32 * 1024 * 1024
# object > entries array > entry object: the shape checks below refuse
# anything deeper once the signature holds.
MAX_DEPTH = 3
# Above 2**53 a version no longer survives a JSON reader that uses doubles,
# and one near 2**63 would make every later list "not newer" for ever.
MAX_VERSION = 2**53 - 1
# No list predates the format; and a list dated ahead of the clock by more
# than a plausible skew would never grow stale.
EARLIEST_ISSUE = datetime(2000, 1, 1, tzinfo=timezone.utc)
CLOCK_SKEW = timedelta(days=1)
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})\Z")


class HotlistRejected(InputError):
    """A list the unit will not use; the message names no plate or value."""


@dataclass(frozen=True)
class SignedList:
    version: int
    issued_at: datetime
    entries: tuple[HotListEntry, ...]
    digest: str  # SHA-256 of the signed body: tells a re-delivery from a forgery
    raw: bytes  # the message as received, kept so a restart can verify it again


def canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _read_pem(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise InputError(f"cannot read the hot-list {what} {path}: {exc.strerror or exc}") from None


def load_public_key(path: str) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(_read_pem(path, "public key"))
    except ValueError:
        key = None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(f"{path}: not an Ed25519 public key in PEM form")
    return key


def load_private_key(path: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read_pem(path, "private key"), password=None)
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(f"{path}: not an unencrypted Ed25519 private key in PEM form")
    return key


def public_pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def sign(entries: Iterable[HotListEntry], *, version: int, issued_at: datetime, key: Ed25519PrivateKey) -> bytes:
    body = {
        "schema": SCHEMA,
        "version": int(version),
        "issued_at": rfc3339_utc(issued_at),
        "entries": [_entry_json(e) for e in entries],
    }
    signature = base64.b64encode(key.sign(canonical(body))).decode("ascii")
    return canonical({**body, "signature": signature})


def _entry_json(entry: HotListEntry) -> dict[str, Any]:
    out = {}
    for column in KEPT_COLUMNS:
        value = getattr(entry, column)
        out[column] = value.isoformat() if column == "expires" and value else (value or None)
    return out


def verify(payload: bytes, key: Ed25519PublicKey, *, now: datetime | None = None,
           stored: bool = False) -> SignedList:
    """The list in `payload` if `key` signed it; else HotlistRejected saying why, quoting nothing of it.

    `stored`: the unit's own copy, already accepted once, whose issue time is
    not held against a clock that may have been set back since (a Pi has no
    real-time clock)."""
    if len(payload) > MAX_BYTES:
        raise HotlistRejected(f"message of {len(payload)} bytes is over the {MAX_BYTES}-byte limit")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise HotlistRejected("not JSON") from None
    except RecursionError:
        # json gives up near the interpreter's recursion limit, cleanly and fast;
        # anything from 4 levels up is refused after the signature, by shape.
        raise HotlistRejected(f"nested far deeper than the {MAX_DEPTH} levels of a hot list") from None
    signature = doc.pop("signature", None) if isinstance(doc, dict) else None
    if not isinstance(signature, str):
        raise HotlistRejected("not a signed hot list")
    try:
        body = canonical(doc)
        key.verify(base64.b64decode(signature, validate=True), body)
    except (binascii.Error, ValueError, RecursionError, InvalidSignature):
        raise HotlistRejected("bad signature (altered, or signed with another key)") from None

    # Signed from here on, but a signer's mistake is still not quoted: the counts say enough.
    if doc.get("schema") != SCHEMA:
        raise HotlistRejected(f"not an {SCHEMA} message")
    extra = set(doc) - _FIELDS
    if extra:
        raise HotlistRejected(f"{len(extra)} top-level field(s) not allowed in a hot list")
    version = doc.get("version")
    if type(version) is not int or not 1 <= version <= MAX_VERSION:
        raise HotlistRejected(f"version must be a whole number from 1 to {MAX_VERSION}")
    issued_at = _parse_time(doc.get("issued_at"), None if stored else (now or utc_now()))
    entries = doc.get("entries")
    if not isinstance(entries, list):
        raise HotlistRejected("entries must be a list")
    if len(entries) > MAX_ENTRIES:
        raise HotlistRejected(f"{len(entries)} entries, over the limit of {MAX_ENTRIES} a unit holds")
    extra_fields = {k for e in entries if isinstance(e, dict) for k in e} - set(KEPT_COLUMNS)
    if extra_fields:
        raise HotlistRejected(f"entries carry {len(extra_fields)} field(s) not allowed on the unit")
    parsed = tuple(_entry(number, e) for number, e in enumerate(entries, start=1))
    return SignedList(version, issued_at, parsed, hashlib.sha256(body).hexdigest(), bytes(payload))


def _parse_time(value: Any, now: datetime | None) -> datetime:
    # fromisoformat alone also takes week dates, bare dates and no time zone.
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise HotlistRejected("issued_at is not an RFC 3339 time with a time zone")
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(timezone.utc)
    except (ValueError, OverflowError):  # month 13; year 9999 pushed past the calendar by its offset
        raise HotlistRejected("issued_at is not an RFC 3339 time with a time zone") from None
    if when < EARLIEST_ISSUE:
        raise HotlistRejected(f"issued_at is before {EARLIEST_ISSUE.year}")
    if now is not None and when > now + CLOCK_SKEW:
        raise HotlistRejected("issued_at is more than a day ahead of this unit's clock")
    return when


def _entry(number: int, e: Any) -> HotListEntry:
    # Signed by the central side, so a bad entry means a broken issuer: refuse
    # the list rather than run on part of it. No field value is quoted.
    if not isinstance(e, dict):
        raise HotlistRejected(f"entry {number} is not an object")
    fields = {k: e.get(k) for k in KEPT_COLUMNS}
    if any(v is not None and not isinstance(v, str) for v in fields.values()):
        raise HotlistRejected(f"entry {number}: fields must be strings")
    plate = normalise(fields["plate"] or "")
    if len(plate) < MIN_PLATE_LEN:
        raise HotlistRejected(f"entry {number}: plate is empty or shorter than {MIN_PLATE_LEN} characters")
    try:
        expiry = _parse_expires(fields["expires"] or "")
    except ValueError:
        raise HotlistRejected(f"entry {number}: expires is not a date (YYYY-MM-DD)") from None
    kept = {k: v or "" for k, v in fields.items() if k not in ("plate", "expires")}
    return HotListEntry(plate=plate, expires=expiry, **kept)
