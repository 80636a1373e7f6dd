"""Chapter 6: histograms of five hidden layers' activations for several weight scales."""
import os

import matplotlib.pyplot as plt
import numpy as np

from scratchnet.functions import relu, sigmoid

QUICK = os.environ.get("BOOK_SCRIPT_QUICK") == "1"
np.random.seed(0)


def tanh(x):
    return np.tanh(x)


input_data = np.random.randn(1000, 100)  # 1000 samples of 100 features
node_num = 100  # nodes in each hidden layer
hidden_layer_size = 5

settings = {
    "sigmoid, std 1": (sigmoid, 1.0),
    "sigmoid, std 0.01": (sigmoid, 0.01),
    "sigmoid, Xavier": (sigmoid, np.sqrt(1.0 / node_num)),
    "relu, std 0.01": (relu, 0.01),
    "relu, He": (relu, np.sqrt(2.0 / node_num)),
    "tanh, Xavier": (tanh, np.sqrt(1.0 / node_num)),
}
if QUICK:
    settings = {k: settings[k] for k in ("sigmoid, std 1", "sigmoid, std 0.01", "sigmoid, Xavier")}

for name, (activation, scale) in settings.items():
    x = input_data
    activations = {}
    for i in range(hidden_layer_size):
        if i != 0:
            x = activations[i - 1]
        w = np.random.randn(node_num, node_num) * scale
        a = np.dot(x, w)
        z = activation(a)
        activations[i] = z

    edges = [float(np.mean((z < 0.01) | (z > 0.99))) for z in activations.values()]
    stds = [float(np.std(z)) for z in activations.values()]
    print(name + " | extreme fraction " + " ".join(f"{e:.4f}" for e in edges)
          + " | std " + " ".join(f"{s:.4f}" for s in stds))

    plt.figure()
    for i, a in activations.items():
        plt.subplot(1, len(activations), i + 1)
        plt.title(str(i + 1) + "-layer")
        if i != 0:
            plt.yticks([], [])
        plt.hist(a.flatten(), 30, range=(0, 1))
    plt.savefig("weight_init_" + name.replace(", ", "_").replace(" ", "") + ".png")
    plt.close()
