"""Shared test configuration. For now only the hypothesis profile (tests/test_properties.py)."""

import os

# The book-style chapter scripts are run by test_book_scripts.py as `python <script>` in a folder of
# their own; pytest would otherwise import ch06_batch_norm_test.py (it matches *_test.py) while
# collecting, running the whole script in the current folder and leaving its figure there.
collect_ignore = ["book_scripts"]

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis comes with the test extra; without it only the property tests skip
    pass
else:
    # Bounded and derandomised: the same examples on every run and machine, so CI stays fast and a
    # failure reproduces. HYPOTHESIS_PROFILE=thorough explores more (and randomly) by hand.
    settings.register_profile(
        "ci",
        max_examples=25,
        derandomize=True,
        deadline=None,  # a loaded machine must not turn slowness into failures
        suppress_health_check=[HealthCheck.too_slow],
        print_blob=True,
    )
    settings.register_profile("thorough", max_examples=1000, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
