"""`edge-agent bench`: figures from the installed package, one-line errors on bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import cv2
import numpy as np

try:
    from datasets import DATASETS, require
except ImportError:  # tests/ imported as a package
    from tests.datasets import DATASETS, require

US_PHOTOS = DATASETS / "openalpr-benchmarks" / "endtoend" / "us"
US_CROPS = DATASETS / "openalpr-benchmarks" / "ocr" / "us"


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_agent", "bench", *args], capture_output=True, text=True,
                          timeout=300)


def photo_set(tmp_path, names):
    """A benchmark-layout folder of a few shared photos, linked, not copied."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in names:
        (folder / f"{name}.jpg").symlink_to(require(US_PHOTOS) / f"{name}.jpg")
        (folder / f"{name}.txt").write_text((US_PHOTOS / f"{name}.txt").read_text())
    return folder


def table(stdout: str) -> dict[str, list[str]]:
    lines = stdout.splitlines()
    # The first line names the detector model that ran, and why (auto picks by CPU).
    assert lines[0].startswith("detector ")
    rows = [line.split() for line in lines[1:] if line.strip()]
    assert rows[0][0] == "set"
    return {row[0]: row for row in rows[1:]}


def test_accuracy_scores_photos_and_crops_in_one_table(tmp_path):
    photos = photo_set(tmp_path, ["car12", "wts-lg-000011"])
    crops = tmp_path / "crops"
    crops.mkdir()
    (crops / "ar1282.png").symlink_to(require(US_CROPS) / "ar1282.png")
    (crops / "groundtruth.csv").write_text("ar1282.png,ar,318ACZ\n")
    done = bench("accuracy", str(photos), str(crops))
    assert done.returncode == 0, done.stderr
    rows = table(done.stdout)
    # set, reader, n, exact, folded, detected, median, ms, p90, ms, peak RSS, MB
    assert rows[f"{tmp_path.name}/photos"][1:6] == ["ppocr+plate", "2", "100.0%", "100.0%", "100.0%"]
    assert rows[f"{tmp_path.name}/crops"][1:6] == ["ppocr+plate", "1", "100.0%", "100.0%", "100.0%"]


def test_accuracy_can_read_the_photos_altered(tmp_path):
    # How far the rates hold on photos a little unlike the dev ones: each
    # photo resized, or re-saved as JPEG, before it is read. The labelled
    # box moves with the resizing, so the plate still counts as found.
    photos = photo_set(tmp_path, ["car12"])
    done = bench("accuracy", str(photos), "--scale", "0.5", "--jpeg", "80")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].endswith("; photos scaled by 0.5; re-saved as JPEG quality 80")
    assert table(done.stdout)[f"{tmp_path.name}/photos"][1:3] == ["ppocr+plate", "1"]
    assert table(done.stdout)[f"{tmp_path.name}/photos"][5] == "100.0%"  # detected
    done = bench("accuracy", str(photos), "--scale", "0")
    assert done.returncode == 2
    assert done.stderr.strip() == "edge-agent: bench: --scale must be between 0.1 and 4, not 0.0"


def test_false_reads_lists_what_is_left_once_the_plate_is_painted_out(tmp_path):
    # car3's labelled plate is on a removal van whose side carries a phone number.
    photos = photo_set(tmp_path, ["car12", "car3"])
    done = bench("false-reads", "--list", "--detector", "float", str(photos))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("detector float")
    lines = done.stdout.splitlines()[1:]  # after the detector line
    photos_n, frames, reads, per_1000, letters_only = lines[1].split()[1:]
    assert photos_n == frames == "2"  # one look at each
    listed = [line for line in lines[2:] if line.startswith("    ")]
    assert len(listed) == int(reads) and float(per_1000) == 1000 * int(reads) / 2
    assert sum(line.endswith("(letters only: kept only if it hits)") for line in listed) == int(letters_only)
    assert all(line.split()[0] in ("car12.jpg", "car3.jpg") and " at x=" in line for line in listed)


