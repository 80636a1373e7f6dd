"""Tests for scratchnet.optimizers: update rules against hand-written references, state, registry."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scratchnet.optimizers import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    Momentum,
    Nesterov,
    Optimizer,
    RMSProp,
    get_optimizer,
)

ALL = [SGD, Momentum, Nesterov, AdaGrad, RMSProp, Adam]


def make_params(rng, dtype=np.float64):
    return {
        "W1": rng.standard_normal((4, 3)).astype(dtype),
        "b1": rng.standard_normal(3).astype(dtype),
        "W2": rng.standard_normal((3, 2)).astype(dtype),
    }


def grad_stream(rng, params, n):
    return [{k: rng.standard_normal(v.shape).astype(v.dtype) for k, v in params.items()} for _ in range(n)]


# Hand-written references, one parameter array at a time, straight from each rule's formula.

def ref_sgd(w, gs, lr=0.01):
    w = w.copy()
    for g in gs:
        w = w - lr * g
    return w


def ref_momentum(w, gs, lr=0.01, momentum=0.9):
    w, v = w.copy(), np.zeros_like(w)
    for g in gs:
        v = momentum * v - lr * g
        w = w + v
    return w


def ref_nesterov(w, gs, lr=0.01, momentum=0.9):
    w, v = w.copy(), np.zeros_like(w)
    for g in gs:
        v_prev = v
        v = momentum * v - lr * g
        w = w - momentum * v_prev + (1 + momentum) * v
    return w


def ref_adagrad(w, gs, lr=0.01, eps=1e-7):
    w, h = w.copy(), np.zeros_like(w)
    for g in gs:
        h = h + g**2
        w = w - lr * g / (np.sqrt(h) + eps)
    return w


def ref_rmsprop(w, gs, lr=0.01, decay_rate=0.99, eps=1e-7):
    w, h = w.copy(), np.zeros_like(w)
    for g in gs:
        h = decay_rate * h + (1 - decay_rate) * g**2
        w = w - lr * g / (np.sqrt(h) + eps)
    return w


def ref_adam(w, gs, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
    w, m, v = w.copy(), np.zeros_like(w), np.zeros_like(w)
    for t, g in enumerate(gs, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        w = w - lr * math.sqrt(1 - beta2**t) / (1 - beta1**t) * m / (np.sqrt(v) + eps)
    return w


REFS = {SGD: ref_sgd, Momentum: ref_momentum, Nesterov: ref_nesterov, AdaGrad: ref_adagrad,
        RMSProp: ref_rmsprop, Adam: ref_adam}

# Non-default settings, to show the hyperparameters are really used.
CUSTOM = {SGD: {"lr": 0.3}, Momentum: {"lr": 0.05, "momentum": 0.5}, Nesterov: {"lr": 0.05, "momentum": 0.7},
          AdaGrad: {"lr": 0.2, "eps": 1e-3}, RMSProp: {"lr": 0.02, "decay_rate": 0.9, "eps": 1e-4},
          Adam: {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-5}}


@pytest.mark.parametrize("kwargs_kind", ["default", "custom"])
@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_update_matches_reference(cls, kwargs_kind):
    rng = np.random.default_rng(0)
    params = make_params(rng)
    start = {k: v.copy() for k, v in params.items()}
    grads = grad_stream(rng, params, 5)
    kwargs = CUSTOM[cls] if kwargs_kind == "custom" else {}
    opt = cls(**kwargs)
    for g in grads:
        opt.update(params, g)
    assert opt.t == 5
    for k in params:
        expected = REFS[cls](start[k], [g[k] for g in grads], **kwargs)
        np.testing.assert_allclose(params[k], expected, rtol=1e-12, atol=1e-15)
        assert not np.array_equal(params[k], start[k])


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_update_is_in_place_and_keeps_dtype(cls):
    rng = np.random.default_rng(1)
    params = make_params(rng, np.float32)
    ids = {k: id(v) for k, v in params.items()}
    views = dict(params)  # the layers hold these same objects
    opt = cls()
    for g in grad_stream(rng, params, 3):
        opt.update(params, g)
    for k, v in params.items():
        assert id(v) == ids[k] and v is views[k]
        assert v.dtype == np.float32
    for arrays in opt.state.values():
        assert all(a.dtype == np.float32 for a in arrays.values())


def test_nesterov_equals_the_look_ahead_definition():
    # Nesterov's method evaluates the gradient at theta + momentum * v; our form stores that
    # look-ahead point as the parameter. On a quadratic both must visit the same points.
    rng = np.random.default_rng(2)
    a = rng.standard_normal((5, 5))
    a = a @ a.T + np.eye(5)
    theta = rng.standard_normal(5)
    v = np.zeros(5)
    lr, mu = 0.02, 0.9
    params = {"w": theta.copy()}
    opt = Nesterov(lr=lr, momentum=mu)
    for _ in range(20):
        v = mu * v - lr * (a @ (theta + mu * v))
        theta = theta + v
        opt.update(params, {"w": a @ params["w"]})
        np.testing.assert_allclose(params["w"], theta + mu * v, rtol=1e-10, atol=1e-12)


def test_sgd_on_a_quadratic_reaches_the_minimum():
    params = {"x": np.array([-3.0, 4.0])}
    opt = SGD(lr=0.1)
    for _ in range(100):
        opt.update(params, {"x": 2 * params["x"]})
    np.testing.assert_allclose(params["x"], 0.0, atol=1e-8)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_state_dict_round_trip_continues_identically(cls, tmp_path):
    rng = np.random.default_rng(3)
    params = make_params(rng)
    grads = grad_stream(rng, params, 6)
    opt = cls(**CUSTOM[cls])
    for g in grads[:3]:
        opt.update(params, g)
    saved_params = {k: v.copy() for k, v in params.items()}
    np.savez(tmp_path / "opt.npz", **opt.state_dict())
    for g in grads[3:]:
        opt.update(params, g)

    with np.load(tmp_path / "opt.npz", allow_pickle=False) as f:
        loaded = dict(f)
    fresh = cls()  # default hyperparameters: load_state_dict must restore the saved ones
    fresh.load_state_dict(loaded)
    assert repr(fresh) == repr(opt)
    assert fresh.t == 3
    for g in grads[3:]:
        fresh.update(saved_params, g)
    for k in params:
        assert np.array_equal(saved_params[k], params[k])


def test_state_dict_is_a_copy_and_flat():
    params = {"W": np.ones((2, 2))}
    opt = Adam()
    opt.update(params, {"W": np.ones((2, 2))})
    d = opt.state_dict()
    assert set(d) == {"name", "t", "lr", "beta1", "beta2", "eps", "m.W", "v.W"}
    assert d["name"] == "adam" and d["t"] == 1
    d["m.W"][...] = 123.0
    assert not np.any(opt.state["m"]["W"] == 123.0)


def test_load_state_dict_is_strict():
    opt = Momentum()
    opt.update({"W": np.ones(3)}, {"W": np.ones(3)})
    d = opt.state_dict()
    with pytest.raises(ValueError, match=r"unexpected keys \['x.W'\]"):
        Momentum().load_state_dict({**d, "x.W": np.ones(3)})
    with pytest.raises(ValueError, match=r"missing keys \['momentum'\]"):
        Momentum().load_state_dict({k: v for k, v in d.items() if k != "momentum"})
    with pytest.raises(ValueError, match="saved by optimizer 'momentum', cannot load into Adam"):
        Adam().load_state_dict(d)
    with pytest.raises(ValueError, match="momentum"):
        Momentum().load_state_dict({**d, "momentum": 1.5})
    fresh = Momentum()
    with pytest.raises(ValueError):
        fresh.load_state_dict({**d, "lr": -1.0})
    assert fresh.lr == 0.01 and fresh.t == 0, "a refused state must leave the optimizer untouched"


def test_loaded_state_must_match_the_params():
    opt = Momentum()
    opt.update({"W": np.ones(3)}, {"W": np.ones(3)})
    other = Momentum()
    other.load_state_dict(opt.state_dict())
    with pytest.raises(ValueError, match=r"state 'v'.*missing \['b'\]"):
        other.update({"W": np.ones(3), "b": np.ones(1)}, {"W": np.ones(3), "b": np.ones(1)})
    with pytest.raises(ValueError, match=r"v.W: has shape \(3,\), but params\['W'\] has shape \(4,\)"):
        other.update({"W": np.ones(4)}, {"W": np.ones(4)})


def test_update_rejects_mismatched_grads():
    opt = SGD()
    params = {"W": np.ones((2, 3)), "b": np.ones(3)}
    with pytest.raises(ValueError, match=r"grads: .*missing \['b'\], unexpected \['c'\]"):
        opt.update(params, {"W": np.ones((2, 3)), "c": np.ones(3)})
    with pytest.raises(ValueError, match=r"grads\['W'\]: expected shape \(2, 3\), got \(3, 2\)"):
        opt.update(params, {"W": np.ones((3, 2)), "b": np.ones(3)})
    with pytest.raises(TypeError, match=r"params\['W'\]: expected a floating NumPy array"):
        opt.update({"W": np.ones(3, dtype=int)}, {"W": np.ones(3)})
    assert opt.t == 0


@pytest.mark.parametrize(
    ("cls", "kwargs", "match"),
    [
        (SGD, {"lr": 0}, "lr: expected a finite number in"),
        (SGD, {"lr": -0.1}, "lr"),
        (SGD, {"lr": float("nan")}, "lr"),
        (SGD, {"lr": "0.1"}, "lr: expected a real number"),
        (SGD, {"lr": True}, "lr: expected a real number"),
        (Momentum, {"momentum": 1.0}, r"momentum: expected a finite number in \[0.0, 1.0\)"),
        (Nesterov, {"momentum": -0.1}, "momentum"),
        (AdaGrad, {"eps": 0.0}, "eps"),
        (RMSProp, {"decay_rate": 1.0}, "decay_rate"),
        (Adam, {"beta1": 1.0}, "beta1"),
        (Adam, {"beta2": -1e-3}, "beta2"),
    ],
)
def test_bad_hyperparameters(cls, kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        cls(**kwargs)


def test_registry_is_built_from_the_classes():
    assert set(OPTIMIZERS) == {"sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"}
    for name, cls in OPTIMIZERS.items():
        assert cls.__name__.lower() == name and issubclass(cls, Optimizer)
    opt = get_optimizer("Adam", lr=0.01)
    assert isinstance(opt, Adam) and opt.lr == 0.01
    assert isinstance(get_optimizer("RMSprop"), RMSProp)  # the textbook's spelling
    assert repr(get_optimizer("sgd", lr=0.5)) == "SGD(lr=0.5)"
    with pytest.raises(TypeError):
        OPTIMIZERS["mine"] = SGD  # read-only view


def test_get_optimizer_errors():
    with pytest.raises(ValueError, match=r"unknown name 'adamw'; known: adagrad, adam, momentum, nesterov, "
                                         r"rmsprop, sgd"):
        get_optimizer("adamw")
    with pytest.raises(TypeError, match="name: expected an optimizer name"):
        get_optimizer(SGD)
    with pytest.raises(TypeError):
        get_optimizer("sgd", momentum=0.9)  # SGD has no momentum


def test_subclass_registration_and_opt_out():
    class Halver(Optimizer, register=False):
        def __init__(self, lr: float = 0.5):
            super().__init__(lr)

        def _step(self, p, g, slots, tmp):
            p *= self.lr

    assert "halver" not in OPTIMIZERS
    params = {"w": np.array([4.0])}
    Halver().update(params, {"w": np.array([0.0])})
    assert params["w"][0] == 2.0
    with pytest.raises(TypeError, match="'adam' is already registered"):
        type("Adam", (Optimizer,), {})
    assert OPTIMIZERS["adam"] is Adam


def test_config_names_the_optimizer_and_its_settings_and_rebuilds_it():
    from scratchnet import get_optimizer

    opt = get_optimizer("adam", lr=0.01, beta1=0.8)
    config = opt.config()
    assert config == {"name": "adam", "lr": 0.01, "beta1": 0.8, "beta2": 0.999, "eps": 1e-7}
    again = get_optimizer(**config)
    assert again.config() == config and again.t == 0
