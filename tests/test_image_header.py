"""Photos are sized from their header before they are decoded (issue 27): a
JPEG that claims 20000x20000 would take 2.3 GB to decode, and a unit has 1-4."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from datasets import DATASETS, require

from edge_agent.vision import image_header
from edge_agent.vision.capture import open_source
from edge_agent.config.camera import CameraConfig
from edge_agent.errors import InputError
from edge_agent.vision.image_header import (
    MAX_PIXELS,
    MAX_SIDE,
    ImageRejected,
    ImageTooBig,
    checked_bytes,
    image_size,
    load_image,
)

PHOTOS = DATASETS / "openalpr-benchmarks" / "endtoend" / "us"


def _picture(h: int = 37, w: int = 53) -> np.ndarray:
    return np.random.default_rng(7).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _encoded(ext: str, image: np.ndarray, params: tuple[int, ...] = ()) -> bytes:
    ok, data = cv2.imencode(ext, image, list(params))
    assert ok
    return data.tobytes()


def claiming(width: int, height: int) -> bytes:
    """A real, tiny JPEG whose frame header (SOF0) is patched to claim other sides."""
    data = bytearray(_encoded(".jpg", _picture(8, 8)))
    sof = data.find(b"\xff\xc0")
    assert sof > 0
    data[sof + 5:sof + 7] = height.to_bytes(2, "big")
    data[sof + 7:sof + 9] = width.to_bytes(2, "big")
    return bytes(data)


@pytest.mark.parametrize("ext, params", [
    (".jpg", ()), (".jpg", (cv2.IMWRITE_JPEG_PROGRESSIVE, 1)), (".png", ()), (".bmp", ()),
    (".webp", ()), (".webp", (cv2.IMWRITE_WEBP_QUALITY, 101)),  # lossy VP8 and lossless VP8L
    (".tiff", ()),
])
def test_sides_come_from_real_headers(ext, params):
    assert image_size(_encoded(ext, _picture(), params)) == (53, 37)


def test_grey_and_real_photos_are_sized_as_opencv_decodes_them():
    assert image_size(_encoded(".png", _picture()[:, :, 0])) == (53, 37)
    photos = sorted(require(PHOTOS).glob("*.jpg"))[:20]
    assert photos
    for photo in photos:
        h, w = cv2.imread(str(photo)).shape[:2]
        assert image_size(photo.read_bytes()) == (w, h), photo.name


def test_a_header_claiming_20000x20000_is_refused_without_decoding(tmp_path):
    path = tmp_path / "bomb.jpg"
    path.write_bytes(claiming(20000, 20000))
    assert image_size(path.read_bytes()) == (20000, 20000)
    with pytest.raises(ImageTooBig, match=r"^20000x20000 px, over the limit of 8192 px a side"):
        load_image(path)
    # Within each limit alone but over the other: 9000 px a side, and 8000x7000 = 56 MP.
    for w, h in ((9000, 10), (8000, 7000)):
        path.write_bytes(claiming(w, h))
        with pytest.raises(ImageTooBig):
            checked_bytes(path)
    assert MAX_SIDE * MAX_SIDE > MAX_PIXELS  # so the pixel limit is not implied by the side limit


@pytest.mark.parametrize("content", [b"", b"\xff\xd8\xff\xe0 not a jpeg", b"GIF89a" + bytes(40), bytes(range(256)) * 4])
def test_garbage_is_rejected_by_its_header(tmp_path, content):
    path = tmp_path / "x.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageRejected, match="header this can size"):
        load_image(path)


def test_truncated_photos_are_rejected(tmp_path):
    photo = min(require(PHOTOS).glob("*.jpg")).read_bytes()
    png = _encoded(".png", cv2.imdecode(np.frombuffer(photo, np.uint8), cv2.IMREAD_COLOR))
    cuts = (("head.jpg", photo[:100]), ("half.jpg", photo[:len(photo) // 2]), ("half.png", png[:len(png) // 2]))
    for name, data in cuts:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImageRejected):
            load_image(tmp_path / name)


def test_a_file_over_the_size_cap_is_not_read(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    path.write_bytes(_encoded(".png", _picture()))
    monkeypatch.setattr(image_header, "MAX_FILE_BYTES", path.stat().st_size - 1)
    with pytest.raises(ImageTooBig, match="MB limit"):
        load_image(path)


def _bad_folder(folder: Path) -> list[str]:
    """Real photos among a header bomb, a truncated photo and garbage; the names that should come out."""
    photos = sorted(require(PHOTOS).glob("*.jpg"))[:2]
    shutil.copy(photos[0], folder / "1-real.jpg")
    (folder / "2-bomb.jpg").write_bytes(claiming(20000, 20000))
    (folder / "3-truncated.jpg").write_bytes(photos[1].read_bytes()[:3000])
    (folder / "4-garbage.png").write_bytes(bytes(range(256)) * 8)
    shutil.copy(photos[1], folder / "5-real.jpg")
    return ["1-real.jpg", "5-real.jpg"]


def test_the_folder_source_skips_each_bad_photo_with_a_warning_and_goes_on(tmp_path, caplog):
    wanted = _bad_folder(tmp_path)
    caplog.set_level(logging.WARNING, logger="edge_agent.vision.capture")
    src = open_source(CameraConfig(source=str(tmp_path)))
    names = []
    for frame in src.frames():
        assert frame.image.ndim == 3 and frame.image.dtype == np.uint8
        names.append(src.current_path.name)
    assert names == wanted
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings[0] == ("camera: skipping 2-bomb.jpg: 20000x20000 px, over the limit of 8192 px a side "
                           "and 50 megapixels")
    assert [w.split(":")[1].strip() for w in warnings] == ["skipping 2-bomb.jpg", "skipping 3-truncated.jpg",
                                                          "skipping 4-garbage.png"]


def test_a_single_bomb_as_camera_source_is_one_line_at_open(tmp_path):
    (tmp_path / "bomb.jpg").write_bytes(claiming(20000, 20000))
    with pytest.raises(InputError, match=r"cannot read image .*bomb\.jpg: 20000x20000 px"):
        open_source(CameraConfig(source=str(tmp_path / "bomb.jpg")))


# VmHWM, not ru_maxrss: ru_maxrss carries over the peak of the process
# that forked this one (pytest's, hundreds of MB), VmHWM is this program's own.
PEAK_SCRIPT = """
import json, re, sys
from pathlib import Path
from edge_agent.vision.capture import open_source
from edge_agent.config.camera import CameraConfig
src = open_source(CameraConfig(source=sys.argv[1]))
names = [src.current_path.name for _ in src.frames()]
peak_kb = int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(json.dumps({"names": names, "peak_mb": peak_kb / 1024}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak memory is read from /proc")
def test_peak_memory_stays_small_through_a_folder_with_a_bomb(tmp_path):
    # Measured in a fresh process: decoding the bomb alone peaks at ~2.3 GB
    # (a 1.2 GB picture and the decoder's own rows); the process that skips
    # it stays near what importing OpenCV and decoding two photos takes.
    wanted = _bad_folder(tmp_path)
    proc = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(tmp_path)], capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["names"] == wanted
    assert result["peak_mb"] < 400, result
