"""The reference tasks: each builds, its scores suit its metric, and a few steps train on the CPU."""

from __future__ import annotations

import dataclasses
import math
import warnings

import pytest
import torch

import metricloss as ml
from metricloss.train.datasets.synthetic_pose import SyntheticPose, load_synthetic_pose
from metricloss.train.loop import train
from metricloss.train.task import Data, Task
from metricloss_builtins import task_binary, task_cifar, task_ltr, task_pose  # noqa: F401  (registers them)
from test_datasets import write_cifar, write_mnist

PAPERS = ("binary", "cifar10", "cifar100", "pose")  # the paper's experiments
TASKS = (*PAPERS, "ltr")
GENERATED = ("pose", "ltr")  # tasks whose data without a data directory is generated
SMALL_POSE = SyntheticPose(train=48, validation=16, test=16)


def make(name: str) -> Task:
    task = ml.get_plugin("task", name)()
    assert isinstance(task, Task) and task.name == name
    return task


def bundled(task: Task) -> Data:
    """The data a task runs on without a data directory (a small synthetic set for pose)."""
    if task.name != "pose":
        return task.load(None, 0)
    data = load_synthetic_pose(0, SMALL_POSE)
    return Data(data.train, data.validation, data.test, data.source, True, task_pose.SYNTHETIC)


@pytest.mark.parametrize("name", TASKS)
def test_each_task_trains_a_few_steps_with_uniloss_and_with_its_baseline(name):
    task = make(name)
    data = bundled(task)
    settings = task.settings_for(data)
    batch = data.train.batch(torch.arange(16))
    for metric_name in task.metrics:
        metric = ml.get_metric(metric_name)
        for loss in ("uniloss", "baseline"):
            torch.manual_seed(0)
            model = task.model(data)
            optimizer = task.optimizer(model.parameters(), settings.lr)
            scheduler = task.scheduler(optimizer, settings.epochs) if task.scheduler else None
            loss_fn = ml.UniLoss(metric, generator=torch.Generator().manual_seed(0), **settings.uniloss)
            before = [p.detach().clone() for p in model.parameters()]
            generator = torch.Generator().manual_seed(0)
            for _ in range(2):
                inputs = task.augment(batch.inputs, generator) if task.augment else batch.inputs
                assert inputs.shape == batch.inputs.shape
                output = model(inputs)
                scores = task.scores(output)
                value = metric(scores.detach(), *batch.targets)
                assert 0 <= value.item() <= 1
                if loss == "uniloss":
                    value = loss_fn(scores, *batch.targets)
                else:
                    value = task.baseline(output, *batch.targets)
                assert value.dim() == 0 and math.isfinite(value.item())
                optimizer.zero_grad()
                value.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
            changed = sum(not torch.equal(a, b.detach()) for a, b in zip(before, model.parameters()))
            assert changed > len(before) // 2, f"{name} with {loss}: only {changed} parameter tensors moved"


def _shrunk(task: Task, rows: int) -> Task:
    """``task`` loading its own bundled (or generated) data, then keeping ``rows`` of each split."""

    def load(data_dir, seed):
        data = bundled(task) if task.name == "pose" else task.load(data_dir, seed)
        head = torch.arange(rows)
        return dataclasses.replace(data, train=data.train.batch(head), validation=data.validation.batch(head),
                                   test=data.test.batch(head))

    return dataclasses.replace(task, load=load)


@pytest.mark.parametrize("name", TASKS)
def test_each_task_runs_end_to_end_through_the_training_loop(name, tmp_path):
    # The task's own defaults for its bundled data (batch size, lr, UniLoss's parts, model size),
    # the real loop, logs and checkpoint: one epoch of each loss and metric on 16 rows of each split.
    task = _shrunk(make(name), 16)
    for metric in task.metrics:
        for loss in ("uniloss", "baseline"):
            run = train(task, loss=loss, metric=metric, epochs=1, device="cpu", progress=False,
                        out=tmp_path / f"{metric}-{loss}")
            settings = task.settings_for(task.load(None, 0), metric)
            lr = settings.uniloss_lr if loss == "uniloss" and settings.uniloss_lr else settings.lr
            assert (run.config.batch_size, run.config.lr) == (settings.batch_size, lr)
            assert run.config.synthetic == (name in GENERATED) and len(run.history) == 1
            row = run.history[0]
            assert math.isfinite(row["train_loss"]) and 0 <= row["validation_metric"] <= 1
            assert run.checkpoint.exists() and run.curves.exists()


