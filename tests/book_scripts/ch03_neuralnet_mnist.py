"""Chapter 3: classify the MNIST test set one image at a time with a 784-50-100-10 sigmoid network.

The weights (W1, b1, W2, b2, W3, b3) come from the .npz file named by $BOOK_SAMPLE_WEIGHT.
"""
import os

import numpy as np

from dataset.mnist import load_mnist
from scratchnet.functions import sigmoid, softmax

QUICK = os.environ.get("BOOK_SCRIPT_QUICK") == "1"


def get_data():
    (x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, flatten=True, one_hot_label=False)
    return x_test, t_test


def init_network():
    with np.load(os.environ.get("BOOK_SAMPLE_WEIGHT", "sample_weight.npz"), allow_pickle=False) as f:
        network = {key: f[key] for key in ("W1", "b1", "W2", "b2", "W3", "b3")}
    return network


def predict(network, x):
    W1, W2, W3 = network["W1"], network["W2"], network["W3"]
    b1, b2, b3 = network["b1"], network["b2"], network["b3"]
    a1 = np.dot(x, W1) + b1
    z1 = sigmoid(a1)
    a2 = np.dot(z1, W2) + b2
    z2 = sigmoid(a2)
    a3 = np.dot(z2, W3) + b3
    y = softmax(a3)
    return y


x, t = get_data()
if QUICK:
    x, t = x[:2000], t[:2000]
network = init_network()
accuracy_cnt = 0
for i in range(len(x)):
    y = predict(network, x[i])
    p = np.argmax(y)
    if p == t[i]:
        accuracy_cnt += 1

print("Accuracy:" + str(float(accuracy_cnt) / len(x)))
