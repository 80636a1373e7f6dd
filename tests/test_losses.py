"""Losses: the seed's printed numbers exactly, batch conventions, stability and every bad input."""

import warnings

import numpy as np
import pytest

from scratchnet import cross_entropy_error, mean_squared_error, softmax, softmax_cross_entropy

Y1 = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
Y2 = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])
T = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])


# --- the seed's numbers, to the last digit -------------------------------------------------------


def test_seed_mean_squared_error_exact():
    assert repr(mean_squared_error(Y1, T)) == "0.09750000000000003"
    assert repr(mean_squared_error(Y2, T)) == "0.5975"


def test_seed_cross_entropy_exact():
    assert repr(cross_entropy_error(Y1, T)) == "0.510825457099338"
    assert repr(cross_entropy_error(Y2, T)) == "2.302584092994546"


def test_seed_cross_entropy_with_a_label():
    assert repr(cross_entropy_error(Y1, 2)) == "0.510825457099338"
    assert repr(cross_entropy_error(Y2, np.int64(2))) == "2.302584092994546"


def test_losses_return_python_floats():
    assert type(mean_squared_error(Y1, T)) is float
    assert type(cross_entropy_error(Y1, T)) is float
    assert type(softmax_cross_entropy(Y1[None], [2])) is float


def test_a_loss_prefers_the_right_answer():
    assert mean_squared_error(Y1, T) < mean_squared_error(Y2, T)
    assert cross_entropy_error(Y1, T) < cross_entropy_error(Y2, T)


# --- batches -------------------------------------------------------------------------------------


def _batch(n=6, c=10, seed=0):
    rng = np.random.default_rng(seed)
    y = softmax(rng.normal(size=(n, c)))
    labels = rng.integers(0, c, size=n)
    return y, labels, np.eye(c, dtype=np.int64)[labels]


def test_batch_ce_labels_equals_onehot_equals_mean_of_samples():
    y, labels, onehot = _batch()
    by_labels = cross_entropy_error(y, labels)
    by_onehot = cross_entropy_error(y, onehot)
    per_sample = np.mean([cross_entropy_error(y[i], onehot[i]) for i in range(len(y))])
    assert by_labels == by_onehot == per_sample


def test_batch_mse_is_mean_of_samples():
    y, _, onehot = _batch()
    per_sample = np.mean([mean_squared_error(y[i], onehot[i]) for i in range(len(y))])
    assert mean_squared_error(y, onehot) == pytest.approx(per_sample, rel=1e-15)


def test_batch_of_one_equals_single_sample():
    assert cross_entropy_error(Y1[None], T[None]) == cross_entropy_error(Y1, T)
    assert cross_entropy_error(Y1[None], [2]) == cross_entropy_error(Y1, T)
    assert mean_squared_error(Y1[None], T[None]) == mean_squared_error(Y1, T)


def test_soft_targets_allowed_in_onehot_form():
    t = np.full(10, 0.1)
    expected = -np.sum(0.1 * np.log(Y1 + 1e-7))
    assert cross_entropy_error(Y1, t) == pytest.approx(expected, rel=1e-14)


def test_softmax_cross_entropy_matches_textbook_form_on_moderate_logits():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4))
    t = rng.integers(0, 4, size=5)
    fused = softmax_cross_entropy(x, t)
    exact = -np.mean(np.log(softmax(x)[np.arange(5), t]))
    assert fused == pytest.approx(exact, rel=1e-13)
    assert softmax_cross_entropy(x, np.eye(4)[t]) == pytest.approx(fused, rel=1e-15)
    # the textbook's delta shifts the value only by about 1e-7 / p
    assert cross_entropy_error(softmax(x), t) == pytest.approx(fused, abs=1e-5)


def test_softmax_cross_entropy_finite_for_huge_logits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]])
        assert softmax_cross_entropy(x, [0, 1]) == 0.0
        assert softmax_cross_entropy(x, [1, 0]) == 2e4
        assert softmax_cross_entropy(x, np.eye(3)[[2, 2]]) == pytest.approx(1e4)


def test_softmax_cross_entropy_minus_inf_logit_with_zero_target():
    x = np.array([[-np.inf, 0.0, 0.0]])
    assert softmax_cross_entropy(x, [1]) == pytest.approx(np.log(2))
    assert softmax_cross_entropy(x, np.array([[0.0, 1.0, 0.0]])) == pytest.approx(np.log(2))


