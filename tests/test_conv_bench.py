"""scripts/bench_conv.py: a smoke run on real MNIST without PyTorch (no timings are asserted)."""

from __future__ import annotations

import runpy
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_conv.py"


def test_smoke_run_prints_the_table_and_the_textbook_side_learns_the_same(tmp_path, capsys, real_mnist):
    bench = runpy.run_path(str(SCRIPT), run_name="not_main")
    argv = ["--nets", "simple", "--threads", "1", "--steps", "3", "--rounds", "1", "--no-torch"]
    with real_mnist(tmp_path):
        assert bench["main"](argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "command: python scripts/bench_conv.py " + " ".join(argv)
    header = next(i for i, line in enumerate(out) if line.startswith("net "))
    assert "best vs torch" in out[header] and "textbook / this" in out[header]
    rows = {}
    for line in out[header + 1:]:
        cells = line.split()
        if cells[3].startswith("("):  # "textbook (float64)"
            cells[2:4] = [" ".join(cells[2:4])]
        rows[cells[2]] = cells
    assert set(rows) == {"gradient+update", "Trainer.fit", "textbook (float64)"}
    for name in ("gradient+update", "Trainer.fit"):
        assert rows[name][6].endswith("x") and rows[name][9].endswith("x")  # textbook / this, both
    # Same weights, same batches, same maths (float64 against float32): the same test accuracy.
    assert abs(float(rows["gradient+update"][-1]) - float(rows["textbook (float64)"][-1])) <= 0.01
