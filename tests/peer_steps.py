"""What the peers' tests check again and again: a trainer's step moves the model; bad options are refused."""

from __future__ import annotations

import torch

from metricloss.cli import main


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


def refused_before_writing(options: list[str], message: str, out, capsys) -> None:
    """``metricloss peers`` with ``options`` exits with 2, says ``message`` after "metricloss: " on
    stderr, and writes nothing to ``out``."""
    assert main(["peers", *options, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metricloss: ") and message in err
    assert not out.exists()
