"""The textbook's experiments, chapters 3-6: one module per experiment, each also a script.

This folder (scripts/textbook/) is installed as the package ``textbook`` (see pyproject.toml), so an
experiment imports its shared helpers as ``textbook._common`` and ``scripts/reproduce.py`` imports
every experiment, whether run as ``python scripts/textbook/ch04_train.py`` or imported, without
patching ``sys.path``. Each module has ``NAME``, ``run(ctx) -> Report`` and ``main(argv=None) -> int``.
"""
