"""The textbook's printed numbers of chapters 3 and 4, computed by the experiments of scripts/textbook/."""

from pathlib import Path

import numpy as np
import pytest

from scratchnet import gradient_descent, numerical_diff, numerical_gradient, softmax
from scratchnet_book import (
    ch03_forward,
    ch04_gradient_descent,
    ch04_numerical_diff,
    ch04_simplenet,
    ch06_activation_histograms,
    ch06_optimizer_paths,
)
from scratchnet_book.experiment import Context, Report, run_timed


def test_ch03_forward_pass_gives_the_books_output():
    network = {k: np.array(v) for k, v in ch03_forward.NETWORK.items()}
    y = ch03_forward.forward(network, np.array([1.0, 0.5]))
    np.testing.assert_array_equal(np.round(y, 8), [0.31682708, 0.69627909])


def test_ch03_softmax_gives_the_books_output():
    np.testing.assert_array_equal(np.round(softmax(np.array([0.3, 2.9, 4.0])), 8),
                                  [0.01821127, 0.24519181, 0.73659691])


def test_ch04_numerical_diff_is_the_books_exactly():
    assert numerical_diff(ch04_numerical_diff.function_1, 5) == 0.1999999999990898
    assert numerical_diff(ch04_numerical_diff.function_1, 10) == 0.2999999999986347


@pytest.mark.parametrize("point, book", [((3.0, 4.0), (6.0, 8.0)), ((0.0, 2.0), (0.0, 4.0)),
                                         ((3.0, 0.0), (6.0, 0.0))])
def test_ch04_gradients_of_function_2(point, book):
    g = numerical_gradient(ch04_numerical_diff.function_2, np.array(point))
    np.testing.assert_allclose(g, book, rtol=0, atol=1e-10)


@pytest.mark.parametrize("lr, book", [(0.1, (-6.11110793e-10, 8.14814391e-10)),
                                      (10.0, (-2.58983747e13, -1.29524862e12)),
                                      (1e-10, (-2.99999994, 3.99999992))])
def test_ch04_gradient_descent_ends_where_the_book_does(lr, book):
    x = gradient_descent(ch04_gradient_descent.function_2, np.array([-3.0, 4.0]), lr=lr, step_num=100)
    # The book prints 9 significant digits.
    np.testing.assert_allclose(x, book, rtol=5e-9, atol=0)


def test_ch04_simplenet_prediction_and_gradient():
    net = ch04_simplenet.SimpleNet(ch04_simplenet.BOOK_W)
    x, t = np.array([0.6, 0.9]), np.array([0, 0, 1])
    np.testing.assert_array_equal(np.round(net.predict(x), 8), [1.05414809, 0.63071653, 1.1328074])
    dW = numerical_gradient(lambda _: net.loss(x, t), net.W)
    y = softmax(net.predict(x))
    np.testing.assert_allclose(dW, np.outer(x, y - t), rtol=1e-5)  # the 1e-7 in the log moves it by ~3e-7
    np.testing.assert_array_equal(net.W, ch04_simplenet.BOOK_W)  # restored after differentiating


@pytest.mark.parametrize("module", [ch03_forward, ch04_numerical_diff, ch04_gradient_descent, ch04_simplenet,
                                    ch06_optimizer_paths, ch06_activation_histograms])
def test_deterministic_experiments_pass_every_check(module, tmp_path: Path):
    # Figures are drawn in test_textbook_reproduce; here they would only cost seconds.
    report = run_timed(module.run, Context(out=tmp_path, quick=True, figures=False))
    assert report.checks and report.ok, [c for c in report.checks if not c.ok]
    assert (tmp_path / "checks.json").is_file()


@pytest.mark.parametrize("printed, value, ok", [
    ("0.31682708", 0.316827076, True), ("0.31682708", 0.316827086, False),
    ("-2.58983747e+13", -2.589837474e13, True), ("-2.58983747e+13", -2.589837480e13, False),
    ("6.", 6.4, True), ("6.", 6.6, False),
])
def test_check_printed_holds_to_half_a_unit_of_the_last_digit(printed, value, ok):
    report = Report("x")
    assert report.check_printed("q", printed, value) is ok
    assert report.checks[0].ok is ok


def test_check_seeds_needs_every_seed_inside():
    report = Report("x")
    assert report.check_seeds("acc", 0.945, [0.944, 0.946], 0.94, 0.95, "")
    assert not report.check_seeds("acc", 0.945, [0.944, 0.951], 0.94, 0.95, "")
    assert report.checks[1].ours == "0.9475 [0.9440, 0.9510] n=2"


def test_optimizer_paths_sgd_zigzags_and_all_descend():
    rates = ch06_optimizer_paths.LEARNING_RATES
    paths = {name: ch06_optimizer_paths.descend(name, lr) for name, lr in rates.items()}
    y = paths["SGD"][:, 1]
    assert np.all(np.sign(y[1:]) == -np.sign(y[:-1]))
    for path in paths.values():
        assert path.shape == (31, 2)
        assert ch06_optimizer_paths.f(*path[-1]) < ch06_optimizer_paths.f(*path[0]) / 10