def test_false_reads_as_stream_reads_each_photo_as_a_camera_frame(tmp_path):
    # wts-lg-000161 without its plate: a taxi, whose roof sign is read on a
    # stream frame. The photo, its plate painted out as the bench paints it,
    # is set on a 1280x800 frame (a camera's width, so read as it is), and
    # that frame is enlarged 2x by repeating each pixel: shrunk back to 1280
    # for reading it is the same pixels again, so it must give the same
    # reads, listed where they are in the enlarged photo. (Enlarged any other
    # way, or blanked after enlarging, the reading frame differs, and so may
    # what is read there.) The labels name a box in the black border, which
    # the bench's own painting leaves black.
    source = photo_set(tmp_path, ["wts-lg-000161"])
    image = cv2.imread(str(source / "wts-lg-000161.jpg"))
    name, *box, plate = (source / "wts-lg-000161.txt").read_text().strip().split("\t")
    x, y, w, h = (int(v) for v in box)
    mask = np.zeros(image.shape[:2], np.uint8)
    mask[y - 4:y + h + 4, x - 4:x + w + 4] = 255
    blanked = cv2.inpaint(image, mask, 5, cv2.INPAINT_TELEA)
    frame = cv2.copyMakeBorder(blanked, 0, 800 - image.shape[0], 0, 1280 - image.shape[1], cv2.BORDER_CONSTANT)
    photos, big = tmp_path / "frame", tmp_path / "big"
    for folder, scale in ((photos, 1), (big, 2)):
        folder.mkdir()
        cv2.imwrite(str(folder / "wts-lg-000161.png"),
                    cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST))
        border_box = [str(v * scale) for v in (1240, 770, 16, 8)]
        (folder / "wts-lg-000161.txt").write_text("\t".join(["wts-lg-000161.png", *border_box, plate]))
    listed = {}
    for folder in (photos, big):
        # The engine alone: with the plate recognizer, which reads no plate
        # there, the consensus keeps less of what is no plate.
        done = bench("false-reads", "--list", "--as-stream", "--reader", "ppocr", str(folder))
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0].endswith("; photos read as stream frames (at most 1280 wide, one look)")
        listed[folder] = {line.split()[1]: [int(v.split("=")[1]) for v in line.split()[3:7]]
                          for line in done.stdout.splitlines() if line.startswith("    ")}
    # Which texts depends on the detector file (the taxi's roof sign, TAXI,
    # with the one of 2026-12-07); that some are, and where, does not.
    assert listed[photos], "nothing read on the taxi"
    assert listed[big].keys() == listed[photos].keys()
    for text, (x, y, w, h) in listed[photos].items():
        assert all(abs(b - 2 * v) <= 1 for b, v in zip(listed[big][text], (x, y, w, h))), text


def test_passes_count_what_the_agent_would_report(tmp_path):
    # wts-lg-000029 as a vehicle's pass of 24 frames: its plate is one vehicle; painted
    # out, the frames' reads (the phone number on its rear window, words) are listed, and
    # what the tracker made of them is counted apart.
    photos = photo_set(tmp_path, ["wts-lg-000029"])
    plate = (photos / "wts-lg-000029.txt").read_text().split("\t")[-1].strip()
    done = bench("accuracy", "--passes", "24", str(photos))
    assert done.returncode == 0, done.stderr
    assert "each photo read as a vehicle's pass of 24 frames" in done.stdout.splitlines()[0]
    assert table(done.stdout)[f"{tmp_path.name}/photos"][1:6] == ["ppocr+plate", "1", "100.0%", "100.0%", "-"]
    done = bench("false-reads", "--passes", "24", "--list", str(photos))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[1].split() == ["set", "photos", "frames", "reads", "per", "1000", "letters-only",
                                "vehicles", "per", "1000", "letters-only"]
    counts = lines[2].split()
    assert counts[:3] == [f"{tmp_path.name}/photos", "1", "24"]
    listed = [line.split()[1] for line in lines[3:] if line.startswith("    ")]
    reported = lines.index("  reported by the agent (vehicles):")
    frame_reads, vehicles = listed[:reported - 3], listed[reported - 3:]
    assert int(counts[3]) == len(frame_reads) > 0 and plate not in frame_reads
    assert int(counts[6]) == len(vehicles) and set(vehicles) <= set(frame_reads)


