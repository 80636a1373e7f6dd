"""Property-based tests (hypothesis): invariants stated over arbitrary shapes, dtypes and values.

- every public function and layer either returns the documented shape and dtype or raises
  ValueError/TypeError, never another exception type;
- softmax rows are finite and sum to 1 for finite input; cross-entropy is >= 0;
- each layer's backward agrees with a numerical gradient (``check_layer``) on random small shapes;
- ``save`` -> ``load`` round trips are bit-identical;
- the IDX reader refuses every truncation and every wrong header byte.

The profile (bounded, derandomised) is registered in conftest.py.
"""

import gzip
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

from dataset.idx import encode_idx, parse_idx, read_idx  # noqa: E402
from scratchnet import functions, gradient_descent, losses, numerical_diff, numerical_gradient  # noqa: E402
from scratchnet.gradcheck import check_layer  # noqa: E402
from scratchnet.layers import (  # noqa: E402
    Affine,
    BatchNormalization,
    Dropout,
    Relu,
    Sigmoid,
    Softmax,
    SoftmaxWithLoss,
)
from scratchnet.network import MultiLayerNet, TwoLayerNet  # noqa: E402

ALLOWED = (ValueError, TypeError)
DTYPES = [np.float64, np.float32, np.float16, np.int64, np.int8, np.uint8, np.bool_, np.complex128]


def any_array(min_dims: int = 0, max_dims: int = 3, max_side: int = 4):
    """Arrays of any listed dtype and small shape, with any values (NaN, inf, huge, subnormal)."""
    return hnp.arrays(
        dtype=st.sampled_from(DTYPES),
        shape=hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side),
    )


def anything():
    """Arrays, and the other things people pass: None, strings, lists, scalars."""
    return st.one_of(
        any_array(),
        st.none(),
        st.text(max_size=3),
        st.floats(),
        st.integers(-3, 3),
        st.lists(st.floats(allow_nan=False, width=32), max_size=4),
    )


labels_or_anything = st.one_of(
    anything(), hnp.arrays(np.int64, st.integers(0, 4), elements=st.integers(-1, 4))
)


def finite(shape, dtype=np.float64, bound: float = 1e300):
    return hnp.arrays(dtype, shape, elements=st.floats(-bound, bound, allow_nan=False, width=64 if dtype
                                                       == np.float64 else 32))


def float_dtype_of(x) -> np.dtype:
    """The dtype the functions document: a float input keeps its dtype; others become float64."""
    a = np.asarray(x)
    return a.dtype if a.dtype.kind == "f" else np.dtype(np.float64)


