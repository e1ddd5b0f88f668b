"""deploy/arm64_reads.py, the half of the arm64 check that runs here: a run's
reads and detector maps, and the comparison of two runs (deploy/arm64-check.sh
runs it natively and under QEMU; that part is too slow for CI)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from datasets import DATASETS, require

SCRIPT = Path(__file__).resolve().parents[1] / "deploy" / "arm64_reads.py"


def reads(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_two_runs_on_one_cpu_agree_and_a_changed_map_is_counted(tmp_path):
    photo = sorted(require(DATASETS / "openalpr-benchmarks" / "endtoend" / "us").glob("*.jpg"))[0]
    for name in ("a", "b"):
        run = reads(str(photo), "--out", str(tmp_path / f"{name}.json"))
        assert run.returncode == 0, run.stderr
    a = json.loads((tmp_path / "a.json").read_text())
    assert a["photos"][0]["reads"] and a["detector_file"].endswith(".onnx")
    same = reads("--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    assert same.returncode == 0, same.stdout + same.stderr
    row = next(line for line in same.stdout.splitlines() if photo.name in line)
    assert row.split()[1:6] == ["same", "0.0000", "0", "0.00e+00", "0"]

    # Another CPU's map: 25 pixels pushed across the threshold.
    b = json.loads((tmp_path / "b.json").read_text())
    map_file = tmp_path / b["photos"][0]["map"]["file"]
    prob = np.load(map_file)
    prob.reshape(-1)[:25] = np.where(prob.reshape(-1)[:25] > b["thresh"], 0.0, 1.0)
    np.save(map_file, prob)
    changed = reads("--compare", str(tmp_path / "a.json"), str(tmp_path / "b.json"))
    row = next(line for line in changed.stdout.splitlines() if photo.name in line)
    assert row.split()[5] == "25"


def test_a_missing_run_is_one_line_and_a_failing_exit(tmp_path):
    out = reads("--compare", str(tmp_path / "none.json"), str(tmp_path / "none.json"))
    assert out.returncode != 0 and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr
