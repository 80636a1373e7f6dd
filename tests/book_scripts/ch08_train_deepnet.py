"""Chapter 8: train DeepConvNet with Adam through the Trainer and save its parameters."""
import os

import numpy as np
from ch08_deep_convnet import DeepConvNet

from dataset.mnist import load_mnist
from scratchnet.trainer import Trainer

QUICK = os.environ.get("BOOK_SCRIPT_QUICK") == "1"
np.random.seed(0)

(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
if QUICK:
    x_train, t_train = x_train[:200], t_train[:200]
    x_test, t_test = x_test[:100], t_test[:100]

network = DeepConvNet()
trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=1 if QUICK else 20, mini_batch_size=100,
                  optimizer="Adam", optimizer_param={"lr": 0.001},
                  evaluate_sample_num_per_epoch=1000)
trainer.train()

network.save_params("deep_convnet_params.npz")
print("Saved Network Parameters!")
print("test acc:" + str(network.accuracy(x_test, t_test)))
