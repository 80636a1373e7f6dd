"""The textbook's training loop, for a Trainer built the book's way (see docs/training.md).

Per step: ``np.random.choice(train_size, batch_size)`` (or the trainer's Generator when a seed was
given), ``network.gradient``, the optimiser's update, then ``network.loss`` of the same batch;
every ``iter_per_epoch = max(train_size / batch_size, 1)`` steps (counted from the first), the
accuracy on the first ``evaluate_sample_num_per_epoch`` samples (or all); at the end, the test
accuracy on the whole test set. ``verbose`` prints in the book's format to stdout.
"""

from __future__ import annotations

import numpy as np

#: What a student's network needs, as the book's networks have it.
CONTRACT = ("params", "gradient", "loss", "accuracy")


def gradient_source(grad: str, network):
    """``f(network, x, t) -> grads`` for ``grad="backprop"`` (``gradient``) or ``"numerical"``."""
    if grad == "backprop":
        return lambda net, x, t: net.gradient(x, t)
    if grad == "numerical":
        if not hasattr(network, "numerical_gradient"):
            raise TypeError(f"network: grad='numerical' needs .numerical_gradient, which "
                            f"{type(network).__name__} lacks")
        return lambda net, x, t: net.numerical_gradient(x, t)
    raise ValueError(f"grad: expected 'backprop', 'numerical' or a callable for the book's loop, "
                     f"got {grad!r}")


def _evaluate(tr, elapsed: float) -> dict[str, float]:
    n = tr.evaluate_sample_num_per_epoch
    x, t, xt, tt = tr.x_train, tr.t_train, tr.x_test, tr.t_test
    if n is not None:
        x, t, xt, tt = x[:n], t[:n], xt[:n], tt[:n]
    tr.current_epoch += 1
    record = {"step": tr.step, "epoch": tr.current_epoch, "train_acc": float(tr.network.accuracy(x, t)),
              "test_acc": float(tr.network.accuracy(xt, tt)), "elapsed_s": elapsed}
    tr.evals.append(record)
    if tr.verbose:
        print(f"=== epoch:{tr.current_epoch}, train acc:{record['train_acc']}, "
              f"test acc:{record['test_acc']} ===")
    return record


def run(tr, stop, progress, elapsed) -> str:
    """Train ``tr`` (a Trainer) the book's way; "finished" or "interrupted" (Ctrl-C)."""
    net, n, b = tr.network, tr.train_size, tr.batch_size
    while tr.step < tr.total_steps:
        if stop.requested:
            return "interrupted"
        idx = np.random.choice(n, b) if tr.rng is None else tr.rng.integers(0, n, size=b)
        xb, tb = tr.x_train[idx], tr.t_train[idx]
        grads = tr._grad_fn(net, xb, tb)
        if isinstance(grads, tuple):  # a callable of scratchnet's form, (loss, grads)
            grads = grads[1]
        tr.optimizer.update(net.params, grads)
        loss = float(net.loss(xb, tb))  # after the update, as the book records it
        tr.step += 1
        tr.losses.append(loss)
        if tr.verbose:
            print("train loss:" + str(loss))
        progress.step(loss, tr.evals[-1] if tr.evals else None)
        if (tr.step - 1) % tr.steps_per_epoch == 0:
            progress.evaluated(_evaluate(tr, elapsed()), loss)
        if tr.callback is not None:
            tr.callback(tr.step, loss)
    tr.final_test_acc = float(net.accuracy(tr.x_test, tr.t_test))
    if tr.verbose:
        print("=============== Final Test Accuracy ===============")
        print("test acc:" + str(tr.final_test_acc))
    return "finished"


class BookNames:
    """The book's Trainer interface, over a Trainer's ``losses`` and ``evals``."""

    def train(self) -> None:
        """The book's spelling of ``fit()``: train, filling the three lists below."""
        self.fit()

    @property
    def iter_per_epoch(self) -> float:
        """Steps per epoch (the book's name)."""
        return self.steps_per_epoch

    @property
    def max_iter(self) -> int:
        """Steps in all (the book's name)."""
        return self.total_steps

    @property
    def train_loss_list(self) -> list[float]:
        """The loss of every step."""
        return self.losses

    @property
    def train_acc_list(self) -> list[float]:
        """The train accuracy of every evaluation."""
        return [e["train_acc"] for e in self.evals]

    @property
    def test_acc_list(self) -> list[float]:
        """The test accuracy of every evaluation."""
        return [e["test_acc"] for e in self.evals]
