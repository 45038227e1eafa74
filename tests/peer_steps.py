"""What the peers' tests check of every method's trainer: one step on a batch moves the model."""

from __future__ import annotations

import torch


def step_moves_the_model(trainer, model: torch.nn.Module, split, index: torch.Tensor) -> None:
    """One step of ``trainer`` on the rows ``index`` of ``split`` gives a finite loss and changes
    the model's parameters."""
    batch = split.batch(index)
    before = [p.detach().clone() for p in model.parameters()]
    loss = trainer.loss(model(batch.inputs), batch.targets[0], index)
    assert loss is not None and torch.isfinite(loss)
    trainer.optimizer.zero_grad()
    loss.backward()
    trainer.optimizer.step()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