def test_passes_options_are_checked(tmp_path):
    photos = photo_set(tmp_path, ["wts-lg-000029"])
    for args, problem in ((["false-reads", "--passes", "12", "--as-stream"],
                           "bench: --passes already reads photos as stream frames: no --as-stream with it"),
                          (["accuracy", "--passes", "12", "--scale", "0.5"],
                           "bench: --passes reads each photo as it is: no --scale or --jpeg with it"),
                          (["accuracy", "--passes", "12"], f"bench: --passes needs labelled photos (NAME.txt), "
                                                            f"not crops: {US_CROPS}")):
        done = bench(*args, str(require(US_CROPS) if "crops" in problem else photos))
        assert done.returncode == 2 and done.stderr.strip() == f"edge-agent: {problem}"
    done = bench("accuracy", "--passes", "1", str(photos))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "expected a number of frames of at least 2, got '1'" in done.stderr


def test_bad_folders_get_one_line_errors(tmp_path):
    done = bench("accuracy", str(tmp_path / "missing"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"edge-agent: bench: no such folder: {tmp_path / 'missing'}"
    (tmp_path / "x.txt").write_text("x.jpg\t1\t2\n")
    done = bench("accuracy", str(tmp_path))
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"bench: {tmp_path / 'x.txt'}:1: expected NAME<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE; skipped",
        f"edge-agent: bench: {tmp_path} has no usable NAME.txt labels"]


def test_one_bad_file_is_reported_and_the_rest_are_scored(tmp_path):
    # A public label names NAME.png beside NAME.jpg: the image beside it is
    # read. A label line that is not one, and an image that does not
    # decode, are reported on a line each and left out of the figures.
    photos = photo_set(tmp_path, ["car12", "wts-lg-000011"])
    label = photos / "car12.txt"
    label.write_text(label.read_text().replace("car12.jpg", "car12.png"))
    (photos / "broken.jpg").write_bytes(b"not a jpeg")
    (photos / "broken.txt").write_text("broken.jpg\t1\t2\t3\t4\tABC123\n")
    (photos / "short.txt").write_text("short.jpg\t1\t2\n")
    done = bench("accuracy", str(photos))
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"bench: {photos / 'car12.txt'}:1: car12.png is missing; read car12.jpg beside it",
        f"bench: {photos / 'short.txt'}:1: expected NAME<TAB>x<TAB>y<TAB>w<TAB>h<TAB>PLATE; skipped",
        f"bench: {photos / 'broken.jpg'}: not an image this bench can decode; skipped"]
    row = table(done.stdout)[f"{tmp_path.name}/photos"]
    assert row[1:5] == ["ppocr+plate", "2", "100.0%", "100.0%"]
    assert done.stdout.rstrip().endswith("(1 skipped, see above)")


def test_jsonl_has_a_line_per_photo_with_its_reads_and_who_won(tmp_path):
    root = tmp_path / "endtoend"
    root.mkdir()
    photo_set(root, ["car12", "wts-lg-000011"]).rename(root / "us")
    out = tmp_path / "reads.jsonl"
    # A folder of labelled folders is a set each, named by its region folder.
    done = bench("accuracy", str(root), "--jsonl", str(out), "--reader", "ppocr+plate,ppocr")
    assert done.returncode == 0, done.stderr
    rows = [line.split()[:2] for line in done.stdout.splitlines()[2:]]
    assert rows == [["endtoend/us", "ppocr+plate"], ["endtoend/us", "ppocr"]]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 4  # two photos, two readers
    first = lines[0]
    assert {"set", "region", "file", "reader", "label", "read", "exact", "folded", "won", "ms",
            "candidates"} <= set(first)
    assert (first["set"], first["region"], first["reader"]) == ("endtoend/us", "us", "ppocr+plate")
    assert first["read"] == first["label"] and first["exact"]
    best = first["candidates"][0]
    assert best["text"] == first["read"] and best["won"] == first["won"] in ("both", "row", "plate", "formats")
    assert set(best["readers"]) == {"row", "plate"}
    done = bench("accuracy", str(root), "--jsonl", str(tmp_path / "no" / "such" / "folder.jsonl"))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.strip() == f"edge-agent: bench: --jsonl {tmp_path / 'no' / 'such' / 'folder.jsonl'}: " \
                                  "No such file or directory"
    alone = [line for line in lines if line["reader"] == "ppocr"]
    assert alone and all(line["won"] == "" and line["candidates"][0]["readers"] == {} for line in alone)


