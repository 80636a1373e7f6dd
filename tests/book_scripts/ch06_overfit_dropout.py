"""Chapter 6: the same 7-layer network on 300 images, with dropout (ratio 0.2), trained by the Trainer."""
import os

import matplotlib.pyplot as plt
import numpy as np

from dataset.mnist import load_mnist
from scratchnet.multi_layer_net_extend import MultiLayerNetExtend
from scratchnet.trainer import Trainer

QUICK = os.environ.get("BOOK_SCRIPT_QUICK") == "1"
np.random.seed(0)

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)

# fewer training samples, to overfit
x_train = x_train[:300]
t_train = t_train[:300]

# dropout or not, and its ratio ========================
use_dropout = True
dropout_ratio = 0.2
# ====================================================

network = MultiLayerNetExtend(input_size=784, hidden_size_list=[100, 100, 100, 100, 100, 100],
                              output_size=10, use_dropout=use_dropout, dropout_ration=dropout_ratio)
trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=3 if QUICK else 301, mini_batch_size=100,
                  optimizer="sgd", optimizer_param={"lr": 0.01}, verbose=True)
trainer.train()

train_acc_list, test_acc_list = trainer.train_acc_list, trainer.test_acc_list
print("final train acc:" + str(train_acc_list[-1]) + ", test acc:" + str(test_acc_list[-1]))

x = np.arange(len(train_acc_list))
plt.plot(x, train_acc_list, marker="o", label="train", markevery=10)
plt.plot(x, test_acc_list, marker="s", label="test", markevery=10)
plt.xlabel("epochs")
plt.ylabel("accuracy")
plt.ylim(0, 1.0)
plt.legend(loc="lower right")
plt.savefig("overfit_dropout.png")
