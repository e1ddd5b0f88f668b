"""Pseudo-labels for the real plate crops of ../shared/datasets/train (no text labels of their own).

Each crop's labelled plate box (crops.csv), grown 10 %, is read as the
bench reads a plate crop (PpocrReader.read_crop with the plate
recognizer). A crop gets a label only where the two recognizers read the
same text on their own (PP-OCR's row, the plate recognizer's ten slots)
and that text fits a plate format of some region (regions.fits): two
independent readers agreeing on a plausible registration.

With `--third`, a crop the two read differently is read by a third,
EasyOCR's English recognizer (easyocr_onnx.py, on its own), and gets the
text it agrees with where that fits a format of the region the plate
recognizer takes the plate for (fits_region): two of three. Only where the
two read texts of one length, differing in glyphs: where the lengths
differ, one reader saw another extent of the plate (the top row of a
two-row Punjab plate, an end cut off), and EasyOCR, reading the same rows
as PP-OCR, shares the row's view (checked by eye: "LEG15" for LEG 15 3355
was two of three). These are the crops one of the two misread, which is
what a fine-tune can learn from; labels where both already agree teach
little (TRAINING.md). Everything is written, agreed or not (`source` says
which readers agreed), so the kept share and a sample can be checked by eye.

    .venv/bin/python models/train/pseudo_label.py ../shared/datasets/train/real-plate-crops labels.jsonl --third
    # on two cores: --shard 0/2 and --shard 1/2 into two files, then cat them

Training data only: nothing here may be reported on.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import cv2

from edge_agent.config import ReaderConfig
from edge_agent.vision.read import EasyOcrReader, PpocrReader
from edge_agent.vision.plate_recognizer import PlateRecognizer
from edge_agent.vision.regions import REGIONS, fits, fitting

GROW = 0.10


def plate_cut(image, x: int, y: int, w: int, h: int, grow: float = GROW):
    gx, gy = round(w * grow / 2), round(h * grow / 2)
    H, W = image.shape[:2]
    return image[max(0, y - gy):min(H, y + h + gy), max(0, x - gx):min(W, x + w + gx)]


def fits_region(text: str, region: str) -> bool:
    """Whether the text fits a format of the plate recognizer's region for the plate, or of any region if it has none.

    For two of three: AV030JP fits some region's format, but a British
    plate's third place from the end is a letter (AV03 OJP, checked by eye).
    """
    return bool(fitting(text, REGIONS[region])) if region in REGIONS else fits(text)


def shard(value: str) -> tuple[int, int]:
    """K/N, 0 <= K < N: argparse's type for --shard, so a bad one is a one-line usage error."""
    try:
        k, n = (int(v) for v in value.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not K/N") from None
    if not 0 <= k < n:
        raise argparse.ArgumentTypeError(f"{value!r}: K must be 0..N-1")
    return k, n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--third", action="store_true", help="EasyOCR breaks the two readers' ties")
    ap.add_argument("--shard", type=shard, default=(0, 1), help="K/N: only every N-th crop from the K-th (0-based)")
    args = ap.parse_args()
    reader = PpocrReader(ReaderConfig(), plate_recognizer=PlateRecognizer())
    third = EasyOcrReader(ReaderConfig(), plate_recognizer=None) if args.third else None
    k, n = args.shard
    rows = list(csv.DictReader(open(args.folder / "crops.csv")))[k::n]
    kept = 0
    start = time.time()
    with open(args.out, "w") as out:
        for i, row in enumerate(rows):
            image = cv2.imread(str(args.folder / "crops" / row["crop"]))
            if image is None:
                continue
            box = [int(row[k]) for k in ("plate_x", "plate_y", "plate_w", "plate_h")]
            cut = plate_cut(image, *box)
            reads = reader.read_crop(cut)
            readers = dict((who, text) for who, text, _ in reads[0].readers) if reads else {}
            row_text, plate_text = readers.get("row", ""), readers.get("plate", "")
            label, source, easy = "", "", ""
            if row_text and row_text == plate_text and fits(row_text):
                label, source = row_text, "row+plate"
            elif third is not None and row_text and len(row_text) == len(plate_text):
                thirds = third.read_crop(cut)
                easy = thirds[0].text if thirds else ""
                region = reader.plate_recognizer([cut])[0].region
                for who, text in (("row", row_text), ("plate", plate_text)):
                    if text == easy and fits_region(text, region):
                        label, source = text, who + "+easyocr"
            kept += bool(label)
            out.write(json.dumps({"crop": row["crop"], "box": box, "label": label, "source": source,
                                  "row": row_text, "plate": plate_text, "easyocr": easy,
                                  "read": reads[0].text if reads else ""}) + "\n")
            if (i + 1) % 100 == 0:
                print(f"{i + 1}/{len(rows)} crops, {kept} labelled, {time.time() - start:.0f} s", file=sys.stderr)
    print(f"{kept} of {len(rows)} crops labelled ({100 * kept / len(rows):.1f} %) in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