def test_speed_prints_stage_times_and_how_frames_were_scanned():
    highway = require(DATASETS / "videos" / "highway-es.mp4")
    done = bench("speed", "--video", str(highway), "--seconds", "4", "--detector", "float")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("detector float")
    assert re.fullmatch(r"source .* at 1280x720: \d+ frames, [\d.]+ fps \(from the median frame\)", lines[1])
    assert re.fullmatch(r"median ms per frame: detect [\d.]+, read [\d.]+, track [\d.]+, total [\d.]+ "
                        r"\(p90 [\d.]+, mean [\d.]+\); peak RSS \d+ MB", lines[2])
    frames = int(re.search(r": (\d+) frames", lines[1]).group(1))
    # Bench frames are 1/25 s apart and following lasts 0.5 s: the first
    # frame is scanned whole, then at most one in 13.
    whole = re.match(r"whole-frame scans: (\d+) of (\d+) frames \(every 0.5 s\)", lines[3])
    assert whole and int(whole.group(2)) == frames and 1 <= int(whole.group(1)) <= (frames - 1) // 13 + 1
    # Live, the frames that pass while the unit is busy are skipped.
    done = bench("speed", "--video", str(highway), "--seconds", "3", "--detector", "float", "--live")
    assert done.returncode == 0, done.stderr
    live = re.match(r"live: (\d+) of the (\d+) frames a 25 fps camera showed meanwhile were processed",
                    done.stdout.splitlines()[2])
    assert live and 3 <= int(live.group(1)) < int(live.group(2))


def test_speed_options_are_checked():
    for option, value, problem in (("--full-scan-seconds", "-1", "must be between 0 and 10"),
                                   ("--reread-every", "0", "must be between 1 and 30")):
        done = bench("speed", option, value, "--seconds", "1")
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.strip() == f"edge-agent: bench: {option}: {problem}"


def test_speed_workers_alternate_rounds_and_print_each_configuration_s_medians():
    highway = require(DATASETS / "videos" / "highway-es.mp4")
    done = bench("speed", "--video", str(highway), "--seconds", "1", "--workers", "2", "--rounds", "2")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[2] == "round 1 of 2:" and lines[6] == "round 2 of 2:"
    assert re.match(r"workers 1: [\d.]+ fps .* 1\.00x of the first; .* model threads detect/read 1/1$", lines[3])
    # With two workers the detector has the reader's core as a second thread.
    assert re.match(r"workers 2: [\d.]+ fps .* model threads detect/read 2/1$", lines[4])
    # Each round ends with what two separate one-worker processes make at once.
    shares = []
    for row, at in ((lines[4], lines[5]), (lines[8], lines[9])):
        beside = re.fullmatch(r"2 one-worker pipelines side by side: ([\d.]+) fps together, [\d.]+x of the first; "
                              r"workers 2 made ([\d.]+) of it", at)
        two = float(re.match(r"workers 2: ([\d.]+) fps", row).group(1))
        assert beside and float(beside.group(1)) > 0
        assert abs(float(beside.group(2)) - two / float(beside.group(1))) <= 0.006
        shares.append(float(beside.group(2)))
    assert lines[10] == "median of 2 rounds:"
    assert re.fullmatch(r"workers 1: [\d.]+ fps, 1\.00x of the first \(1\.00 1\.00\)", lines[11])
    ratios = re.fullmatch(r"workers 2: [\d.]+ fps, ([\d.]+)x of the first \(([\d.]+) ([\d.]+)\)", lines[12])
    median, first, second = (float(g) for g in ratios.groups())
    assert abs(median - (first + second) / 2) <= 0.006  # the median of two, as printed to two places
    made = re.fullmatch(r"workers 2 made ([\d.]+) of 2 one-worker pipelines side by side \(([\d.]+) ([\d.]+)\)",
                        lines[13])
    median, first, second = (float(g) for g in made.groups())
    assert [first, second] == shares and abs(median - (first + second) / 2) <= 0.006
    done = bench("speed", "--workers", "2", "--rounds", "0", "--seconds", "1")
    assert done.returncode == 2 and done.stderr.strip() == "edge-agent: bench: --rounds must be between 1 and 20"
    done = bench("speed", "--rounds", "3", "--seconds", "1")
    assert done.returncode == 2 and done.stderr.strip() == "edge-agent: bench: --rounds needs --workers or --cameras"
