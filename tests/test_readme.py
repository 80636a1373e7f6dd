"""The README is a front door that tells the truth: its examples run, its links resolve, and CI runs its
test command verbatim."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_the_readme_examples_print_what_it_says():
    blocks = [b for b in re.findall(r"```python\n(.*?)```", README, flags=re.S) if ">>>" in b]
    test = doctest.DocTestParser().get_doctest("\n".join(blocks), {}, "README.md", str(REPO / "README.md"), 0)
    assert test.examples, "README.md has no >>> examples"
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0


def test_every_relative_link_in_the_readme_resolves():
    links = re.findall(r"\]\(([^)#:]+)\)", README)
    assert links, "README.md links to no docs page"
    missing = [link for link in links if not (REPO / link).exists()]
    assert missing == []


def test_ci_runs_the_readme_test_command_verbatim():
    commands = re.findall(r"```bash\n(.*?)\n```", README, flags=re.S)
    assert "pip install -e '.[test]' && python -m pytest" in commands
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -e '.[test]' && python -m pytest" in ci


def test_the_readme_stays_a_front_door():
    assert len(README.splitlines()) <= 200
