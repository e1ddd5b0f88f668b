"""Pseudo-labels for the real plate crops of ../shared/datasets/train (no text labels of their own).

Each crop's labelled plate box (crops.csv), grown 10 %, is read as the
bench reads a plate crop (PpocrReader.read_crop with the plate
recognizer). A crop gets a label only where the two recognizers read the
same text on their own (PP-OCR's row, the plate recognizer's ten slots)
and that text fits a plate format of some region (regions.fits): two
independent readers agreeing on a plausible registration. Everything is
written, agreed or not, so the kept share and a sample can be checked by
eye (`--show N` prints N labelled crops' paths with their texts).

    .venv/bin/python models/train/pseudo_label.py ../shared/datasets/train/real-plate-crops labels.jsonl

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
from edge_agent.vision.read import PpocrReader
from edge_agent.vision.plate_recognizer import PlateRecognizer
from edge_agent.vision.regions import fits

GROW = 0.10


def plate_cut(image, x: int, y: int, w: int, h: int, grow: float = GROW):
    gx, gy = round(w * grow / 2), round(h * grow / 2)
    H, W = image.shape[:2]
    return image[max(0, y - gy):min(H, y + h + gy), max(0, x - gx):min(W, x + w + gx)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("out", type=Path)
    args = ap.parse_args()
    reader = PpocrReader(ReaderConfig(), plate_recognizer=PlateRecognizer())
    rows = list(csv.DictReader(open(args.folder / "crops.csv")))
    kept = 0
    start = time.time()
    with open(args.out, "w") as out:
        for i, row in enumerate(rows):
            image = cv2.imread(str(args.folder / "crops" / row["crop"]))
            if image is None:
                continue
            box = [int(row[k]) for k in ("plate_x", "plate_y", "plate_w", "plate_h")]
            reads = reader.read_crop(plate_cut(image, *box))
            readers = dict((who, text) for who, text, _ in reads[0].readers) if reads else {}
            row_text, plate_text = readers.get("row", ""), readers.get("plate", "")
            label = row_text if row_text and row_text == plate_text and fits(row_text) else ""
            kept += bool(label)
            out.write(json.dumps({"crop": row["crop"], "box": box, "label": label, "row": row_text,
                                  "plate": plate_text, "read": reads[0].text if reads else ""}) + "\n")
            if (i + 1) % 100 == 0:
                print(f"{i + 1}/{len(rows)} crops, {kept} labelled, {time.time() - start:.0f} s", file=sys.stderr)
    print(f"{kept} of {len(rows)} crops labelled ({100 * kept / len(rows):.1f} %) in {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