def call(f, *args, **kwargs):
    """f(*args) with NumPy's warnings silenced; None if it raised an allowed error (any other raises)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            return f(*args, **kwargs)
        except ALLOWED:
            return None


# ---- 1. documented shape and dtype, or ValueError/TypeError ---------------------------------------------

ELEMENTWISE = [functions.identity_function, functions.step_function, functions.sigmoid, functions.relu]


@pytest.mark.parametrize("f", ELEMENTWISE + [functions.softmax, functions.log_softmax],
                         ids=lambda f: f.__name__)
@given(x=anything())
def test_functions_return_the_input_shape_as_float_or_refuse(f, x):
    y = call(f, x)
    if y is not None:
        assert isinstance(y, np.ndarray)
        assert y.shape == np.shape(x) and y.dtype == float_dtype_of(x)


@pytest.mark.parametrize(
    "loss", [losses.mean_squared_error, losses.cross_entropy_error, losses.softmax_cross_entropy],
    ids=lambda f: f.__name__,
)
@given(y=anything(), t=labels_or_anything)
def test_losses_return_a_float_or_refuse(loss, y, t):
    value = call(loss, y, t)
    assert value is None or type(value) is float


@given(x=any_array(max_dims=2), h=st.one_of(st.floats(), st.text(max_size=2), st.none(), st.integers(-2, 2)))
def test_numerical_gradient_returns_x_shape_and_dtype_or_refuses(x, h):
    before = x.copy()
    g = call(numerical_gradient, lambda a: float(np.sum(a.astype(np.float64) ** 2)), x, h)
    if g is not None:
        assert g.shape == x.shape and g.dtype == x.dtype
    assert x.tobytes() == before.tobytes()  # every element put back exactly


@given(x=st.one_of(st.floats(), st.integers(-5, 5), st.text(max_size=2), st.none()),
       h=st.one_of(st.floats(), st.text(max_size=2), st.none(), st.integers(-2, 2)))
def test_numerical_diff_returns_a_number_or_refuses(x, h):
    # NumPy arithmetic in f: Python's float ** 2 raises OverflowError for a huge h, an error of f's own.
    d = call(numerical_diff, lambda v: 0.01 * np.float64(v) ** 2 + 0.1 * v, x, h)
    assert d is None or isinstance(d, (float, np.floating))


@given(init=any_array(max_dims=2, max_side=3), lr=st.one_of(st.floats(), st.text(max_size=2), st.none()),
       steps=st.one_of(st.integers(-1, 3), st.floats(0, 3), st.none()))
def test_gradient_descent_returns_the_start_shape_or_refuses(init, lr, steps):
    x = call(gradient_descent, lambda a: float(np.sum(a**2)), init, lr=lr, step_num=steps)
    if x is not None:
        assert x.shape == init.shape and x.dtype.kind == "f"


def _layer_and_features(kind: str, d: int, m: int, dtype):
    rng = np.random.default_rng(d * 10 + m)
    if kind == "Affine":
        return Affine(rng.standard_normal((d, m)).astype(dtype), np.zeros(m, dtype)), d
    if kind == "BatchNormalization":
        return BatchNormalization(np.ones(d, dtype), np.zeros(d, dtype)), d
    if kind == "Dropout":
        return Dropout(0.3, seed=0), None
    return {"Sigmoid": Sigmoid, "Relu": Relu, "Softmax": Softmax}[kind](), None


LAYER_KINDS = ["Affine", "Sigmoid", "Relu", "Softmax", "Dropout", "BatchNormalization"]


def fitting(shape):
    """Arrays of exactly ``shape`` (any dtype and values), so the layers' real work gets tried too."""
    return hnp.arrays(st.sampled_from(DTYPES), shape)


@pytest.mark.parametrize("kind", LAYER_KINDS)
@given(data=st.data(), n=st.integers(0, 3), d=st.integers(1, 4), m=st.integers(1, 3),
       dtype=st.sampled_from([np.float64, np.float32]), train=st.booleans())
def test_layers_forward_and_backward_give_documented_shapes_or_refuse(kind, data, n, d, m, dtype, train):
    layer, features = _layer_and_features(kind, d, m, dtype)
    x = data.draw(st.one_of(fitting((n, d)), fitting((n, 1, d)), anything()), label="x")
    kwargs = {"train": train} if kind in ("Dropout", "BatchNormalization") else {}
    out = call(layer.forward, x, **kwargs)
    if out is None:
        return
    shape = np.shape(x)
    assert isinstance(out, np.ndarray)
    if kind == "Affine":
        assert out.shape == (shape[0], m) and out.dtype == dtype
    elif kind == "BatchNormalization":
        assert out.shape == shape and out.dtype == dtype
    else:
        assert out.shape == shape and out.dtype == float_dtype_of(x)
    dout = data.draw(st.one_of(fitting(out.shape), anything()), label="dout")
    dx = call(layer.backward, dout)
    if dx is not None:
        assert isinstance(dx, np.ndarray) and dx.shape == shape


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize("inverted", [True, False])
def test_dropout_of_a_0d_array_returns_an_array(train, inverted):
    # Was a bug (x * mask of 0-d arrays is a NumPy scalar); fixed in issue #15.
    layer = Dropout(0.5, inverted=inverted, seed=0)
    assert isinstance(layer.forward(np.array(1.0), train=train), np.ndarray)
    assert isinstance(layer.backward(np.array(1.0)), np.ndarray)


