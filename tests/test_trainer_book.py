"""The book's Trainer call: Trainer(network, x_train, t_train, x_test, t_test, epochs, mini_batch_size,
optimizer, optimizer_param, evaluate_sample_num_per_epoch, verbose), on a student's own network."""

from __future__ import annotations

import os

import numpy as np
import pytest

from scratchnet.network import TwoLayerNet
from scratchnet.trainer import Trainer


class StudentNet:
    """A two-layer net as a student writes it from the book: params, gradient, loss, accuracy only."""

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        self.params = {
            "W1": weight_init_std * np.random.randn(input_size, hidden_size),
            "b1": np.zeros(hidden_size),
            "W2": weight_init_std * np.random.randn(hidden_size, output_size),
            "b2": np.zeros(output_size),
        }

    def _forward(self, x):
        h = 1 / (1 + np.exp(-(x @ self.params["W1"] + self.params["b1"])))
        z = h @ self.params["W2"] + self.params["b2"]
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return h, e / e.sum(axis=1, keepdims=True)

    def loss(self, x, t):
        _, y = self._forward(x)
        return -np.sum(np.log(y[np.arange(len(t)), t] + 1e-7)) / len(t)

    def accuracy(self, x, t):
        _, y = self._forward(x)
        return np.sum(np.argmax(y, axis=1) == t) / float(x.shape[0])

    def gradient(self, x, t):
        h, y = self._forward(x)
        dz = y.copy()
        dz[np.arange(len(t)), t] -= 1
        dz /= len(t)
        dh = (dz @ self.params["W2"].T) * h * (1 - h)
        return {"W1": x.T @ dh, "b1": dh.sum(axis=0), "W2": h.T @ dz, "b2": dz.sum(axis=0)}


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(3)
    centers = 2.0 * rng.standard_normal((3, 6))
    t = rng.integers(0, 3, size=450)
    x = centers[t] + rng.standard_normal((450, 6))
    return x[:300], t[:300], x[300:], t[300:]


def book_reference(blobs, epochs, batch_size, lr, sample_num):
    """The loop as the book's Trainer documents it, written out with plain SGD."""
    x, t, xt, tt = blobs
    net = StudentNet(6, 5, 3)
    per_epoch = max(len(x) / batch_size, 1)
    losses, train_acc, test_acc = [], [], []
    for i in range(int(epochs * per_epoch)):
        mask = np.random.choice(len(x), batch_size)
        grads = net.gradient(x[mask], t[mask])
        for k in net.params:
            net.params[k] -= lr * grads[k]
        losses.append(net.loss(x[mask], t[mask]))
        if i % per_epoch == 0:
            n = sample_num
            train_acc.append(net.accuracy(x[:n], t[:n]))
            test_acc.append(net.accuracy(xt[:n], tt[:n]))
    return net, losses, train_acc, test_acc


def test_the_book_call_gives_the_book_loop_bit_for_bit(blobs, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    np.random.seed(7)
    ref_net, ref_loss, ref_train, ref_test = book_reference(blobs, 2.5, 40, 0.5, 100)

    np.random.seed(7)
    net = StudentNet(6, 5, 3)
    trainer = Trainer(net, *blobs, 2.5, 40, "sgd", {"lr": 0.5}, 100, False)
    trainer.train()
    assert trainer.max_iter == 18 and trainer.iter_per_epoch == 7.5  # int(2.5 * 300 / 40)
    assert trainer.train_loss_list == ref_loss
    assert trainer.train_acc_list == ref_train and trainer.test_acc_list == ref_test
    assert len(trainer.test_acc_list) == 2  # after iterations 0 and 15, the multiples of 7.5 below 18
    for k in net.params:
        assert np.array_equal(net.params[k], ref_net.params[k])
    assert os.listdir(tmp_path) == []  # built the book's way: no files
    assert capsys.readouterr().out == ""


def test_same_global_seed_same_lists_and_another_differs(blobs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    lists = []
    for seed in (1, 1, 2):
        np.random.seed(seed)
        tr = Trainer(StudentNet(6, 5, 3), *blobs, epochs=2, mini_batch_size=30, optimizer="Adam",
                     optimizer_param={"lr": 0.01}, verbose=False)
        tr.train()
        lists.append((tr.train_loss_list, tr.train_acc_list, tr.test_acc_list))
    assert lists[0] == lists[1] and lists[0] != lists[2]
    assert len(lists[0][0]) == 20 and len(lists[0][1]) == 2
    assert os.listdir(tmp_path) == []


def test_verbose_prints_in_the_book_format(blobs, capsys):
    np.random.seed(0)
    tr = Trainer(StudentNet(6, 5, 3), *blobs, epochs=1, mini_batch_size=150)
    tr.train()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"train loss:{tr.train_loss_list[0]}"
    assert lines[1] == f"=== epoch:1, train acc:{tr.train_acc_list[0]}, test acc:{tr.test_acc_list[0]} ==="
    assert lines[2] == f"train loss:{tr.train_loss_list[1]}"
    assert lines[-2] == "=============== Final Test Accuracy ==============="
    assert lines[-1].startswith("test acc:") and float(lines[-1][9:]) == tr.final_test_acc


@pytest.mark.parametrize("name", ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "adam"])
def test_book_optimizer_names(blobs, name):
    np.random.seed(0)
    tr = Trainer(StudentNet(6, 5, 3), *blobs, 1, 100, name, {"lr": 0.01}, None, False)
    tr.train()
    assert len(tr.train_loss_list) == 3 and np.isfinite(tr.train_loss_list).all()


def test_a_scratchnet_network_the_book_way_and_our_features_when_asked(blobs, tmp_path):
    net = TwoLayerNet(6, 5, 3, seed=0)
    tr = Trainer(net, *blobs, 1, 50, "SGD", {"lr": 0.1}, None, False, seed=4, run_dir=tmp_path / "run")
    res = tr.fit()
    assert tr.book_style and res.step == 6 and len(tr.test_acc_list) == 1
    assert (tmp_path / "run" / "history.json").is_file() and (tmp_path / "run" / "loss.csv").is_file()
    again = Trainer(TwoLayerNet(6, 5, 3, seed=0), *blobs, 1, 50, "SGD", {"lr": 0.1}, None, False, seed=4)
    again.train()
    assert again.train_loss_list == tr.train_loss_list


def test_book_arguments_are_checked(blobs):
    class OnlyParams:
        params = {"W": np.zeros(2)}

    with pytest.raises(TypeError, match=r"network: expected an object with .gradient"):
        Trainer(OnlyParams(), *blobs, 1, 10)
    with pytest.raises(ValueError, match="batch_size, mini_batch_size: give one of them"):
        Trainer(StudentNet(6, 5, 3), *blobs, 1, 10, batch_size=10)
    with pytest.raises(ValueError, match="epochs: expected a positive number"):
        Trainer(StudentNet(6, 5, 3), *blobs, -1.0, 10)
    with pytest.raises(ValueError, match="optimizer: unknown name 'rmsprpo'"):
        Trainer(StudentNet(6, 5, 3), *blobs, 1, 10, "rmsprpo")
