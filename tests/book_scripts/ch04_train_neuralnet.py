"""Chapter 4: train the student's TwoLayerNet by mini-batch SGD; print the accuracies once an epoch."""
import os

import numpy as np
from ch04_two_layer_net import TwoLayerNet

from dataset.mnist import load_mnist

QUICK = os.environ.get("BOOK_SCRIPT_QUICK") == "1"
np.random.seed(0)

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
if QUICK:
    x_train, t_train = x_train[:10000], t_train[:10000]

network = TwoLayerNet(input_size=784, hidden_size=50, output_size=10)

iters_num = 600 if QUICK else 10000
train_size = x_train.shape[0]
batch_size = 100
learning_rate = 0.1

train_loss_list = []
train_acc_list = []
test_acc_list = []
iter_per_epoch = max(train_size / batch_size, 1)

for i in range(iters_num):
    batch_mask = np.random.choice(train_size, batch_size)
    x_batch = x_train[batch_mask]
    t_batch = t_train[batch_mask]

    # grad = network.numerical_gradient(x_batch, t_batch)  # the same numbers, thousands of times slower
    grad = network.gradient(x_batch, t_batch)
    for key in ("W1", "b1", "W2", "b2"):
        network.params[key] -= learning_rate * grad[key]

    loss = network.loss(x_batch, t_batch)
    train_loss_list.append(loss)

    if i % iter_per_epoch == 0:
        train_acc = network.accuracy(x_train, t_train)
        test_acc = network.accuracy(x_test, t_test)
        train_acc_list.append(train_acc)
        test_acc_list.append(test_acc)
        print("train acc, test acc | " + str(train_acc) + ", " + str(test_acc))

print("final loss:" + repr(train_loss_list[-1]))
