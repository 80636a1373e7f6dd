"""Chapter 8: load DeepConvNet's saved parameters, measure the test accuracy, count the misclassified."""
import os

import numpy as np
from ch08_deep_convnet import DeepConvNet

from dataset.mnist import load_mnist

QUICK = os.environ.get("BOOK_SCRIPT_QUICK") == "1"

(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
if QUICK:
    x_test, t_test = x_test[:100], t_test[:100]

network = DeepConvNet()
network.load_params("deep_convnet_params.npz")

print("calculating test accuracy ... ")
classified_ids = []
acc = 0.0
batch_size = 100
for i in range(int(x_test.shape[0] / batch_size)):
    tx = x_test[i * batch_size:(i + 1) * batch_size]
    tt = t_test[i * batch_size:(i + 1) * batch_size]
    y = network.predict(tx, train_flg=False)
    y = np.argmax(y, axis=1)
    classified_ids.append(y)
    acc += np.sum(y == tt)

acc = acc / x_test.shape[0]
print("test acc:" + str(acc))
classified_ids = np.array(classified_ids).flatten()
print("misclassified:" + str(int(np.sum(classified_ids != t_test))))
