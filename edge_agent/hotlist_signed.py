"""Signed hot lists: the message central servers publish and units verify.

    {"schema": "edge-agent/hotlist/1", "version": 42, "issued_at": "2026-05-01T06:00:00.000Z",
     "entries": [{"plate": "7305BRX", "state": "ES", "category": "stolen-vehicle",
                  "ref": "CASE-2026-0142", "expires": "2026-12-31"}],
     "signature": "<base64 Ed25519 signature>"}

The signature covers every other field, serialised canonically (RFC 8785:
keys sorted, no whitespace, UTF-8), so any edit, added field or reordering
trick breaks it. `version` must grow with every list a site issues; a unit
refuses one that is not newer than the list it holds.

A unit keeps only the hot-list fields of match.KEPT_COLUMNS. A list whose entries carry any
other field (a name, a birth date) is refused whole, naming the fields,
never their values: the signer drops such columns before signing, so a
list that still has them was not made by `edge-agent hotlist sign`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .clock import rfc3339_utc
from .errors import InputError
from .match import KEPT_COLUMNS, MIN_PLATE_LEN, _parse_expires
from .plates import normalise
from .records import HotListEntry

SCHEMA = "edge-agent/hotlist/1"
_FIELDS = {"schema", "version", "issued_at", "entries", "signature"}
# Far above any real list (a national extract is a few MB) and far below a
# Pi's memory: a bigger message is refused before it is parsed.
MAX_BYTES = 64 * 1024 * 1024


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


def verify(payload: bytes, key: Ed25519PublicKey) -> SignedList:
    """The list in `payload` if `key` signed it; else HotlistRejected saying why."""
    if len(payload) > MAX_BYTES:
        raise HotlistRejected(f"message of {len(payload)} bytes is larger than {MAX_BYTES}")
    try:
        doc = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        raise HotlistRejected("not JSON") from None
    if not isinstance(doc, dict):
        raise HotlistRejected("not a JSON object")
    if doc.get("schema") != SCHEMA:
        raise HotlistRejected(f"not an {SCHEMA} message")
    extra = sorted(set(doc) - _FIELDS)
    if extra:
        raise HotlistRejected(f"fields not allowed in a hot list: {', '.join(extra)}")
    if "signature" not in doc:
        raise HotlistRejected("unsigned")
    try:
        signature = base64.b64decode(str(doc.pop("signature")), validate=True)
        key.verify(signature, canonical(doc))
    except (binascii.Error, ValueError, InvalidSignature):
        raise HotlistRejected("signature does not verify (altered, or signed with another key)") from None

    version = doc.get("version")
    if type(version) is not int or version < 1:
        raise HotlistRejected("version must be a whole number from 1")
    issued_at = _parse_time(doc.get("issued_at"))
    entries = doc.get("entries")
    if not isinstance(entries, list):
        raise HotlistRejected("entries must be a list")
    extra_fields = sorted({k for e in entries if isinstance(e, dict) for k in e} - set(KEPT_COLUMNS))
    if extra_fields:
        raise HotlistRejected(f"entries carry fields not allowed on the unit: {', '.join(extra_fields)}")
    parsed = tuple(_entry(number, e) for number, e in enumerate(entries, start=1))
    return SignedList(version, issued_at, parsed, hashlib.sha256(canonical(doc)).hexdigest(), bytes(payload))


def _parse_time(value: Any) -> datetime:
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise HotlistRejected("issued_at is not an RFC 3339 time") from None
    if when.tzinfo is None:
        raise HotlistRejected("issued_at has no time zone")
    return when.astimezone(timezone.utc)


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
