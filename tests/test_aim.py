"""`edge-agent aim` on real road footage: the picture, the verdict, and the
privacy mask, which must hide its region from the reader, not just the picture."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent_configs import write_config
from datasets import HIGHWAY, HIGHWAY_PLATES, highway_frames, require
from edge_agent.commands.aim import RELIABLE_PLATE_HEIGHT, AimResult, PlateSighting, verdict

ROOT = Path(__file__).resolve().parents[1]
# Covers 8589BXT (x 932-1029, y 184-230) in the clip's first frames.
MASK = (880, 150, 200, 120)
BANNER = 34  # the verdict strip above the frame in the picture


def aim(folder: Path, source: Path, *extra: str) -> subprocess.CompletedProcess:
    config = write_config(folder, source=source, port=8883, hotlist="plate\n1234ABC\n")
    text = config.read_text().replace(f'source = "{source}"', f'source = "{source}"\nmask = "{",".join(map(str, MASK))}"')
    config.write_text(text)
    return subprocess.run([sys.executable, "-m", "edge_agent", "--verbose", "aim", "--config", str(config), *extra],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


@pytest.fixture(scope="module")
def highway_aim(tmp_path_factory: pytest.TempPathFactory):
    require(HIGHWAY)
    folder = tmp_path_factory.mktemp("aim")
    proc = aim(folder, HIGHWAY, "--frames", "4", "--out", str(folder / "aim.png"))
    return proc, folder / "aim.png"


def test_good_aim_on_the_highway_clip(highway_aim) -> None:
    proc, picture = highway_aim
    assert proc.returncode == 0, proc.stderr[-2000:]
    verdict_line = proc.stdout.splitlines()[-1]
    assert verdict_line.startswith("verdict: plates ") and f"good (need {RELIABLE_PLATE_HEIGHT} px)" in verdict_line
    assert "0752GJR" in proc.stdout and "6380CCS" in proc.stdout
    assert f"picture: {picture}" in proc.stdout
    image = cv2.imread(str(picture))
    assert image.shape == (720 + BANNER, 1280, 3)


def test_masked_region_never_reaches_the_reader(highway_aim) -> None:
    proc, picture = highway_aim
    assert "8589BXT" not in proc.stdout  # read in every one of these frames without the mask
    x, y, w, h = MASK
    region = cv2.imread(str(picture))[BANNER + y + 3: BANNER + y + h - 3, x + 3: x + w - 3]
    black = np.all(region == 0, axis=2).mean()
    assert black > 0.8, f"only {black:.0%} of the masked region is blacked out"


def test_reads_are_shown_on_stdout_only_never_logged(highway_aim) -> None:
    proc, _ = highway_aim
    for plate in HIGHWAY_PLATES:
        assert plate not in proc.stderr, f"{plate} reached the log"


def test_too_small_plates_say_zoom_in(tmp_path: Path) -> None:
    require(HIGHWAY)
    frames = tmp_path / "far"
    frames.mkdir()
    for i, frame in enumerate(highway_frames(3)):
        # A camera zoomed out 3x: the clip's ~25 px plates become ~9 px.
        cv2.imwrite(str(frames / f"f{i}.png"), cv2.resize(frame, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA))
    proc = aim(tmp_path, frames, "--out", str(tmp_path / "far.jpg"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.splitlines()[-1].endswith(f"zoom in or move closer (need {RELIABLE_PLATE_HEIGHT} px)")
    assert (tmp_path / "far.jpg").stat().st_size > 10_000


def _result(*heights_and_texts: tuple[int, str], frames: int = 10) -> AimResult:
    return AimResult(frames=frames, min_height=12,
                     sightings=[PlateSighting(h, (0, 0, 4 * h, h), t, 0.9 if t else 0.0) for h, t in heights_and_texts])


@pytest.mark.parametrize(
    ("sightings", "expected"),
    [
        ((), "no plates seen in 10 frames: check that the camera looks at the lane"),
        (((9, ""), (10, "")), "plates 10 px tall but none could be read: too small or blurred; "
                              f"zoom in or move closer (need {RELIABLE_PLATE_HEIGHT} px)"),
        (((10, "AB12"), (11, "AB12")), f"plates 10 px tall: too small; zoom in or move closer "
                                       f"(need {RELIABLE_PLATE_HEIGHT} px)"),
        (((15, "AB12"),), f"plates 15 px tall: readable but marginal; zoom in a little "
                          f"(need {RELIABLE_PLATE_HEIGHT} px for reliable reads)"),
        (((24, "AB12"), (26, "CD34"), (8, "")), f"plates 25 px tall: good (need {RELIABLE_PLATE_HEIGHT} px); "
                                                "2 reads in 10 frames"),
        (((150, "AB12"),), "plates 150 px tall: larger than needed; zoom out to cover the whole lane"),
    ],
)
def test_verdicts(sightings, expected: str) -> None:
    assert verdict(_result(*sightings)).startswith(expected)
