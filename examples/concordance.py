"""Train a model for a metric metricloss does not ship: the concordance index (Harrell's C).

The digits' classes 0..9 are treated as ordered grades; the model outputs one score per image, and
the metric is the fraction of pairs with different grades that the scores put in the same order.
It is written as evaluation code; the diagonal (an image compared with itself) is detected and
left out of the loss.

    python examples/concordance.py
"""

import torch

import metricloss as ml
from metricloss.train.datasets.digits import load_digits
from metricloss.train.models.mlp import mlp
from metricloss.train.models.standardize import fit


@ml.metric(best=1.0)
def concordance(scores, grades):
    ordered = grades[:, None] > grades[None, :]
    agree = (scores[:, None] > scores[None, :]) & ordered
    return agree.sum() / ordered.sum()


def main(epochs: int = 10) -> None:
    print(ml.explain(concordance))
    data = load_digits(seed=0)  # images [N, 1, 8, 8] as stored (uint8), the digit as the grade
    (x_train, (grades_train,)), (x_test, (grades_test,)) = (data.train.inputs, data.train.targets), (
        data.test.inputs, data.test.targets)
    generator = torch.Generator().manual_seed(0)

    torch.manual_seed(0)
    model = torch.nn.Sequential(fit(x_train), mlp(64, hidden=(64, 32), outputs=1))
    loss_fn = ml.UniLoss(concordance, generator=torch.Generator().manual_seed(0))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    with torch.no_grad():
        print(f"\nuntrained: test concordance {concordance(model(x_test).squeeze(1), grades_test).item():.4f}")
    for epoch in range(epochs):
        for index in torch.randperm(len(grades_train), generator=generator).split(64):
            loss = loss_fn(model(x_train[index]).squeeze(1), grades_train[index])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            value = concordance(model(x_test).squeeze(1), grades_test).item()
        print(f"epoch {epoch + 1:2d}: test concordance {value:.4f}")


if __name__ == "__main__":
    main()