# Was a bug (dout of any shape accepted after an inference forward); fixed in issue #15.
@pytest.mark.parametrize("inverted", [True, False])
def test_dropout_backward_after_inference_refuses_a_dout_of_another_shape(inverted):
    layer = Dropout(0.5, inverted=inverted, seed=0)
    layer.forward(np.ones((2, 3)), train=False)
    with pytest.raises(ValueError, match="dout: expected shape"):
        layer.backward(np.ones(5))


@given(data=st.data(), n=st.integers(0, 3), c=st.integers(0, 3), form=st.sampled_from(SoftmaxWithLoss.FORMS))
def test_softmax_with_loss_gives_a_float_and_an_x_shaped_gradient_or_refuses(data, n, c, form):
    x = data.draw(st.one_of(fitting((n, c)), anything()), label="x")
    t = data.draw(st.one_of(
        hnp.arrays(st.sampled_from([np.int64, np.int8]), (n,), elements=st.integers(-1, 4)),
        hnp.arrays(np.uint8, (n,), elements=st.integers(0, 255)),
        fitting((n, c)),
        labels_or_anything,
    ), label="t")
    layer = SoftmaxWithLoss(form)
    loss = call(layer.forward, x, t)
    if loss is None:
        return
    assert type(loss) is float
    dx = call(layer.backward)
    assert dx is not None and dx.shape == np.shape(x)


# ---- 2. softmax and cross-entropy ------------------------------------------------------------------------

@given(x=hnp.arrays(st.sampled_from([np.float64, np.float32]),
                    hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5),
                    elements=st.floats(allow_nan=False, allow_infinity=False, width=32)))
def test_softmax_rows_are_finite_and_sum_to_one(x):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and no overflow warning on the way
        y = functions.softmax(x)
    assert np.all(np.isfinite(y)) and np.all(y >= 0) and np.all(y <= 1)
    tol = 1e-12 if x.dtype == np.float64 else 1e-5
    np.testing.assert_allclose(y.sum(axis=-1, dtype=np.float64), 1.0, rtol=0, atol=tol * x.shape[-1])


@given(data=st.data(), n=st.integers(1, 5), c=st.integers(1, 6))
def test_cross_entropy_is_never_negative(data, n, c):
    logits = data.draw(finite((n, c), bound=1e4))
    labels = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, c - 1)))
    one_hot = np.eye(c)[labels]
    assert losses.softmax_cross_entropy(logits, labels) >= 0.0
    assert losses.softmax_cross_entropy(logits, one_hot) >= 0.0
    y = functions.softmax(logits)
    # The textbook's form adds 1e-7 inside the log: a perfect prediction gives -log(1 + 1e-7), not 0
    # (a documented property of the book's definition, kept for its printed numbers).
    floor = -losses.CROSS_ENTROPY_DELTA
    assert losses.cross_entropy_error(y, labels) >= floor
    assert losses.cross_entropy_error(y, one_hot) >= floor
    assert losses.mean_squared_error(y, one_hot) >= 0.0


# ---- 3. each layer's backward against a numerical gradient -----------------------------------------------

@st.composite
def away_from_zero(draw, shape):
    """Values in +-[0.1, 2]: no ReLU kink within a step h of any element."""
    mags = draw(hnp.arrays(np.float64, shape, elements=st.floats(0.1, 2.0)))
    signs = draw(hnp.arrays(np.bool_, shape))
    return np.where(signs, mags, -mags)


