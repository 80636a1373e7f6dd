"""The fast numerical gradient agrees with the textbook's element-by-element loop."""

import numpy as np
import pytest

from scratchnet.fastgrad import MLPSpec, mlp_loss, mlp_numerical_gradient
from scratchnet.gradient import numerical_gradient


def naive_gradient(spec: MLPSpec, x, t, h=1e-4):
    """The textbook loop: perturb each element of each array in turn and re-evaluate the whole loss."""
    f = lambda _: mlp_loss(spec, x, t)  # noqa: E731 - reads the arrays the spec holds, as the book does
    return [
        (numerical_gradient(f, W, h), numerical_gradient(f, b, h)) for W, b in zip(spec.weights, spec.biases)
    ]


def make_spec(sizes, activations, loss="fused", weight_decay=0.0, seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    Ws = [scale * rng.normal(size=(a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    bs = [rng.normal(size=b) for b in sizes[1:]]
    return MLPSpec(Ws, bs, activations, loss, weight_decay)


def make_batch(n, d, c, seed=1, zeros=0.5):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    x[rng.random(x.shape) < zeros] = 0.0
    x[0, : min(3, d)] = 1.0  # repeated values and values equal to the bias input
    x[-1, :] = 0.0  # a sample no weight of the first layer moves
    return x, rng.integers(0, c, size=n)


def max_diff(g1, g2):
    return max(max(np.abs(a - c).max(), np.abs(b - d).max()) for (a, b), (c, d) in zip(g1, g2))


@pytest.mark.parametrize("loss", ["fused", "textbook"])
@pytest.mark.parametrize(
    "sizes, activations",
    [
        ([6, 4], []),  # softmax regression: only the last layer
        ([8, 5, 3], ["sigmoid"]),
        ([8, 5, 3], ["relu"]),
        ([7, 5, 4, 3], ["relu", "sigmoid"]),
        ([6, 4, 5, 3, 3], ["sigmoid", "relu", "identity"]),
    ],
)
@pytest.mark.parametrize("zeros", [0.0, 0.6])
def test_agrees_with_the_textbook_loop(sizes, activations, loss, zeros):
    spec = make_spec(sizes, activations, loss)
    x, t = make_batch(9, sizes[0], sizes[-1], zeros=zeros)
    fast = mlp_numerical_gradient(spec, x, t, threads=2)
    slow = naive_gradient(spec, x, t)
    assert max_diff(fast, slow) <= 1e-8
    for (dW, db), W, b in zip(fast, spec.weights, spec.biases):
        assert dW.shape == W.shape and db.shape == b.shape and dW.dtype == np.float64


def test_weight_decay_is_part_of_the_loss():
    spec = make_spec([6, 5, 3], ["relu"], weight_decay=0.3)
    x, t = make_batch(5, 6, 3)
    assert max_diff(mlp_numerical_gradient(spec, x, t), naive_gradient(spec, x, t)) <= 1e-8
    no_decay = mlp_numerical_gradient(make_spec([6, 5, 3], ["relu"]), x, t)
    with_decay = mlp_numerical_gradient(spec, x, t)
    np.testing.assert_allclose(with_decay[0][0] - no_decay[0][0], 0.3 * spec.weights[0], atol=1e-8)
    np.testing.assert_array_equal(with_decay[0][1], no_decay[0][1])  # biases are not decayed


def test_onehot_targets_equal_labels():
    spec = make_spec([6, 5, 3], ["sigmoid"])
    x, t = make_batch(5, 6, 3)
    by_labels = mlp_numerical_gradient(spec, x, t)
    by_onehot = mlp_numerical_gradient(spec, x, np.eye(3)[t])
    assert max_diff(by_labels, by_onehot) == 0.0


def test_float32_parameters_are_differentiated_in_float64():
    spec64 = make_spec([8, 5, 3], ["sigmoid"])
    spec32 = MLPSpec(
        [W.astype(np.float32) for W in spec64.weights],
        [b.astype(np.float32) for b in spec64.biases],
        ["sigmoid"],
    )
    x, t = make_batch(6, 8, 3)
    x32 = x.astype(np.float32)
    fast = mlp_numerical_gradient(spec32, x32, t)
    # the reference: the textbook loop on the same (float32-valued) numbers held in float64
    ref_spec = MLPSpec(
        [W.astype(np.float64) for W in spec32.weights],
        [b.astype(np.float64) for b in spec32.biases],
        ["sigmoid"],
    )
    assert max_diff(fast, naive_gradient(ref_spec, x32.astype(np.float64), t)) <= 1e-8


def test_parameters_and_inputs_are_left_exactly_as_they_were():
    spec = make_spec([8, 5, 4, 3], ["relu", "sigmoid"])
    x, t = make_batch(6, 8, 3)
    before = [a.copy() for a in (*spec.weights, *spec.biases, x, t)]
    mlp_numerical_gradient(spec, x, t)
    for a, b in zip((*spec.weights, *spec.biases, x, t), before):
        assert a.tobytes() == b.tobytes()


def test_result_does_not_depend_on_thread_count():
    spec = make_spec([30, 12, 4], ["sigmoid"])
    x, t = make_batch(40, 30, 4)
    one = mlp_numerical_gradient(spec, x, t, threads=1)
    two = mlp_numerical_gradient(spec, x, t, threads=3)
    assert max_diff(one, two) == 0.0


def test_against_backprop_of_a_softmax_regression():
    # For one Affine + softmax the true gradient is x^T (p - onehot) / N: the central difference
    # must agree to its truncation error (about h**2).
    spec = make_spec([6, 4], [])
    x, t = make_batch(8, 6, 4)
    z = x @ spec.weights[0] + spec.biases[0]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dz = (p - np.eye(4)[t]) / 8
    ((dW, db),) = mlp_numerical_gradient(spec, x, t)
    np.testing.assert_allclose(dW, x.T @ dz, atol=1e-9)
    np.testing.assert_allclose(db, dz.sum(axis=0), atol=1e-9)


def test_relu_kink_crossed_by_the_step_is_handled_like_the_loop():
    spec = make_spec([4, 3, 2], ["relu"])
    x, t = make_batch(3, 4, 2, zeros=0.0)
    # put a pre-activation within h of zero, so the +-h steps land on both sides of the kink
    a = x @ spec.weights[0] + spec.biases[0]
    spec.biases[0][0] -= a[1, 0] - 0.3e-4
    assert max_diff(mlp_numerical_gradient(spec, x, t), naive_gradient(spec, x, t)) <= 1e-8


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(activations=["tanh"]), r"activations: expected one of"),
        (dict(activations=[]), r"activations: expected 1"),
        (dict(loss="mse"), r"loss: expected one of"),
    ],
)
def test_bad_spec(kwargs, match):
    args = dict(
        weights=[np.zeros((3, 2)), np.zeros((2, 2))], biases=[np.zeros(2), np.zeros(2)], activations=["relu"]
    )
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        MLPSpec(**args)


def test_bad_inputs():
    spec = make_spec([4, 3, 2], ["relu"])
    x, t = make_batch(3, 4, 2)
    with pytest.raises(ValueError, match=r"x: expected \(N, 4\), got \(3, 5\)"):
        mlp_numerical_gradient(spec, np.zeros((3, 5)), t)
    with pytest.raises(ValueError, match=r"t: expected labels in \[0, 2\), got 2 at index 1"):
        mlp_numerical_gradient(spec, x, np.array([0, 2, 1]))
    with pytest.raises(ValueError, match=r"t: .*soft targets"):
        mlp_numerical_gradient(spec, x, np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match=r"h: expected a positive step"):
        mlp_numerical_gradient(spec, x, t, h=-1.0)


# --- the series form of sum_c p_c expm1(dz_c) ----------------------------------------------------


def test_series_length_grows_with_the_step_and_gives_up_when_long():
    from scratchnet.fastgrad import _series_terms

    assert _series_terms(0.0) == 1
    lengths = [_series_terms(z) for z in (1e-6, 1e-4, 1e-2, 1e-1)]
    assert lengths == sorted(lengths) and lengths[0] >= 2
    assert _series_terms(1.0) is None  # 20 terms would be needed: expm1 is evaluated instead


def test_series_and_expm1_forms_agree_to_rounding(monkeypatch):
    import scratchnet.fastgrad as fastgrad

    monkeypatch.setattr(fastgrad, "_step_terms", lambda *args: None)  # the per-input routes
    spec = make_spec([30, 12, 5], ["sigmoid"], scale=0.5)
    x, t = make_batch(20, 30, 5)
    calls = []
    real = fastgrad._series_moments
    monkeypatch.setattr(fastgrad, "_series_moments", lambda *args: calls.append(real(*args)) or calls[-1])
    with_series = mlp_numerical_gradient(spec, x, t)
    assert calls and calls[0] is not None  # the series was used
    monkeypatch.setattr(fastgrad, "_series_moments", lambda *args: None)
    with_expm1 = mlp_numerical_gradient(spec, x, t)
    assert max_diff(with_series, with_expm1) <= 1e-13


@pytest.mark.parametrize("loss", ["fused", "textbook"])
def test_large_steps_fall_back_to_expm1_and_still_agree(loss):
    # inputs of 1e3 with h = 1e-4 move the logits by up to ~0.1 * |W|: too far for a short series
    spec = make_spec([6, 4, 3], ["relu"], loss=loss, scale=2.0)
    x, t = make_batch(5, 6, 3)
    x *= 1e3
    fast = mlp_numerical_gradient(spec, x, t)
    scale = max(1.0, max(np.abs(g).max() for g, _ in fast))
    assert max_diff(fast, naive_gradient(spec, x, t)) <= 1e-8 * scale


def test_it_is_the_finite_difference_not_the_derivative():
    # With a coarse h the central difference is far from the derivative; the fast path must follow
    # the loop there, truncation error and all, not backprop.
    spec = make_spec([6, 4], [])
    x, t = make_batch(8, 6, 4)
    h = 0.05
    (dW, db), = mlp_numerical_gradient(spec, x, t, h=h)
    (lW, lb), = naive_gradient(spec, x, t, h=h)
    z = x @ spec.weights[0] + spec.biases[0]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    exact = x.T @ ((p - np.eye(4)[t]) / 8)
    assert np.abs(dW - lW).max() <= 1e-10
    assert np.abs(dW - exact).max() >= 1e-5
    spec2 = make_spec([8, 5, 3], ["sigmoid"])
    x2, t2 = make_batch(6, 8, 3)
    fast = mlp_numerical_gradient(spec2, x2, t2, h=h)
    assert max_diff(fast, naive_gradient(spec2, x2, t2, h=h)) <= 1e-10


# --- deeper ReLU stacks: the rank-1 gain through layers whose ReLUs keep their side ----------------


def test_relu_kink_crossed_above_the_perturbed_layer_is_evaluated_densely():
    import scratchnet.fastgrad as fastgrad

    spec = make_spec([6, 5, 4, 3], ["relu", "relu"])
    x, t = make_batch(4, 6, 3, zeros=0.0)
    # put a second-layer pre-activation of sample 1 within one step's reach of zero
    a1 = np.maximum(x @ spec.weights[0] + spec.biases[0], 0.0)
    a2 = a1 @ spec.weights[1] + spec.biases[1]
    spec.biases[1][2] -= a2[1, 2] - 1e-6
    W64, b64, x64, labels = fastgrad._prepare(spec, x, t)
    fw = fastgrad._forward(spec, W64, b64, x64, labels)
    gain = fastgrad._linear_gain(spec, W64, fw, 0, 1e-4)
    assert gain is not None and gain.T.shape == (4, 3, 5)
    assert gain.unsafe.tolist() == [False, True, False, False]
    assert max_diff(mlp_numerical_gradient(spec, x, t), naive_gradient(spec, x, t)) <= 1e-8


def test_a_sigmoid_above_takes_the_dense_path():
    import scratchnet.fastgrad as fastgrad

    spec = make_spec([6, 5, 4, 3], ["relu", "sigmoid"])
    x, t = make_batch(4, 6, 3)
    W64, b64, x64, labels = fastgrad._prepare(spec, x, t)
    fw = fastgrad._forward(spec, W64, b64, x64, labels)
    assert fastgrad._linear_gain(spec, W64, fw, 0, 1e-4) is None
    assert fastgrad._linear_gain(spec, W64, fw, 1, 1e-4).T.shape == (3, 4)  # just below the logits


def test_cached_input_structure_gives_the_same_arrays_and_the_same_gradient():
    import scratchnet.fastgrad as fastgrad

    cache = fastgrad._InputCache(limit=12)
    x, t = make_batch(9, 8, 3, zeros=0.6)
    x[2] = x[4]  # a repeated image
    x[1, :3] = 0.25
    for batch in (x, x[::-1], x):  # the second and third calls hit the cache
        for a, b in zip(cache.distinct_inputs(batch), fastgrad._distinct_inputs(batch)):
            assert a.dtype.kind == b.dtype.kind and np.array_equal(a, b)
    changed = x.copy()
    changed[3, changed[3] != 0] *= 2.0  # same non-zeros, other values: must not be taken for row 3
    cache._rows = {k: v for k, v in cache._rows.items()}  # keep the entries, then forge a collision
    key = next(k for k in cache._rows if k[1] == hash(x[3].tobytes()))
    cache._rows[(8, hash(changed[3].tobytes()))] = cache._rows[key]
    for a, b in zip(cache.distinct_inputs(changed), fastgrad._distinct_inputs(changed)):
        assert np.array_equal(a, b)
    assert len(cache._rows) <= 12
    spec = make_spec([8, 5, 3], ["sigmoid"])
    plain = mlp_numerical_gradient(spec, x, t)
    assert max_diff(plain, mlp_numerical_gradient(spec, x, t, cache_inputs=True)) == 0.0
    assert max_diff(plain, mlp_numerical_gradient(spec, x, t, cache_inputs=True)) == 0.0


# --- the step series: each sample's loss change as a power series in the step --------------------


def _per_input_routes(monkeypatch):
    import scratchnet.fastgrad as fastgrad

    monkeypatch.setattr(fastgrad, "_step_terms", lambda *args: None)


def _series_layers(monkeypatch):
    """Record the layers the step series took (a spy on _series_layer_delta)."""
    import scratchnet.fastgrad as fastgrad

    taken, real = [], fastgrad._series_layer_delta

    def spy(spec, W64, fw, layer, *args):
        found = real(spec, W64, fw, layer, *args)
        if found is not None:
            taken.append(layer)
        return found

    monkeypatch.setattr(fastgrad, "_series_layer_delta", spy)
    return taken


def test_step_series_length_grows_with_the_reach_and_gives_up_when_long():
    from scratchnet.fastgrad import _step_terms

    for loss in ("fused", "textbook"):
        lengths = [_step_terms(loss, r, 0.5) for r in (1e-8, 1e-6, 1e-4, 1e-2)]
        assert lengths == sorted(lengths) and lengths[0] >= 1
        assert _step_terms(loss, 1e-4, 3.0) >= _step_terms(loss, 1e-4, 0.5)  # a wider gain: a smaller disk
        assert _step_terms(loss, 0.5, 1.0) is None  # past the disk the bound holds on: per-input routes
    assert _step_terms("fused", 1e-4, 0.0) == 1  # nothing moves the loss
    assert _step_terms("fused", 1e-4, np.inf) is None and _step_terms("fused", np.inf, 1.0) is None


@pytest.mark.parametrize("loss", ["fused", "textbook"])
@pytest.mark.parametrize(
    "sizes, activations",
    [
        ([6, 4], []),
        ([30, 12, 5], ["sigmoid"]),
        ([30, 12, 5], ["relu"]),
        ([20, 8, 6, 4], ["relu", "identity"]),
    ],
)
def test_step_series_agrees_with_the_per_input_routes_to_rounding(monkeypatch, sizes, activations, loss):
    spec = make_spec(sizes, activations, loss, scale=0.5)
    x, t = make_batch(20, sizes[0], sizes[-1], zeros=0.6)
    x = np.abs(x) / np.abs(x).max()  # inputs in [0, 1], as MNIST's
    taken = _series_layers(monkeypatch)
    series = mlp_numerical_gradient(spec, x, t)
    assert taken == list(range(len(sizes) - 1))  # every layer by the series
    _per_input_routes(monkeypatch)
    per_input = mlp_numerical_gradient(spec, x, t)
    assert max_diff(series, per_input) <= 1e-13
    assert max_diff(series, naive_gradient(spec, x, t)) <= 1e-8


@pytest.mark.parametrize("loss", ["fused", "textbook"])
def test_step_series_is_the_finite_difference_not_the_derivative(monkeypatch, loss):
    # h = 0.01 on inputs in [0, 1]: the series (up to e**16) still converges, and the central
    # difference is 1e-6 away from the derivative. The series must follow the loop, not backprop.
    spec = make_spec([10, 6, 4], ["sigmoid"], loss, scale=0.3)
    x, t = make_batch(12, 10, 4, zeros=0.3)
    x = np.abs(x) / np.abs(x).max()
    h = 0.01
    taken = _series_layers(monkeypatch)
    fast = mlp_numerical_gradient(spec, x, t, h=h)
    assert taken == [0, 1]
    loop = naive_gradient(spec, x, t, h=h)
    tiny = naive_gradient(spec, x, t, h=1e-5)  # close to the derivative
    assert max_diff(fast, loop) <= 1e-11
    assert max_diff(fast, tiny) >= 1e-6


def test_step_series_leaves_samples_near_a_relu_kink_to_the_exact_route(monkeypatch):
    import scratchnet.fastgrad as fastgrad

    spec = make_spec([6, 5, 4, 3], ["relu", "relu"])
    x, t = make_batch(5, 6, 3, zeros=0.0)
    a1 = x @ spec.weights[0] + spec.biases[0]
    spec.biases[0][1] -= a1[2, 1] - 0.5e-4  # a first-layer unit of sample 2 within h|x| of the kink
    exact, real = [], fastgrad._hidden_layer_delta
    monkeypatch.setattr(fastgrad, "_hidden_layer_delta",
                        lambda *a, **k: exact.append((a[3], k["samples"].tolist())) or real(*a, **k))
    fast = mlp_numerical_gradient(spec, x, t)
    assert (0, [2]) in exact
    assert max_diff(fast, naive_gradient(spec, x, t)) <= 1e-8


def test_blas_threads_reuses_one_controller_and_puts_the_count_back():
    # the fast path enters blas_threads(1) at every call: it must not rescan the loaded libraries
    from threadpoolctl import threadpool_info

    from scratchnet import util

    def counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = counts()
    with util.blas_threads(1):
        assert set(counts()) <= {1}
        first = util._CONTROLLER[0]
    with util.blas_threads(1):
        assert util._CONTROLLER[0] is first
    assert counts() == before
