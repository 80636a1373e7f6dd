"""The textbook's experiments, chapters 3-8: one module per experiment, each also a script.

This folder, scripts/textbook/, is installed as the package ``scratchnet_book`` (see pyproject.toml),
so ``python scripts/textbook/ch04_train.py`` and ``from scratchnet_book import ch04_train`` run the same
code, with no ``sys.path`` patching. Each experiment module has ``NAME``, ``run(ctx) -> Report`` and
``main(argv=None) -> int``; they import what they share from :mod:`scratchnet_book.experiment` (flags,
checks, tolerances), :mod:`scratchnet_book.outputs` (files, figures) and
:mod:`scratchnet_book.training` (MNIST, training runs, chapter 6 set-ups, the conv nets' training)
and :mod:`scratchnet_book.weights` (the shipped trained weights), never from each other.
:mod:`scratchnet_book.runner` runs them one after the other or as tasks on Dask workers.
"""

#: The experiments in the book's order (modules of this package).
EXPERIMENTS = (
    "ch03_forward",
    "ch03_mnist_inference",
    "ch04_loss_functions",
    "ch04_numerical_diff",
    "ch04_gradient_descent",
    "ch04_simplenet",
    "ch04_train",
    "ch05_gradient_check",
    "ch05_train_relu",
    "ch06_optimizer_paths",
    "ch06_optimizer_mnist",
    "ch06_weight_init",
    "ch06_activation_histograms",
    "ch06_batchnorm",
    "ch06_overfit_weight_decay",
    "ch06_dropout",
    "ch06_hyperparameter_search",
    "ch07_train_convnet",
    "ch07_filters",
    "ch07_apply_filter",
    "ch07_gradient_check",
    "ch08_train_deepnet",
    "ch08_misclassified_mnist",
    "ch08_half_float_network",
)