@pytest.mark.parametrize("kind", LAYER_KINDS + ["SoftmaxWithLoss-labels", "SoftmaxWithLoss-onehot"])
@settings(max_examples=10)
@given(data=st.data(), n=st.integers(1, 4), d=st.integers(1, 4), m=st.integers(1, 3))
def test_layer_backward_agrees_with_the_numerical_gradient(kind, data, n, d, m):
    x = data.draw(away_from_zero((n, d)))
    seed = data.draw(st.integers(0, 2**16))
    t, kwargs, abs_tol = None, {}, 1e-9
    if kind.startswith("SoftmaxWithLoss"):
        layer = SoftmaxWithLoss()
        labels = data.draw(hnp.arrays(np.int64, (n,), elements=st.integers(0, d - 1)))
        t = labels if kind.endswith("labels") else np.eye(d)[labels]
    else:
        layer, _ = _layer_and_features(kind, d, m, np.float64)
        if kind == "BatchNormalization":
            assume(n >= 2)  # one sample normalises to 0 exactly: a gradient of pure noise
            kwargs = {"train": data.draw(st.booleans())}
            abs_tol = 1e-7  # the mean removes any constant: those gradients are 0 up to rounding
    result = check_layer(layer, x, t, seed=seed, forward_kwargs=kwargs)
    result.assert_close(rel_tol=1e-5, abs_tol=abs_tol)


# ---- 4. save -> load is bit-identical --------------------------------------------------------------------

@settings(max_examples=15)
@given(data=st.data(), dtype=st.sampled_from([np.float64, np.float32]), batchnorm=st.booleans(),
       widths=st.lists(st.integers(1, 4), min_size=1, max_size=2))
def test_save_then_load_round_trips_bit_for_bit(data, dtype, batchnorm, widths):
    net = MultiLayerNet(3, widths, 2, use_batchnorm=batchnorm, seed=1, dtype=dtype)
    width = 32 if dtype == np.float32 else 64
    for name, p in net.state_dict().items():  # any finite values, -0.0 and subnormals included
        values = data.draw(hnp.arrays(dtype, p.shape, elements=st.floats(allow_nan=False,
                                                                         allow_infinity=False, width=width)))
        target = net.params.get(name)
        if target is None:
            target = net.buffers()[name]
        target[...] = values
    other = MultiLayerNet(3, widths, 2, use_batchnorm=batchnorm, seed=2, dtype=dtype)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "net.npz"
        net.save(path)
        other.load(path)
    a, b = net.state_dict(), other.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].tobytes() == b[name].tobytes(), name


def test_two_layer_net_round_trips_bit_for_bit(tmp_path):
    net = TwoLayerNet(5, 4, 3, seed=0)
    net.save(tmp_path / "w.npz")
    other = TwoLayerNet(5, 4, 3, seed=9)
    other.load(tmp_path / "w.npz")
    assert all(net.params[k].tobytes() == other.params[k].tobytes() for k in net.params)


# ---- 5. the IDX reader refuses every truncation and every wrong header -----------------------------------

small_uint8 = hnp.arrays(np.uint8, hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=4))


@given(a=small_uint8)
def test_idx_round_trips_and_refuses_every_truncation_and_trailing_byte(a):
    data = encode_idx(a)
    np.testing.assert_array_equal(parse_idx(data), a)
    for k in range(len(data)):
        with pytest.raises(ValueError, match="truncated|expected"):
            parse_idx(data[:k])
    with pytest.raises(ValueError, match="trailing bytes"):
        parse_idx(data + b"\x00")


@given(a=small_uint8, data=st.data())
def test_idx_refuses_every_wrong_header_byte(a, data):
    blob = bytearray(encode_idx(a))
    header = 4 + 4 * a.ndim
    i = data.draw(st.integers(0, header - 1), label="byte")
    value = data.draw(st.integers(0, 255).filter(lambda v: v != blob[i]), label="value")
    blob[i] = value
    with pytest.raises(ValueError):
        parse_idx(bytes(blob), shape=a.shape)


@settings(max_examples=10)
@given(a=hnp.arrays(np.uint8, (3, 4, 5)), data=st.data())
def test_read_idx_refuses_a_truncated_gzip_file(a, data):
    gz = gzip.compress(encode_idx(a), mtime=0)
    k = data.draw(st.integers(0, len(gz) - 1))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.gz"
        path.write_bytes(gz[:k])
        with pytest.raises(ValueError):
            read_idx(path, shape=a.shape)
