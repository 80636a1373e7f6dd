"""The numerical-gradient benchmark and the accuracy-against-time plot run and print what they promise."""

import json
import runpy
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def script(name: str) -> dict:
    return runpy.run_path(str(SCRIPTS / name), run_name="not_main")


def test_benchmark_quick_run_prints_the_comparison(tmp_path, capsys, real_mnist):
    with real_mnist(tmp_path):
        assert script("bench_numerical_gradient.py")["main"](["--quick", "--threads", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in out if line.startswith(("TwoLayerNet", "MultiLayerNet"))]
    assert [r[0] for r in rows] == ["TwoLayerNet", "MultiLayerNet"]
    for r in rows:
        speedup, vs_loop, vs_backprop = r[-3], float(r[-2]), float(r[-1])
        assert speedup.endswith("x") and float(speedup[:-1]) > 0
        assert vs_loop <= 1e-8 and vs_backprop <= 1e-6
    assert any(line.startswith("machine:") and "load average" in line for line in out)


def test_plot_accuracy_against_time(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    history = {
        "status": "finished", "step": 1200, "wall_time_s": 61.5,
        "config": {"trainer": {"grad": "numerical"}},
        "eval": [
            {"step": 0, "elapsed_s": 0.0, "train_acc": 0.1, "test_acc": 0.09},
            {"step": 600, "elapsed_s": 30.0, "train_acc": 0.8, "test_acc": 0.79},
            {"step": 1200, "elapsed_s": 60.0, "train_acc": 0.88, "test_acc": 0.87},
        ],
    }
    (run / "history.json").write_text(json.dumps(history))
    png = tmp_path / "out" / "curve.png"
    assert script("plot_accuracy_vs_time.py")["main"]([str(run), "--out", str(png)]) == 0
    out = capsys.readouterr().out
    assert "run (grad numerical): finished, 1200 steps, 61.5 s" in out
    assert "| 600 | 30.0 | 0.8000 | 0.7900 |" in out
    pytest.importorskip("matplotlib")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_refuses_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(SystemExit, match=r"expected a run folder with history.json"):
        script("plot_accuracy_vs_time.py")["main"]([str(tmp_path)])


def test_benchmark_times_steps_of_the_train_script(tmp_path, capsys, real_mnist):
    with real_mnist(tmp_path):
        assert script("bench_numerical_gradient.py")["main"](["--train-steps", "2", "--train-only"]) == 0
    out = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(out) if line.startswith("steps"))
    row = out[header + 2].split()  # 2, wall s, with loading s, step ms, gradient ms, 10 000 s, accuracy
    assert row[0] == "2" and row[2::2][:5] == ["s", "s", "ms", "ms", "s"]
    assert float(row[1]) > 0 and float(row[7]) > 0 and 0.0 <= float(row[-1]) <= 1.0
    assert not any(line.startswith(("TwoLayerNet", "MultiLayerNet")) for line in out)
