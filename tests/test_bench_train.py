"""scripts/bench_train.py: a smoke run on random data, without PyTorch (no timings are asserted)."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_train.py"


@pytest.fixture(scope="module")
def bench():
    return runpy.run_path(str(SCRIPT), run_name="not_main")


def test_smoke_run_prints_machine_facts_and_one_row_per_model(bench, capsys):
    argv = ["--synthetic", "300", "--steps", "3", "--epochs", "2", "--threads", "1", "--models", "1,4",
            "--no-torch", "--pause", "0"]
    assert bench["main"](argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "command: python scripts/bench_train.py " + " ".join(argv)
    assert any(line.startswith("NumPy BLAS: ") for line in out)
    assert any("OPENBLAS_CORETYPE=" in line for line in out)
    assert any(line.startswith("load average (1, 5, 15 min): ") for line in out)
    header = next(i for i, line in enumerate(out) if line.startswith("model "))
    rows = [line.split() for line in out[header + 1:]]
    assert [r[:5] for r in rows] == [["784-50-10", "sigmoid", "sgd", "float32", "1"],
                                     ["784-50-10", "sigmoid", "sgd", "float64", "1"]]
    for r in rows:
        ours, trainer, torch_s, ratio, floor, vs_floor = r[5:11]
        assert float(ours) > 0 and float(trainer) > 0 and float(floor) > 0
        assert torch_s == ratio == "-"  # no torch in this run
        assert float(vs_floor) == pytest.approx(float(ours) / float(floor), rel=0.1, abs=0.02)
        assert all(0.0 <= float(a) <= 1.0 for a in r[11:13]) and r[13] == "-"


def test_bad_flags_are_refused(bench, capsys):
    with pytest.raises(SystemExit):
        bench["main"](["--models", "5"])
    assert "--models: expected 'all' or numbers 1-4" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench["main"](["--threads", "0"])
    assert "--threads: expected positive counts" in capsys.readouterr().err
