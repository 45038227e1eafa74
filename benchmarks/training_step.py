"""Table b: a whole training step with UniLoss against the same step with the usual loss.

The reference trainings' networks (``metricloss.train.models``) at the paper's batch sizes: the
MLP 784-500-300 with 10 outputs trained for accuracy (against cross-entropy), the binary task's
MLP 784-500-300 (two outputs, their difference the score), ResNet-20 on 32x32x3 images, and a
1-stack hourglass giving 16 heatmaps of 64x64 from 256x256 images. A step is forward, loss, backward and the optimizer's update; both
networks start from the same weights. The ratio says what switching the loss costs in training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from metricloss.train.models.hourglass import hourglass
from metricloss.train.models.mlp import mlp
from metricloss.train.models.resnet import resnet20

from .inputs import SEED, binary_labels, make_uniloss, pose_batch
from .tables import Table, Target, contention_note, mark, ms, ratio
from .timing import Clock, measure_quietly

TARGETS = {("mlp", 16): Target("MLP B=16 step ratio", 1.3),
           ("resnet20", 128): Target("ResNet-20 B=128 step ratio", 1.02)}


@dataclass(frozen=True)
class StepCase:
    network: str  # "mlp", "resnet20" or "hourglass"
    metric: str
    batch: int
    channels: int = 256  # hourglass width and depth (the paper's: 256, 4)
    depth: int = 4

    @property
    def label(self) -> str:
        if self.network == "mlp":
            head = "-10" if self.metric == "accuracy" else ""
            return f"MLP 784-500-300{head}, {self.metric}, B={self.batch}"
        if self.network == "resnet20":
            return f"ResNet-20 32x32, {self.metric} C=10, B={self.batch}"
        return (f"hourglass {self.channels}ch/{self.depth} levels 256x256->16x64x64, "
                f"{self.metric}, B={self.batch}")


@dataclass
class Setup:
    make_network: Callable[[], torch.nn.Module]
    inputs: torch.Tensor
    targets: tuple
    scores: Callable[[torch.Tensor], torch.Tensor]
    baseline: Callable[..., torch.Tensor]
    optimizer: Callable[[list], torch.optim.Optimizer]


def setup(case: StepCase, device) -> Setup:
    """The network, a batch and the losses as the reference task trains them."""
    generator = torch.Generator().manual_seed(SEED)
    if case.network == "mlp" and case.metric == "accuracy":  # ten classes, as on MNIST
        inputs = torch.randn(case.batch, 784, generator=generator)
        targets = (torch.randint(10, (case.batch,), generator=generator),)
        return Setup(lambda: mlp(784, (500, 300), 10), inputs.to(device), tuple(t.to(device) for t in targets),
                     scores=lambda output: output, baseline=F.cross_entropy,
                     optimizer=lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.5))
    if case.network == "mlp":
        inputs = torch.randn(case.batch, 784, generator=generator)
        targets = (binary_labels(case.batch, generator),)
        return Setup(lambda: mlp(784, (500, 300), 2), inputs.to(device), tuple(t.to(device) for t in targets),
                     scores=lambda output: output[:, 1] - output[:, 0],
                     baseline=lambda output, labels: F.cross_entropy(output, labels),
                     optimizer=lambda params: torch.optim.SGD(params, lr=0.01, momentum=0.5))
    if case.network == "resnet20":
        inputs = torch.randn(case.batch, 3, 32, 32, generator=generator)
        targets = (torch.randint(10, (case.batch,), generator=generator),)
        return Setup(lambda: resnet20(10), inputs.to(device), tuple(t.to(device) for t in targets),
                     scores=lambda output: output, baseline=F.cross_entropy,
                     optimizer=lambda params: torch.optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=1e-4))
    from metricloss_builtins.task_pose import mse_to_gaussians

    inputs = torch.randn(case.batch, 3, 256, 256, generator=generator)
    _, targets = pose_batch(case.batch, 16, 64, generator)
    return Setup(lambda: hourglass(16, channels=case.channels, depth=case.depth), inputs.to(device),
                 tuple(t.to(device) for t in targets), scores=lambda output: output,
                 baseline=mse_to_gaussians, optimizer=lambda params: torch.optim.RMSprop(params, lr=2.5e-4))


def step(net: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: Callable[[torch.Tensor], torch.Tensor],
         inputs: torch.Tensor) -> Callable[[], None]:
    def run():
        optimizer.zero_grad(set_to_none=True)
        loss(net(inputs)).backward()
        optimizer.step()
    return run


def training_step(cases: list[StepCase], rounds: int, block_seconds: float, clock: Clock) -> Table:
    table = Table("training_step", "b. Training step (forward, loss, backward, update): "
                  "with UniLoss / with the usual loss",
                  ["network, metric, batch", "params", "step+baseline ms", "step+UniLoss ms",
                   "ratio", "target"])
    for case in cases:
        torch.manual_seed(SEED)
        s = setup(case, clock.device)
        net_baseline, net_uniloss = s.make_network().to(clock.device), s.make_network().to(clock.device)
        net_uniloss.load_state_dict(net_baseline.state_dict())
        uniloss = make_uniloss(case.metric, clock.device)
        timings, busy = measure_quietly(f"training step, {case.label}", {
            "step_baseline": step(net_baseline, s.optimizer(net_baseline.parameters()),
                                  lambda out: s.baseline(out, *s.targets), s.inputs),
            "step_uniloss": step(net_uniloss, s.optimizer(net_uniloss.parameters()),
                                 lambda out: uniloss(s.scores(out), *s.targets), s.inputs),
        }, rounds, block_seconds, clock)
        base, uni = timings["step_baseline"]["median_s"], timings["step_uniloss"]["median_s"]
        target = TARGETS.get((case.network, case.batch))
        row = {"case": case.label, "network": case.network, "metric": case.metric, "batch": case.batch,
               "parameters": sum(p.numel() for p in net_baseline.parameters()),
               "binaries": uniloss.last.binaries, "timings": timings, **busy,
               "step_uniloss_over_step_baseline": uni / base}
        if target:
            table.targets.append(target.record(uni / base, case.label))
        table.rows.append(row)
        table.cells.append([mark(row, case.label), f"{row['parameters']:,}", ms(base), ms(uni),
                            ratio(uni / base, 3 if target and target.limit < 1.1 else 2),
                            target.cell(uni / base) if target else ""])
    table.notes += contention_note(table.rows)
    return table
