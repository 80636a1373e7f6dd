"""scripts/bench_train.py: a smoke run on random data, without PyTorch (no timings are asserted)."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_train.py"


@pytest.fixture(scope="module")
def bench():
    return runpy.run_path(str(SCRIPT), run_name="not_main")


def test_smoke_run_prints_machine_facts_and_one_row_per_model(bench, capsys):
    # One timed epoch: each ratio (the median of the epoch-by-epoch ratios) is then that of the times shown.
    argv = ["--synthetic", "300", "--steps", "3", "--epochs", "1", "--threads", "1", "--models", "1,4",
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
        ours, book, fit, plain, torch_s, vs_plain, book_plain, vs_torch, book_torch, fit_ours, floor = r[5:16]
        assert all(float(v) > 0 for v in (ours, book, fit, plain, floor))
        assert torch_s == vs_torch == book_torch == "-"  # no torch in this run
        assert float(vs_plain) == pytest.approx(float(ours) / float(plain), rel=0.1, abs=0.02)
        assert float(book_plain) == pytest.approx(float(book) / float(plain), rel=0.1, abs=0.02)
        assert float(fit_ours) == pytest.approx(float(fit) / float(ours), rel=0.1, abs=0.02)
        assert all(0.0 <= float(a) <= 1.0 for a in r[16:18]) and r[18] == "-"
        gather, floor_plain = r[19:21]
        expected = (float(floor) + float(gather)) / float(plain)
        assert float(floor_plain) == pytest.approx(expected, rel=0.1, abs=0.02)


@pytest.mark.parametrize("model", [0, 1, 2, 3])
def test_the_plain_script_trains_like_scratchnet(bench, model):
    """Same weights, same batches, same maths: the plain side's parameters follow scratchnet's."""
    m = bench["MODELS"][model]
    rng = np.random.default_rng(0)
    x = rng.random((200, 784), dtype=np.float32)
    t = rng.integers(0, 10, 200).astype(np.uint8)
    ours = bench["ScratchLoop"](m, 0, x, t, 20)
    plain = bench["PlainLoop"](m, ours.net, x, t)
    indices = rng.integers(0, 200, size=(4, 20))
    ours.epoch(indices)
    plain.epoch(indices)
    tol = 1e-4 if m.dtype == "float32" else 1e-10
    for k, p in ours.net.params.items():
        np.testing.assert_allclose(plain.params[k], p, rtol=tol, atol=tol)


def test_bad_flags_are_refused(bench, capsys):
    with pytest.raises(SystemExit):
        bench["main"](["--models", "5"])
    assert "--models: expected 'all' or numbers 1-4" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        bench["main"](["--threads", "0"])
    assert "--threads: expected positive counts" in capsys.readouterr().err
