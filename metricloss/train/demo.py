"""A small end-to-end run that needs no download: digit 8 against the rest of scikit-learn's digits.

Two copies of one MLP, from the same initial weights and the same batches, are trained: one with
``UniLoss("auc")``, one with binary cross-entropy. The held-out AUC of both is printed side by side.
The scores are raw logits, so the relaxation's temperature sets their scale (tau = 1).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import torch

from .loss import UniLoss
from .metric import get_metric


@dataclass(frozen=True)
class DemoResult:
    initial_auc: float
    uniloss_auc: float
    bce_auc: float
    seconds: float


def digits_split(seed: int = 0):
    """scikit-learn's 8x8 digits, standardised, split 70/30: ((x, digit), (x, digit))."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(y), generator=generator)
    cut = int(0.7 * len(y))
    train, test = order[:cut], order[cut:]
    mean, std = x[train].mean(0), x[train].std(0).clamp_min(1e-3)
    x = (x - mean) / std
    return (x[train], y[train]), (x[test], y[test])


def mlp(inputs: int = 64, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(inputs, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
        torch.nn.Linear(32, 1),
    )


def train_digits(epochs: int = 15, batch_size: int = 64, lr: float = 0.05, seed: int = 0,
                 log=print) -> DemoResult:
    (x_train, digit_train), (x_test, digit_test) = digits_split(seed=seed)
    y_train, y_test = (digit_train == 8).long(), (digit_test == 8).long()
    auc = get_metric("auc")
    start = time.perf_counter()
    uniloss_model = mlp(x_train.shape[1], seed)
    bce_model = copy.deepcopy(uniloss_model)
    with torch.no_grad():
        initial = auc(uniloss_model(x_test).squeeze(1), y_test).item()
    uniloss = UniLoss("auc", generator=torch.Generator().manual_seed(seed))
    bce = torch.nn.BCEWithLogitsLoss()
    optimisers = {
        "uniloss": torch.optim.SGD(uniloss_model.parameters(), lr=lr, momentum=0.9),
        "bce": torch.optim.SGD(bce_model.parameters(), lr=lr, momentum=0.9),
    }
    batches = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        order = torch.randperm(len(y_train), generator=batches)
        for index in order.split(batch_size):
            x, y = x_train[index], y_train[index]
            for name, model in (("uniloss", uniloss_model), ("bce", bce_model)):
                scores = model(x).squeeze(1)
                loss = uniloss(scores, y) if name == "uniloss" else bce(scores, y.float())
                optimisers[name].zero_grad()
                loss.backward()
                optimisers[name].step()
        if log is not None:
            with torch.no_grad():
                u = auc(uniloss_model(x_test).squeeze(1), y_test).item()
                b = auc(bce_model(x_test).squeeze(1), y_test).item()
            log(f"epoch {epoch + 1:2d}/{epochs}  test AUC  UniLoss {u:.4f}   BCE {b:.4f}")
    with torch.no_grad():
        result = DemoResult(
            initial_auc=initial,
            uniloss_auc=auc(uniloss_model(x_test).squeeze(1), y_test).item(),
            bce_auc=auc(bce_model(x_test).squeeze(1), y_test).item(),
            seconds=time.perf_counter() - start,
        )
    return result


def main(epochs: int = 15, seed: int = 0) -> DemoResult:
    print("digit 8 vs rest on scikit-learn's bundled digits (1,257 train / 540 test images, 8x8)")
    result = train_digits(epochs=epochs, seed=seed)
    print()
    print(f"{'loss':<16}{'test AUC':>10}")
    print(f"{'(untrained)':<16}{result.initial_auc:>10.4f}")
    print(f"{'UniLoss(auc)':<16}{result.uniloss_auc:>10.4f}")
    print(f"{'BCE':<16}{result.bce_auc:>10.4f}")
    print(f"\n{result.seconds:.1f} s for both trainings")
    return result
