"""The textbook scripts print the book's numbers exactly."""

import runpy
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts" / "textbook"


def load_script(name: str) -> dict:
    return runpy.run_path(str(SCRIPTS / name), run_name="not_main")


def test_ch04_loss_functions_prints_the_seed(capsys: pytest.CaptureFixture[str]):
    script = load_script("ch04_loss_functions.py")
    assert script["main"]([]) == 0
    out = capsys.readouterr().out.split()
    assert out == ["0.09750000000000003", "0.5975", "0.510825457099338", "2.302584092994546"]
