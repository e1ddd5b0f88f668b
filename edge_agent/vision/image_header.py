"""Size an image from its header before decoding it, and refuse a picture too big to decode.

OpenCV allocates the whole decoded picture before it reads a pixel, and has
no header-only read: a 20000x20000 JPEG of a few kilobytes (or a header that
merely claims those sides) costs 1.2 GB on a unit with 1-4 GB and a 1 GB
MemoryMax. So every photo a technician or a folder source feeds in is sized
here from its own bytes first (JPEG, PNG, BMP, WebP, TIFF: what the image
folder source accepts), and decoded only when it fits.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

# The largest photos the agent meets: a 12 MP camera still (4056x3040), and
# phones' full 48-50 MP sensors (8000x6000, 8160x6120). 8192 px a side and
# 50 MP take all of them; the largest decodes to ~150 MB of BGR, which a
# unit holds beside the running agent (~325 MB) under MemoryMax=1G.
MAX_SIDE = 8192
MAX_PIXELS = 50_000_000
# A 50 MP JPEG at the highest quality is ~30 MB; a PNG of a photo can be twice that.
MAX_FILE_BYTES = 64 * 1024 * 1024

_JPEG_FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOFn; C4/C8/CC are tables


class ImageRejected(Exception):
    """A photo that is not decoded: one line saying why."""


class ImageTooBig(ImageRejected):
    """A photo over MAX_FILE_BYTES, MAX_SIDE or MAX_PIXELS: readable, but not worth a unit's memory."""


def _be(b: bytes, at: int, n: int) -> int:
    return int.from_bytes(b[at:at + n], "big")


def _le(b: bytes, at: int, n: int, signed: bool = False) -> int:
    return int.from_bytes(b[at:at + n], "little", signed=signed)


def _jpeg(b: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(b):
        if b[i] != 0xFF:
            return None
        marker = b[i + 1]
        if marker == 0xFF:  # fill byte before a marker
            i += 1
        elif marker == 0x01 or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
        elif marker in (0xD9, 0xDA):  # end of image, or scan data before any frame header
            return None
        elif marker in _JPEG_FRAMES:
            return (_be(b, i + 7, 2), _be(b, i + 5, 2)) if i + 9 <= len(b) else None
        else:
            length = _be(b, i + 2, 2)
            if length < 2:
                return None
            i += 2 + length
    return None


def _webp(b: bytes) -> tuple[int, int] | None:
    chunk = b[12:16]
    if chunk == b"VP8 " and b[23:26] == b"\x9d\x01\x2a":
        return _le(b, 26, 2) & 0x3FFF, _le(b, 28, 2) & 0x3FFF
    if chunk == b"VP8L" and b[20:21] == b"\x2f":
        bits = _le(b, 21, 4)
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8X":
        return 1 + _le(b, 24, 3), 1 + _le(b, 27, 3)
    return None


def _tiff(b: bytes) -> tuple[int, int] | None:
    order = "little" if b[:2] == b"II" else "big"

    def num(at: int, n: int) -> int:
        return int.from_bytes(b[at:at + n], order)

    ifd = num(4, 4)
    sides: dict[int, int] = {}
    for k in range(num(ifd, 2) if ifd + 2 <= len(b) else 0):
        at = ifd + 2 + 12 * k
        if at + 12 > len(b):
            break
        tag, kind = num(at, 2), num(at + 2, 2)
        if tag in (256, 257) and kind in (3, 4):  # ImageWidth, ImageLength as SHORT or LONG
            sides[tag] = num(at + 8, 2 if kind == 3 else 4)
    return (sides[256], sides[257]) if len(sides) == 2 else None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header alone, or None when it is not one this reads."""
    b = data
    if b[:3] == b"\xff\xd8\xff":
        return _jpeg(data)
    if b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR":
        return _be(b, 16, 4), _be(b, 20, 4)
    if b[:2] == b"BM" and len(b) >= 26:
        if _le(b, 14, 4) == 12:  # OS/2 header: 16-bit sides
            return _le(b, 18, 2), _le(b, 20, 2)
        return abs(_le(b, 18, 4, True)), abs(_le(b, 22, 4, True))  # negative height: top-down rows
    if b[:4] == b"RIFF" and b[8:12] == b"WEBP":
        return _webp(data)
    if b[:4] in (b"II*\x00", b"MM\x00*"):
        return _tiff(data)
    return None


def checked_bytes(path: str | Path) -> bytes:
    """The file's bytes, once its size and its header's sides are within the limits."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise ImageTooBig(f"{size / 2**20:.0f} MB, over the {MAX_FILE_BYTES // 2**20} MB limit")
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImageRejected(f"cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:  # grew while it was read: a file still being copied in
        raise ImageTooBig(f"over the {MAX_FILE_BYTES // 2**20} MB limit")
    sides = image_size(data)
    if sides is None or min(sides) < 1:
        raise ImageRejected("not a JPEG, PNG, BMP, WebP or TIFF header this can size")
    w, h = sides
    if max(w, h) > MAX_SIDE or w * h > MAX_PIXELS:
        raise ImageTooBig(f"{w}x{h} px, over the limit of {MAX_SIDE} px a side and "
                            f"{MAX_PIXELS // 1_000_000} megapixels")
    return data


def to_bgr(image: np.ndarray) -> np.ndarray:
    """Coerce any decoded picture into the BGR uint8 HxWx3 that Frame promises."""
    if image.dtype != np.uint8:
        # 16-bit sensors/TIFFs: keep the top byte rather than clipping.
        image = (image >> 8).astype(np.uint8) if image.dtype == np.uint16 else image.astype(np.uint8)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    return image


def load_image(path: str | Path, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """A photo from a file as BGR uint8, or ImageRejected; never decodes one over the limits."""
    data = checked_bytes(path)
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flags)
    except cv2.error:
        image = None
    if image is None or image.size == 0:
        raise ImageRejected("header read, but the picture does not decode")
    return to_bgr(image)
