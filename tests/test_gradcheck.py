"""Gradient checks: the textbook's chapter 5 check on real MNIST, and checks that catch wrong gradients."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from scratchnet import (
    Affine,
    BatchNormalization,
    MultiLayerNet,
    Sequential,
    Sigmoid,
    TwoLayerNet,
    check_layer,
    gradient_check,
    rel_error,
)

ROOT = Path(__file__).resolve().parents[1]


def read_idx(path: Path, magic: int, count: int) -> np.ndarray:
    """The first ``count`` items of a gzipped IDX file (images: magic 2051, labels: 2049) as uint8."""
    with gzip.open(path, "rb") as f:
        ndim = magic & 0xFF
        header = struct.unpack(f">I{ndim}I", f.read(4 * (1 + ndim)))
        assert header[0] == magic, f"{path}: magic {header[0]}, expected {magic}"
        item_shape = header[2:]
        size = count * int(np.prod(item_shape))
        return np.frombuffer(f.read(size), dtype=np.uint8).reshape(count, *item_shape)


@pytest.fixture(scope="module")
def mnist_three():
    """The first three training images (flattened, divided by 255) and one-hot labels, as in the book."""
    folder = Path(os.environ.get("SCRATCHNET_MNIST_DIR") or ROOT.parent / "shared" / "mnist")
    images, labels = folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    if not (images.exists() and labels.exists()):
        pytest.skip(f"real MNIST not found in {folder}: set SCRATCHNET_MNIST_DIR to its folder")
    x = read_idx(images, 2051, 3).reshape(3, 784) / 255.0
    t = read_idx(labels, 2049, 3)
    assert t.tolist() == [5, 0, 4]
    return x, np.eye(10)[t]


@pytest.mark.parametrize("form", ["fused", "textbook"])
def test_textbooks_chapter5_gradient_check_on_three_mnist_samples(mnist_three, form):
    x, t = mnist_three
    net = TwoLayerNet(784, 50, 10, activation="relu", seed=0, loss_form=form)
    result = gradient_check(net, x, t)
    print(result)
    # The book prints mean absolute differences W1 3.95e-10, b1 2.56e-09, W2 6.09e-09, b2 1.41e-07.
    assert list(result) == ["W1", "b1", "W2", "b2"]
    for row in result.values():
        assert 0 < row.mean_abs_diff <= 1e-6, row
    if form == "fused":
        result.assert_close(rel_tol=1e-7)
    else:
        # The book's log(y + 1e-7) is not in its backward; with y near 0.1 that is visible in b2.
        assert result["b2"].mean_abs_diff > 1e-8
        result.assert_close(rel_tol=1e-5)


# --------------------------------------------------------------------------------------- rel_error
def test_rel_error_is_norm_of_difference_over_sum_of_norms():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0, 0.0], [0.0, 1.0]) == pytest.approx(np.sqrt(2) / 2)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error([3.0], [1.0]) == pytest.approx(0.5)
    assert isinstance(rel_error(np.float32([1.0]), np.float32([1.1])), float)
    with pytest.raises(ValueError, match=r"b: expected the shape of a \(2,\), got \(3,\)"):
        rel_error([1.0, 2.0], [1.0, 2.0, 3.0])


# -------------------------------------------------------------------------------------- check_layer
class SigmoidWithWrongBackward(Sigmoid):
    """A typical homework bug: the (1 - out) factor forgotten."""

    def backward(self, dout):
        return dout * self.out


class TextbookAffine:
    """A student's Affine in the book's own shape: attributes W, b, dW, db; no dicts."""

    def __init__(self, W, b):
        self.W, self.b = W, b

    def forward(self, x):
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout):
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        return dout @ self.W.T


def test_check_layer_catches_a_wrong_backward_with_a_readable_table():
    result = check_layer(SigmoidWithWrongBackward(), np.random.default_rng(0).standard_normal((3, 4)))
    assert result["x"].rel_error > 0.1
    with pytest.raises(AssertionError) as err:
        result.assert_close()
    message = str(err.value)
    assert message.startswith("gradient check failed for x (rel error")
    assert "name  shape   max abs diff  mean abs diff  rel error" in message


def test_check_layer_checks_a_textbook_style_layer_and_catches_a_wrong_weight_gradient():
    rng = np.random.default_rng(0)
    layer = TextbookAffine(rng.standard_normal((4, 3)), rng.standard_normal(3))
    x = rng.standard_normal((5, 4))
    result = check_layer(layer, x)
    assert list(result) == ["x", "W", "b"]
    result.assert_close()

    class WrongBias(TextbookAffine):
        def backward(self, dout):
            dx = super().backward(dout)
            self.db = dout.mean(axis=0)  # mean instead of sum
            return dx

    with pytest.raises(AssertionError, match=r"gradient check failed for b \(rel error"):
        check_layer(WrongBias(layer.W, layer.b), x).assert_close()


def test_check_layer_leaves_parameters_input_and_running_statistics_as_they_were():
    rng = np.random.default_rng(0)
    layer = BatchNormalization(rng.uniform(0.5, 2, 4), rng.standard_normal(4))
    params = {k: p.copy() for k, p in layer.params.items()}
    x = rng.standard_normal((6, 4))
    x_before = x.copy()
    check_layer(layer, x).assert_close()
    np.testing.assert_array_equal(x, x_before)
    for k in params:
        np.testing.assert_array_equal(layer.params[k], params[k])
    np.testing.assert_array_equal(layer.running_mean, np.zeros(4))
    np.testing.assert_array_equal(layer.running_var, np.ones(4))


def test_check_layer_refuses_float32_parameters_and_a_dout_of_the_wrong_shape():
    layer = Affine(np.ones((3, 2), np.float32), np.zeros(2, np.float32))
    expected = "layer: a gradient check needs float64 parameters .* got W float32, b float32"
    with pytest.raises(ValueError, match=expected):
        check_layer(layer, np.ones((2, 3)))
    expected = r"dout: expected the shape of forward's output \(2, 2\), got \(2, 3\)"
    with pytest.raises(ValueError, match=expected):
        check_layer(Affine(np.ones((3, 2)), np.zeros(2)), np.ones((2, 3)), dout=np.ones((2, 3)))


def test_check_layer_uses_the_given_dout():
    layer = Affine(np.eye(2), np.zeros(2))
    result = check_layer(layer, np.ones((1, 2)), dout=np.array([[1.0, 0.0]]))
    np.testing.assert_array_equal(layer.dW, [[1.0, 0.0], [1.0, 0.0]])
    result.assert_close()


# ----------------------------------------------------------------------------------- gradient_check
def test_gradient_check_result_rows_and_table():
    net = TwoLayerNet(6, 5, 3, activation="relu", weight_init_std=0.5, seed=0)
    x, t = np.random.default_rng(1).standard_normal((4, 6)), np.array([0, 1, 2, 1])
    result = gradient_check(net, x, t)
    assert len(result) == 4 and list(result) == list(net.params)
    row = result["W1"]
    assert row.shape == (6, 5)
    assert all(isinstance(v, float) for v in (row.max_abs_diff, row.mean_abs_diff, row.rel_error))
    assert row.mean_abs_diff <= row.max_abs_diff
    assert result.max_rel_error == max(r.rel_error for r in result.values())
    lines = str(result).splitlines()
    assert lines[0].startswith("gradient check of TwoLayerNet(") and lines[0].endswith("(h=0.0001)")
    assert lines[2].split()[:3] == ["W1", "(6,", "5)"]
    assert repr(result).startswith("<GradCheckResult: gradient check of TwoLayerNet(input_size=6, ")
    result.assert_close(rel_tol=1e-7, mean_abs_tol=1e-8)
    with pytest.raises(AssertionError, match="mean abs diff"):
        result.assert_close(mean_abs_tol=0.0)


def test_gradient_check_catches_a_network_with_a_wrong_layer():
    rng = np.random.default_rng(0)
    net = Sequential(Affine(rng.standard_normal((6, 5)), np.zeros(5)), SigmoidWithWrongBackward(),
                     Affine(rng.standard_normal((5, 3)), np.zeros(3)))
    x, t = rng.standard_normal((4, 6)), np.array([0, 1, 2, 1])
    result = gradient_check(net, x, t)
    assert result["W2"].rel_error < 1e-7 and result["b2"].rel_error < 1e-7  # above the bug: right
    with pytest.raises(AssertionError, match=r"gradient check failed for W1 \(rel error .*\), b1"):
        result.assert_close()


def test_abs_tol_lets_gradients_that_are_zero_in_theory_pass():
    net = MultiLayerNet(6, [5], 3, use_batchnorm=True, seed=0)
    x, t = np.random.default_rng(1).standard_normal((8, 6)), np.arange(8) % 3
    result = gradient_check(net, x, t)
    # b1 feeds batch norm, which subtracts the batch mean: its gradient is exactly 0.
    assert result["b1"].max_abs_diff < 1e-12
    with pytest.raises(AssertionError, match=r"gradient check failed for b1"):
        result.assert_close()
    result.assert_close(abs_tol=1e-10)


def test_gradient_check_accepts_a_textbook_style_network():
    class BookNet:  # only params, gradient(x, t) and numerical_gradient(x, t), as in the book
        def __init__(self):
            self.inner = TwoLayerNet(6, 4, 3, activation="relu", seed=0)
            self.params = self.inner.params

        def gradient(self, x, t):
            return self.inner.gradient(x, t)

        def numerical_gradient(self, x, t):
            return self.inner.numerical_gradient(x, t)

    x, t = np.random.default_rng(1).standard_normal((4, 6)), np.array([0, 1, 2, 1])
    gradient_check(BookNet(), x, t).assert_close()


def test_gradient_check_refuses_a_float32_network():
    with pytest.raises(ValueError, match="net: a gradient check needs float64 parameters"):
        gradient_check(TwoLayerNet(6, 4, 3, dtype=np.float32), np.ones((2, 6)), np.array([0, 1]))