def test_uint8_and_integer_inputs_are_floats_without_wraparound():
    y = np.array([[250, 5]], dtype=np.uint8)
    t = np.array([[255, 0]], dtype=np.uint8)
    assert mean_squared_error(y, t) == 0.5 * (25 + 25)
    assert softmax_cross_entropy(np.array([[1, 2, 3]]), [2]) == pytest.approx(
        softmax_cross_entropy(np.array([[1.0, 2.0, 3.0]]), [2])
    )


def test_nan_is_never_hidden():
    y = Y1.copy()
    y[2] = np.nan
    assert np.isnan(cross_entropy_error(y, T))
    assert np.isnan(mean_squared_error(y, T))
    assert np.isnan(softmax_cross_entropy(y[None], [2]))


def test_float32_inputs_work():
    y = Y1.astype(np.float32)
    assert cross_entropy_error(y, T) == pytest.approx(0.510825457099338, rel=1e-6)


# --- bad input: each names the argument, what it got and what was expected -----------------------


def test_labels_of_another_batch_size():
    y, labels, _ = _batch(n=4)
    with pytest.raises(ValueError, match=r"t: expected 4 labels .*got 3"):
        cross_entropy_error(y, labels[:3])
    with pytest.raises(ValueError, match=r"t: expected 4 labels .*got 5"):
        softmax_cross_entropy(y, np.arange(5))


@pytest.mark.parametrize("bad, shown", [(10, "10"), (-1, "-1")])
def test_label_out_of_range(bad, shown):
    y, labels, _ = _batch(n=5)
    labels[3] = bad
    with pytest.raises(ValueError, match=rf"t: expected labels in \[0, 10\), got {shown} at index 3"):
        cross_entropy_error(y, labels)
    with pytest.raises(ValueError, match=rf"got {shown} at index 3"):
        softmax_cross_entropy(y, labels)


def test_single_sample_label_out_of_range():
    with pytest.raises(ValueError, match=r"t: expected labels in \[0, 10\), got 10"):
        cross_entropy_error(Y1, 10)


@pytest.mark.parametrize("labels", [np.array([2.0, 1.0]), np.array([True, False])])
def test_float_or_bool_labels_are_refused(labels):
    y = np.stack([Y1, Y2])
    with pytest.raises(TypeError, match=r"t: expected integer class labels, got dtype (float64|bool)"):
        cross_entropy_error(y, labels)
    with pytest.raises(TypeError, match=r"t: expected integer class labels"):
        softmax_cross_entropy(y, labels)


def test_onehot_with_another_class_count():
    y = np.stack([Y1, Y2])
    with pytest.raises(ValueError, match=r"t: expected one-hot targets of shape \(2, 10\), got \(2, 9\)"):
        cross_entropy_error(y, np.zeros((2, 9)))
    with pytest.raises(ValueError, match=r"t: expected one-hot targets of shape \(2, 10\), got \(2, 11\)"):
        softmax_cross_entropy(y, np.zeros((2, 11)))


def test_mse_refuses_silent_broadcast():
    y = np.zeros((4, 1))
    with pytest.raises(ValueError, match=r"t: expected the shape of y \(4, 1\), got \(4,\)"):
        mean_squared_error(y, np.zeros(4))


@pytest.mark.parametrize(
    "loss, y, t",
    [
        (cross_entropy_error, np.zeros((0, 10)), np.zeros(0, dtype=int)),
        (softmax_cross_entropy, np.zeros((0, 10)), np.zeros(0, dtype=int)),
        (mean_squared_error, np.zeros((0, 10)), np.zeros((0, 10))),
    ],
)
def test_empty_batch_is_refused(loss, y, t):
    with pytest.raises(ValueError, match=r"expected a non-empty batch, got shape \(0, 10\)"):
        loss(y, t)


def test_softmax_cross_entropy_requires_2d_logits():
    with pytest.raises(ValueError, match=r"logits: expected shape \(N, C\), got \(10,\)"):
        softmax_cross_entropy(Y1, 2)


def test_cross_entropy_refuses_3d_output():
    with pytest.raises(ValueError, match=r"y: expected shape \(C,\) or \(N, C\), got \(2, 2, 2\)"):
        cross_entropy_error(np.ones((2, 2, 2)), np.zeros((2, 2), dtype=int))
