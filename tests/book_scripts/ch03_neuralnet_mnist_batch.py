"""Chapter 3: the same inference as ch03_neuralnet_mnist.py, 100 images per forward pass."""
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
    z1 = sigmoid(np.dot(x, W1) + b1)
    z2 = sigmoid(np.dot(z1, W2) + b2)
    return softmax(np.dot(z2, W3) + b3)


x, t = get_data()
if QUICK:
    x, t = x[:2000], t[:2000]
network = init_network()

batch_size = 100
accuracy_cnt = 0
for i in range(0, len(x), batch_size):
    x_batch = x[i:i + batch_size]
    y_batch = predict(network, x_batch)
    p = np.argmax(y_batch, axis=1)
    accuracy_cnt += np.sum(p == t[i:i + batch_size])

print("Accuracy:" + str(float(accuracy_cnt) / len(x)))
