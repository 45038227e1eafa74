"""Top-k accuracy: the fraction of samples whose true class is among the k highest scores.

torch does not say which of tied classes ``topk`` returns; the compiled metric follows
scikit-learn's ``top_k_accuracy_score``: a class tied with the true one ranks above it when it
comes later, below it when it comes earlier. ``k`` runs from 1 to the number of classes C.
"""

import torch

import metricloss
from metricloss_builtins import whole_number


def k_within_classes(scores, labels, *, k):
    classes = scores.shape[1]
    if k > classes:
        return (f"k = {k} is more than the C = {classes} classes of scores {tuple(scores.shape)}; k must be "
                f"1..C: bind k <= {classes} (get_metric('topk_accuracy', k={min(5, classes)}))")
    return None


def example(seed, n=12, classes=6):
    """A valid batch for the default k = 5: more classes than k, every class among the labels."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % classes
    return torch.randn(n, classes, generator=generator), labels[torch.randperm(n, generator=generator)]


@metricloss.metric(best=1.0, shapes={"scores": "N C", "labels": "N"}, classes={"labels": "C"},
                   check=k_within_classes, example=example)
def topk_accuracy(scores, labels, *, k=5):
    whole_number("k", k, "get_metric('topk_accuracy', k=5)", "a whole number from 1 to C, the number of classes")
    return (scores.topk(k, 1).indices == labels[:, None]).any(1).float().mean()
