"""Chapter 7: train SimpleConvNet on MNIST with Adam through the Trainer; save its parameters."""
import os

import matplotlib.pyplot as plt
import numpy as np
from ch07_simple_convnet import SimpleConvNet

from dataset.mnist import load_mnist
from scratchnet.trainer import Trainer

QUICK = os.environ.get("BOOK_SCRIPT_QUICK") == "1"
np.random.seed(0)

(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)

if QUICK:  # the book suggests shrinking the data when training takes too long
    x_train, t_train = x_train[:500], t_train[:500]
    x_test, t_test = x_test[:100], t_test[:100]

max_epochs = 1 if QUICK else 20

network = SimpleConvNet(input_dim=(1, 28, 28),
                        conv_param={"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1},
                        hidden_size=100, output_size=10, weight_init_std=0.01)

trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=max_epochs, mini_batch_size=100,
                  optimizer="Adam", optimizer_param={"lr": 0.001},
                  evaluate_sample_num_per_epoch=1000)
trainer.train()

network.save_params("params.npz")
print("Saved Network Parameters!")
print("test acc:" + str(network.accuracy(x_test, t_test)))

markers = {"train": "o", "test": "s"}
x = np.arange(len(trainer.train_acc_list))
plt.plot(x, trainer.train_acc_list, marker="o", label="train", markevery=2)
plt.plot(x, trainer.test_acc_list, marker="s", label="test", markevery=2)
plt.xlabel("epochs")
plt.ylabel("accuracy")
plt.ylim(0, 1.0)
plt.legend(loc="lower right")
plt.savefig("train_convnet.png")
