"""scripts/reproduce.py and the experiment scripts: the quick run on real MNIST, failures, files, figures."""

import json
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from scratchnet_book import ch03_forward, ch04_simplenet

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
REPRODUCE = runpy.run_path(str(SCRIPTS / "reproduce.py"), run_name="not_main")


def test_every_experiment_script_is_listed_and_has_the_interface():
    import importlib

    files = sorted(p.stem for p in (SCRIPTS / "textbook").glob("ch*.py"))
    assert files == sorted(REPRODUCE["EXPERIMENTS"])
    for name in files:
        module = importlib.import_module(f"scratchnet_book.{name}")
        assert module.NAME == name
        assert callable(module.run) and callable(module.main)


@pytest.mark.slow
def test_quick_run_on_real_mnist_passes_every_check(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    real_mnist):
    # The whole `reproduce.py --quick` (about 15 s of CPU), figures off: they are tested below.
    with real_mnist(tmp_path / "cache"):
        code = REPRODUCE["main"](["--quick", "--no-figures", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    failed = [c for c in summary["checks"] if not c["ok"]]
    assert code == 0, failed
    assert summary["mode"] == "quick" and summary["seeds"] == [0]
    ran = {c["experiment"] for c in summary["checks"]}
    assert ran == set(REPRODUCE["EXPERIMENTS"])
    assert "0.1999999999990898" in out and "numerical-gradient steps follow backprop" in out
    assert (tmp_path / "out" / "ch03_mnist_inference" / "network.npz").is_file()
    assert not list((tmp_path / "out").rglob("*.png"))


def test_a_number_outside_its_tolerance_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr(ch03_forward, "BOOK_Y", ["0.31682708", "0.69627919"])  # one digit off
    code = REPRODUCE["main"](["--only", "ch03_forward", "--no-figures", "--out", str(tmp_path)])
    assert code == 1
    assert "**NO**" in (tmp_path / "summary.md").read_text()
    assert "2 of 3 checks within tolerance" in capsys.readouterr().out


def test_a_crashing_experiment_is_reported_and_the_others_still_run(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch):
    def broken(ctx):
        raise RuntimeError("boom")

    monkeypatch.setattr(ch04_simplenet, "run", broken)
    code = REPRODUCE["main"](["--only", "ch04_simplenet", "ch04_gradient_descent", "--no-figures",
                              "--out", str(tmp_path)])
    assert code == 1
    checks = json.loads((tmp_path / "summary.json").read_text())["checks"]
    crash = [c for c in checks if c["experiment"] == "ch04_simplenet"]
    assert crash == [{"experiment": "ch04_simplenet", "quantity": "runs to the end", "book": "-",
                      "ours": "RuntimeError: boom", "ok": False, "tolerance": ""}]
    assert all(c["ok"] for c in checks if c["experiment"] == "ch04_gradient_descent")


def test_unknown_experiment_is_a_usage_error(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as e:
        REPRODUCE["main"](["--only", "ch09"])
    assert e.value.code == 2
    assert "no experiment starts with ['ch09']" in capsys.readouterr().err


def test_a_script_runs_alone_and_writes_its_data_and_figure(tmp_path: Path):
    proc = subprocess.run([sys.executable, str(SCRIPTS / "textbook" / "ch04_gradient_descent.py"),
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "end point, lr=10" in proc.stdout
    assert {p.name for p in tmp_path.iterdir()} == {"checks.json", "end_points.json", "paths.csv",
                                                    "gradient_descent.png"}
    assert (tmp_path / "gradient_descent.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((tmp_path / "paths.csv").read_text().splitlines()) == 1 + 3 * 101


def test_without_matplotlib_a_script_succeeds_and_says_how_to_get_figures(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    from scratchnet_book import ch04_gradient_descent

    assert ch04_gradient_descent.main(["--out", str(tmp_path)]) == 0
    assert "pip install -e '.[plot]'" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.png")) and (tmp_path / "paths.csv").is_file()


def test_markdown_table_escapes_pipes_in_cells():
    from scratchnet_book.experiment import Check

    table = REPRODUCE["markdown"]([Check("ch04_train", "max |dW|", "0", "1e-10", True, "1e-6")])
    assert table.splitlines()[-1] == "| ch04_train | max \\|dW\\| | 0 | 1e-10 | 1e-6 | yes |"


def test_no_experiment_imports_another():
    # Shared code lives in scratchnet_book.experiment/outputs/training/weights; an experiment is a leaf.
    import ast

    shared = {"scratchnet_book.experiment", "scratchnet_book.outputs", "scratchnet_book.training",
              "scratchnet_book.weights"}
    for path in sorted((SCRIPTS / "textbook").glob("ch*.py")):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(a.name for a in node.names)
        ours = {m for m in imported if m.split(".")[0] in ("scratchnet_book", "textbook")}
        assert ours and ours <= shared, (path.name, ours - shared)
