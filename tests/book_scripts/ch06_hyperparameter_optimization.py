"""Chapter 6: random search over the learning rate and the weight decay, on a validation split."""
import os

import numpy as np

from dataset.mnist import load_mnist
from scratchnet.multi_layer_net import MultiLayerNet
from scratchnet.trainer import Trainer
from scratchnet.util import shuffle_dataset

QUICK = os.environ.get("BOOK_SCRIPT_QUICK") == "1"
np.random.seed(0)

(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)

# less training data, for speed
x_train = x_train[:500]
t_train = t_train[:500]

# split off a validation set
validation_rate = 0.20
validation_num = int(x_train.shape[0] * validation_rate)
x_train, t_train = shuffle_dataset(x_train, t_train)
x_val = x_train[:validation_num]
t_val = t_train[:validation_num]
x_train = x_train[validation_num:]
t_train = t_train[validation_num:]


def __train(lr, weight_decay, epocs=3 if QUICK else 50):
    network = MultiLayerNet(input_size=784, hidden_size_list=[100, 100, 100, 100, 100, 100],
                            output_size=10, weight_decay_lambda=weight_decay)
    trainer = Trainer(network, x_train, t_train, x_val, t_val,
                      epochs=epocs, mini_batch_size=100,
                      optimizer="sgd", optimizer_param={"lr": lr}, verbose=False)
    trainer.train()

    return trainer.test_acc_list, trainer.train_acc_list


# random search of the hyperparameters ======================================
optimization_trial = 3 if QUICK else 100
results_val = {}
results_train = {}
for _ in range(optimization_trial):
    # the ranges searched ===============================================
    weight_decay = 10 ** np.random.uniform(-8, -4)
    lr = 10 ** np.random.uniform(-6, -2)
    # ================================================

    val_acc_list, train_acc_list = __train(lr, weight_decay)
    print("val acc:" + str(val_acc_list[-1]) + " | lr:" + str(lr) + ", weight decay:" + str(weight_decay))
    key = "lr:" + str(lr) + ", weight decay:" + str(weight_decay)
    results_val[key] = val_acc_list
    results_train[key] = train_acc_list

print("=========== Hyper-Parameter Optimization Result ===========")
for i, (key, val_acc_list) in enumerate(sorted(results_val.items(), key=lambda x: x[1][-1], reverse=True)):
    print("Best-" + str(i + 1) + "(val acc:" + str(val_acc_list[-1]) + ") | " + key)
