"""A LightningModule that trains for AUC with ``UniLoss`` and validates with ``ml.evaluator``.

    python examples/lightning_auc.py                    # CPU, a few seconds
    python examples/lightning_auc.py --devices 4 --accelerator gpu --strategy ddp

Digit 8 against the rest on scikit-learn's bundled digits (no download), a small MLP. Needs the
extra ``metricloss[lightning]`` (Lightning and TorchMetrics).

What each piece does in Lightning:

- ``self.loss_fn = ml.UniLoss("auc", seed=0)`` is a submodule: Lightning's ``.to(device)`` moves
  its random stream with it, and its state is in the module's ``state_dict``, so a run resumed
  from a Lightning checkpoint draws the anchors an uninterrupted run would.
- ``self.val_auc = ml.evaluator("auc")`` keeps every validation batch and computes the AUC once,
  over the whole validation set, at the end of the epoch (``self.log`` with the Metric object
  lets Lightning call ``compute`` and ``reset``). The AUC of the set is not the mean of the
  batches' AUCs, which is what logging a per-batch number with ``on_epoch=True`` would give.

Under DDP (``--strategy ddp``, ``devices`` processes):

- ``UniLoss(..., gather=True)`` concatenates every process's batch, so the pairs span the whole
  global batch; the seed must be the same on every process (it is: ``seed=0``; checked).
- DDP averages the gradients over the processes, which makes them 1/W of what one process on
  the global batch would get: the loss is multiplied by ``trainer.world_size`` below.
- The evaluator's states are gathered by TorchMetrics before ``compute``, so every process logs
  the AUC of the whole validation set; Lightning's ``DistributedSampler`` pads the set to a
  multiple of the processes by repeating a few items, which the AUC then counts twice (use
  ``use_distributed_sampler=False`` with your own sampler to avoid it).
"""

from __future__ import annotations

import argparse

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

import metricloss as ml


def digits(positive: int = 8, seed: int = 0) -> tuple[TensorDataset, TensorDataset]:
    """Training and validation sets: the 8x8 digits scaled to [0, 1], label 1 for ``positive``."""
    from sklearn.datasets import load_digits

    data = load_digits()
    inputs = torch.tensor(data.data, dtype=torch.float32) / 16.0
    labels = (torch.tensor(data.target) == positive).long()
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    train, validation = order[: len(order) * 3 // 4], order[len(order) * 3 // 4:]
    return TensorDataset(inputs[train], labels[train]), TensorDataset(inputs[validation], labels[validation])


class AUCModule(L.LightningModule):
    def __init__(self, lr: float = 0.1, gather: bool = False):
        super().__init__()
        self.model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1))
        self.loss_fn = ml.UniLoss("auc", seed=0, gather=gather)
        self.val_auc = ml.evaluator("auc")
        self.lr = lr

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.model(inputs).squeeze(1)  # one score per image: higher means "is the digit"

    def training_step(self, batch, batch_index):
        inputs, labels = batch
        loss = self.loss_fn(self(inputs), labels)
        self.log("train_loss", loss, prog_bar=True)
        # Under DDP with gather=True, the loss is that of the global batch on every process:
        # undo DDP's averaging of the gradients over the processes.
        return loss * self.trainer.world_size if self.loss_fn.gather else loss

    def validation_step(self, batch, batch_index):
        inputs, labels = batch
        self.val_auc.update(self(inputs), labels)
        self.log("val_auc", self.val_auc, prog_bar=True)  # computed over the whole set at the epoch's end

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr, momentum=0.9)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--out", default="runs/lightning-auc", help="Lightning's logs and checkpoints")
    args = parser.parse_args(argv)

    L.seed_everything(0, verbose=False)
    train, validation = digits()
    distributed = args.devices > 1 or args.strategy.startswith("ddp")
    module = AUCModule(gather=distributed)
    trainer = L.Trainer(max_epochs=args.epochs, accelerator=args.accelerator, devices=args.devices,
                        strategy=args.strategy, default_root_dir=args.out, enable_progress_bar=False,
                        enable_model_summary=False, logger=False, num_sanity_val_steps=0)
    # drop_last: a last training batch of a few images may hold no positive, where AUC is undefined
    trainer.fit(module, DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True),
                DataLoader(validation, batch_size=args.batch_size))
    metrics = {name: float(value) for name, value in trainer.callback_metrics.items()}
    if trainer.is_global_zero:
        print(f"validation AUC after {args.epochs} epochs: {metrics['val_auc']:.4f}")
    return metrics


if __name__ == "__main__":
    main()