@pytest.mark.parametrize("name", TASKS)
def test_each_task_describes_itself_and_its_data(name):
    task = make(name)
    assert task.description and task.score_scale and task.metrics
    for metric in task.metrics:
        ml.get_metric(metric)
    data = bundled(task)
    assert data.settings is not None and task.settings_for(data) is data.settings
    assert task.settings_for(Data(data.train, data.validation, data.test, "real files")) is task.settings
    for split in (data.train, data.validation, data.test):
        assert len(split) > 0 and all(len(t) == len(split) for t in split.targets)
    torch.manual_seed(0)  # the model's initial weights
    with torch.no_grad():
        model = task.model(data).eval()
        scores = task.scores(model(data.test.inputs[:8]))
    ml.get_metric(task.metrics[0])(scores, *(t[:8] for t in data.test.targets))


def test_a_metric_s_own_settings_replace_the_task_s_for_runs_of_that_metric(tmp_path):
    # The ltr task's generated set trains UniLoss of MRR with its own interpolator and lr; NDCG@10
    # keeps the set's general settings (tau 2, lr 1e-3), and an unknown name changes nothing.
    task = _shrunk(make("ltr"), 16)
    data = task.load(None, 0)
    general = task.settings_for(data)
    assert task.settings_for(data, "ndcg_at_k") is general and task.settings_for(data, "no_such_metric") is general
    own = task.settings_for(data, "mrr")
    assert own.uniloss_lr == general.per_metric["mrr"]["uniloss_lr"] != general.uniloss_lr
    assert own.uniloss == general.per_metric["mrr"]["uniloss"] and "relaxation" not in own.uniloss  # replaced whole
    assert (own.epochs, own.batch_size, own.lr) == (general.epochs, general.batch_size, general.lr)
    runs = {metric: train(task, metric=metric, epochs=1, device="cpu", progress=False, out=tmp_path / metric)
            for metric in ("mrr", "ndcg_at_k")}
    assert "inverse_distance" in runs["mrr"].config.uniloss and "'power': 4.0" in runs["mrr"].config.uniloss
    assert "'power': 1.0" in runs["ndcg_at_k"].config.uniloss and "'tau': 2.0" in runs["ndcg_at_k"].config.uniloss
    assert (runs["mrr"].config.lr, runs["ndcg_at_k"].config.lr) == (own.uniloss_lr, general.uniloss_lr)


def test_the_papers_settings_are_the_defaults_on_real_data():
    binary, cifar10, cifar100, pose = (make(name).settings for name in PAPERS)
    assert (binary.epochs, binary.batch_size, binary.lr) == (30, 16, 0.01)
    assert (cifar10.epochs, cifar10.batch_size, cifar10.lr, cifar10.uniloss_epochs) == (200, 128, 0.1, None)
    assert cifar100.uniloss_epochs == 1000
    assert isinstance(cifar100.uniloss["selection"], ml.Selection)
    selection = cifar100.uniloss["selection"]
    assert selection.name == "hardest" and selection.params == {"fraction": 0.2}
    assert (pose.epochs, pose.batch_size, pose.lr) == (50, 6, 2.5e-4)
    assert pose.model == {"channels": 256, "depth": 4}


def test_optimisers_and_schedules_follow_the_paper():
    parameters = [torch.nn.Parameter(torch.zeros(2))]
    sgd = make("binary").optimizer(parameters, 0.01)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.5
    cifar = make("cifar10")
    sgd = cifar.optimizer(parameters, 0.1)
    assert sgd.defaults["momentum"] == 0.9 and sgd.defaults["weight_decay"] == 1e-4
    rates = []
    schedule = cifar.scheduler(sgd, 200)
    for _ in range(200):
        rates.append(sgd.param_groups[0]["lr"])
        sgd.step()
        schedule.step()
    assert rates[139] == 0.1 and rates[140] == pytest.approx(0.01) and rates[160] == pytest.approx(0.001)
    pose = make("pose")
    rms = pose.optimizer(parameters, 2.5e-4)
    assert isinstance(rms, torch.optim.RMSprop)
    schedule = pose.scheduler(rms, 50)
    rates = []
    for _ in range(50):
        rates.append(rms.param_groups[0]["lr"])
        rms.step()
        schedule.step()
    assert rates[29] == 2.5e-4 and rates[30] == pytest.approx(2.5e-4 / 4)
    assert rates[40] == pytest.approx(2.5e-4 / 16)


def test_binary_labels_the_positive_digit_and_reads_mnist(tmp_path):
    write_mnist(tmp_path, train=30, test=20)
    task = make("binary")
    data = task.load(tmp_path, 0)
    assert data.settings is None and "MNIST" in data.source and "digit 0 is the positive class" in data.source
    assert data.test.targets[0].tolist() == [int(i % 10 == 0) for i in range(20)]
    torch.manual_seed(0)  # the models' initial weights
    model = task.model(data)
    assert model[1][1].in_features == 784 and model[1][1].out_features == 500 and model[1][3].out_features == 300
    assert make("binary").model(task.load(None, 0))[1][1].in_features == 64
    positive_three = ml.get_plugin("task", "binary")(positive=3)
    assert positive_three.load(None, 0).source.endswith("digit 3 is the positive class")


