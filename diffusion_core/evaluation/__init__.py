"""The evaluation wing: how good a trained model's samples are.

Metrics (sliced Wasserstein, class conformity, Fréchet distance), the 2D and EMNIST
evaluations that `train_toy.py eval` runs, the project's judge classifier (its
training, saving and card; the network itself is `models.classifier`), and the
pictures of samples that model cards show. It imports the root and the weights
wing, never the demo wing.
"""
