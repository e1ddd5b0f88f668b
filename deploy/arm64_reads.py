"""Read a fixed list of photos with the project's reader; the same code natively and under QEMU.

  python deploy/arm64_reads.py --out RUN.json [--photos N] [PHOTO...]
  python deploy/arm64_reads.py --compare A.json B.json

Each photo is read as a still exactly as `edge-agent bench accuracy` reads
it (bench.accuracy: TextLinePlateDetector and make_reader with the default
ReaderConfig, read_frame on a Frame(still=True)). Besides the reads, the
detector's probability map of the photo's first look (the whole photo at
detect_max_side, enlarged, as a still's first look sees it) is saved as
RUN.maps/NAME.npy, so two runs (x86-64 against aarch64, deploy/arm64-check.sh)
can be compared pixel by pixel, not only by their final texts.
Default photos: the first 10, sorted, of
../shared/datasets/openalpr-benchmarks/endtoend/us beside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import struct
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the checkout itself, not an installed copy
DEFAULT_SET = REPO.parent / "shared" / "datasets" / "openalpr-benchmarks" / "endtoend" / "us"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def fail(message: str) -> None:
    print(f"arm64_reads: {message}", file=sys.stderr)
    sys.exit(2)


def cpu_line() -> str:
    """Which CPU the code saw: the arm64 'CPU part' (QEMU's -cpu, and the fake /proc/cpuinfo), or x86's model name."""
    part = model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "CPU part" and not part:
                part = {"0xd08": "cortex-a72", "0xd0b": "cortex-a76"}.get(value, value)
            elif key == "model name" and not model:
                model = value
    except OSError:
        pass
    return part or model or "unknown"


def hwcap_dotprod() -> bool | None:
    """Whether the aarch64 CPU offers SDOT/UDOT (AT_HWCAP's ASIMDDP bit): onnxruntime's INT8 kernels differ by it."""
    if platform.machine() != "aarch64":
        return None
    data = Path("/proc/self/auxv").read_bytes()
    for key, value in struct.iter_unpack("<QQ", data):
        if key == 16:  # AT_HWCAP
            return bool(value & (1 << 20))  # HWCAP_ASIMDDP
    return None


def default_photos(n: int) -> list[Path]:
    if not DEFAULT_SET.is_dir():
        fail(f"no photos given and the default set is missing: {DEFAULT_SET}")
    return sorted(p for p in DEFAULT_SET.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:n]


def run(photos: list[Path], out: Path, detector_setting: str = "auto") -> None:
    try:
        import numpy as np
        import onnxruntime

        from edge_agent.config import ReaderConfig
        from edge_agent.vision.detect import TextLinePlateDetector
        from edge_agent.errors import AgentError
        from edge_agent.vision.image_header import ImageRejected, ImageTooBig, load_image
        from edge_agent.vision.onnx_models import describe_detector
        from edge_agent.vision.text_detector import detector_input
        from edge_agent.vision.read import make_reader, read_frame
        from edge_agent.records import Frame
    except ImportError as exc:
        fail(f"cannot import the reader's modules: {exc}")

    cfg = ReaderConfig(detector=detector_setting)
    start = time.perf_counter()
    try:
        detector = TextLinePlateDetector(cfg)
        reader = make_reader(cfg)
    except AgentError as exc:
        fail(str(exc))
    setup_s = time.perf_counter() - start
    maps = out.with_suffix(".maps")
    maps.mkdir(parents=True, exist_ok=True)
    rows = []
    for path in photos:
        try:
            image = load_image(path)
        except (OSError, ImageTooBig, ImageRejected) as exc:
            fail(f"{path}: cannot be read ({exc})")
        frame = Frame(image, 0, datetime.now(timezone.utc), str(path), still=True)
        start = time.perf_counter()
        reads = read_frame(frame, detector, reader)
        seconds = time.perf_counter() - start
        # The map of the still's first look: the same session and input as
        # TextDetector.__call__ (a photo whose first look is tiled is scanned
        # in parts there; its whole map is still this model's at that scale).
        text = detector.text_detector
        prob = text.session.run(None, {"x": detector_input(image, cfg.detect_max_side, upscale=True)})[0][0, 0]
        np.save(maps / f"{path.stem}.npy", prob.astype(np.float32))
        rows.append({"photo": path.name, "seconds": round(seconds, 4),
                     "reads": [{"text": r.text, "confidence": round(float(r.confidence), 6), "box": r.box.as_list()}
                               for r in reads],
                     "map": {"file": f"{maps.name}/{path.stem}.npy", "shape": list(prob.shape),
                             "mean": float(prob.mean()), "max": float(prob.max()),
                             "above_thresh": int((prob > text.thresh).sum())}})
        print(f"  {path.name}: {reads[0].text if reads else '-'} ({seconds:.2f} s)", file=sys.stderr)
    result = {"machine": platform.machine(), "cpu": cpu_line(), "qemu_cpu": os.environ.get("QEMU_CPU", ""),
              "dotprod": hwcap_dotprod(), "python": platform.python_version(),
              "onnxruntime": onnxruntime.__version__, "numpy": np.__version__,
              "detector": describe_detector(cfg.detector), "detector_file": detector.text_detector.model,
              "thresh": detector.text_detector.thresh, "setup_seconds": round(setup_s, 3), "photos": rows}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.replace(out)


def load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"{path}: not a result of this script ({exc})")


def compare(a_path: Path, b_path: Path) -> bool:
    """Print one line per photo; True where every photo's texts agree."""
    import numpy as np

    a, b = load(a_path), load(b_path)
    for run_ in (a, b):
        emulated = " under QEMU: emulation time, not a Pi's" if run_["qemu_cpu"] else ""
        dot = "" if run_["dotprod"] is None else f", SDOT/UDOT {'yes' if run_['dotprod'] else 'no'}"
        print(f"  {run_['machine']} {run_['qemu_cpu'] or run_['cpu']}: {run_['detector_file']}, "
              f"onnxruntime {run_['onnxruntime']}{dot}, "
              f"median {statistics.median(p['seconds'] for p in run_['photos']):.2f} s/photo{emulated}")
    if a["detector_file"] != b["detector_file"]:
        print("  note: the two runs ran different detector files (onnx_models.DETECTOR_MODELS file_without_vnni)")
    thresh = a["thresh"]
    by_name = {p["photo"]: p for p in b["photos"]}
    print(f"  {'photo':<44} {'texts':<6} {'max dconf':>9} {'max dbox':>8} {'max dprob':>9} "
          f"{'px across ' + str(thresh):>16} {'s A':>6} {'s B':>7}")
    agree = True
    for pa in a["photos"]:
        pb = by_name.get(pa["photo"])
        if pb is None:
            print(f"  {pa['photo']:<44} missing from {b_path.name}")
            agree = False
            continue
        ta, tb = [r["text"] for r in pa["reads"]], [r["text"] for r in pb["reads"]]
        same = ta == tb
        agree &= same
        pairs = list(zip(pa["reads"], pb["reads"]))
        dconf = max((abs(x["confidence"] - y["confidence"]) for x, y in pairs), default=0.0)
        dbox = max((max(abs(u - v) for u, v in zip(x["box"], y["box"])) for x, y in pairs), default=0)
        ma, mb = np.load(a_path.parent / pa["map"]["file"]), np.load(b_path.parent / pb["map"]["file"])
        if ma.shape == mb.shape:
            dprob = f"{float(np.abs(ma - mb).max()):.2e}"
            flipped = str(int(((ma > thresh) != (mb > thresh)).sum()))
        else:
            dprob, flipped = "shape", f"{ma.shape}!={mb.shape}"
        print(f"  {pa['photo']:<44} {'same' if same else 'DIFF':<6} {dconf:>9.4f} {dbox:>8} {dprob:>9} "
              f"{flipped:>16} {pa['seconds']:>6.2f} {pb['seconds']:>7.2f}")
        if not same:
            print(f"    {a['machine']}: {ta}  {b['machine']}: {tb}")
    return agree


def time_detectors(photo: Path, rounds: int) -> None:
    """Median seconds of one detector run, INT8 (the file this machine runs) against float, interleaved.

    Interleaved in one process, so a loaded host or QEMU's speed moves both
    alike and the ratio holds; the seconds themselves are this machine's.
    """
    from edge_agent.vision.image_header import load_image
    from edge_agent.vision.onnx_models import DETECTOR_MODELS, _session, model_path
    from edge_agent.vision.text_detector import detector_input

    blob = detector_input(load_image(photo), 1024, upscale=True)
    sessions = {name: _session(model_path(DETECTOR_MODELS[name].file_here()), 1) for name in ("int8", "float")}
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for _ in range(rounds):
        for name, session in sessions.items():
            start = time.perf_counter()
            session.run(None, {"x": blob})
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(t) for name, t in times.items()}
    print(f"  detector alone on {photo.name} ({blob.shape[3]}x{blob.shape[2]}), median of {rounds}: "
          f"int8 ({DETECTOR_MODELS['int8'].file_here()}) {med['int8']:.3f} s, float {med['float']:.3f} s, "
          f"float/int8 {med['float'] / med['int8']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photos", nargs="*", type=Path, help="photos to read (default: the first N of endtoend/us)")
    ap.add_argument("--photos", dest="count", type=int, default=10, help="how many default photos (10)")
    ap.add_argument("--out", type=Path, help="the run's JSON; its maps go to OUT.maps/ beside it")
    ap.add_argument("--detector", default="auto", choices=("auto", "int8", "float"),
                    help="[reader] detector to read with (default auto, the unit's)")
    ap.add_argument("--time-detectors", type=int, metavar="ROUNDS",
                    help="time the INT8 and float detectors, interleaved, on the first photo")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"), help="compare two runs' JSON")
    args = ap.parse_args()
    if args.compare:
        sys.exit(0 if compare(*args.compare) else 3)
    if not args.out and not args.time_detectors:
        fail("--out RUN.json, --time-detectors N or --compare A.json B.json is needed")
    photos = args.photos or default_photos(args.count)
    if not photos:
        fail("no photos to read")
    if args.time_detectors:
        time_detectors(photos[0], args.time_detectors)
        return
    run(photos, args.out, args.detector)


if __name__ == "__main__":
    main()