def test_cifar_tasks_read_their_files_and_say_when_digits_stand_in(tmp_path):
    write_cifar(tmp_path, 100)
    task = make("cifar100")
    data = task.load(tmp_path, 0)
    assert data.train.inputs.shape[1:] == (3, 32, 32) and "CIFAR-100" in data.source
    torch.manual_seed(0)  # the models' initial weights
    assert task.model(data)(data.test.inputs).shape == (6, 100)
    digits = task.load(None, 0)
    assert "10 classes" in digits.source and task.model(digits)(digits.test.inputs[:4]).shape == (4, 10)
    with pytest.raises(ml.MetricLossError, match="cifar-100-python.tar.gz"):
        make("cifar100").load(tmp_path / "empty", 0)


def test_cifar_augmentation_flips_colour_images_only():
    augment = make("cifar10").augment
    digits = torch.arange(64, dtype=torch.uint8).reshape(1, 1, 8, 8).expand(64, -1, -1, -1)
    shifted = augment(digits, torch.Generator().manual_seed(0))
    # a digit is shifted by at most one pixel and never mirrored: each row still increases
    rows = shifted[:, 0, 1:-1, 1:-1].long()
    assert (rows.diff(dim=-1) >= 0).all()
    colour = torch.arange(32, dtype=torch.uint8).repeat(64, 3, 32, 1)
    flipped = augment(colour, torch.Generator().manual_seed(0))[:, 0, 0, 8:24].long()
    assert (flipped.diff(dim=-1) < 0).any() and (flipped.diff(dim=-1) > 0).any()


def test_pose_baseline_is_zero_on_its_own_targets_and_ignores_invisible_joints():
    from metricloss.train.datasets.heatmaps import gaussian_heatmaps

    joints = torch.tensor([[[3.0, 4.0], [6.0, 2.0]]])
    visible = torch.tensor([[True, False]])
    target = gaussian_heatmaps(joints, visible, 8, 8)
    head = torch.tensor([4.0])
    assert task_pose.mse_to_gaussians(target, joints, head, visible).item() == 0.0
    noisy = target.clone()
    noisy[0, 1] = torch.rand(8, 8)  # the invisible joint's heatmap is not trained
    assert task_pose.mse_to_gaussians(noisy, joints, head, visible).item() == 0.0
    assert task_pose.mse_to_gaussians(target + 0.1, joints, head, visible).item() == pytest.approx(0.01)


def test_pose_runs_on_the_generated_set_without_a_data_directory():
    task = make("pose")
    data = task.load(None, 0)
    assert data.synthetic and "synthetic" in data.source and data.settings is task_pose.SYNTHETIC
    joints, head_size, visible = data.train.targets
    assert data.train.inputs.shape[1:] == (3, 64, 64) and joints.shape[1:] == (4, 2)
    torch.manual_seed(0)  # the model's initial weights
    model = task.model(data)
    assert model(data.test.inputs[:2]).shape == (2, 4, 16, 16)


def _one_uniloss_epoch_of_the_binary_task(seed: int) -> tuple[float, float]:
    """Test AP of the task's model before and after one epoch of UniLoss("average_precision")."""
    task = make("binary")
    data = task.load(None, seed)
    settings = task.settings_for(data)
    torch.manual_seed(seed)
    model = task.model(data)
    optimizer = task.optimizer(model.parameters(), settings.lr)
    loss_fn = ml.UniLoss("average_precision", generator=torch.Generator().manual_seed(seed), **settings.uniloss)
    metric = ml.get_metric("average_precision")
    with torch.no_grad():
        before = metric(task.scores(model(data.test.inputs)), *data.test.targets).item()
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(seed))
    with warnings.catch_warnings():  # a batch without a digit 0 leaves AP undefined: a zero loss
        warnings.simplefilter("ignore", ml.MetricLossWarning)
        for index in order.split(settings.batch_size):
            batch = data.train.batch(index)
            loss = loss_fn(task.scores(model(batch.inputs)), *batch.targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    with torch.no_grad():
        after = metric(task.scores(model(data.test.inputs)), *data.test.targets).item()
    return before, after


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_uniloss_learns_the_binary_task_on_the_bundled_digits(seed):
    before, after = _one_uniloss_epoch_of_the_binary_task(seed)
    assert after > 0.9 and after > before + 0.5, (before, after)


@pytest.mark.parametrize("per_metric, message", [
    ({"mrr": {"uniloss_rate": 3e-3}}, "with uniloss_rate, which are not fields; the fields are batch_size, epochs"),
    ({"mrr": 3e-3}, "must map a metric's name to a dict of Settings fields, got 0.003"),
])
def test_a_metric_s_own_settings_must_name_settings_fields(per_metric, message):
    from metricloss.train.task import Settings

    with pytest.raises(ml.InputError) as raised:
        Settings(epochs=1, batch_size=2, lr=0.1, per_metric=per_metric)
    assert message in str(raised.value)
