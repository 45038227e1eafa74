"""``metricloss peers``: the smoke run writes its outputs, the learning rate is chosen on
validation, the Lovász hinge is the paper's, bad options are refused with exit code 2. LibAUC is
optional: the tests that train its methods are skipped without it."""

import json

import pytest
import torch

from metricloss.cli import main
from metricloss_benchmarks.peers import methods as method_table
from metricloss_benchmarks.peers.command import peers_command
from metricloss_benchmarks.peers.lovasz import jaccard_prefix_losses, lovasz_extension, lovasz_hinge
from metricloss_benchmarks.peers.options import plan_from
from metricloss_benchmarks.peers.problems import blob_images, digits_problem, subsample_positives
from metricloss_benchmarks.peers.runner import select
from doc_commands import documented_invocations
from peer_steps import refused_before_writing, step_moves_the_model


def _outputs(out):
    results = json.loads((out / "results.json").read_text())
    return results, (out / "table.md").read_text()


def test_smoke_run_writes_the_results_the_table_and_the_plot(tmp_path, capsys):
    out = tmp_path / "peers"
    names = ["bce", "uniloss_auc", "uniloss_ap", "uniloss_auc_balanced", "libauc_aucm", "libauc_ap"]
    assert main(["peers", "--smoke", "--methods", ",".join(names), "--out", str(out)]) == 0
    results, table = _outputs(out)
    assert (out / "peers.png").stat().st_size > 0
    ran = names if method_table.libauc_missing() is None else names[:4]
    assert results["complete"] and results["problems"]["digits-8"]["methods"] == ran
    assert {(r["method"], r["lr"], r["seed"]) for r in results["runs"]} == {(n, 0.1, 0) for n in ran}
    for run in results["runs"]:
        assert set(run["validation"]) == set(run["test"]) == {"auc", "average_precision"}
        assert run["steps"] > 0
    balanced = next(r for r in results["runs"] if r["method"] == "uniloss_auc_balanced")
    assert balanced["sampler"] == "balanced:0.5" and balanced["skipped_batches"] == 0  # a positive in every batch
    assert {row["metric"] for row in results["selected"]} == {"auc", "average_precision"}
    assert "## digit 8 vs rest" in table and all(f"| {name} |" in table for name in ran)
    assert "| test AP | time per epoch ÷ bce's |" in table and results["epoch_times"]["digits-8"]["bce"]["ratio"] == 1.0
    assert "metricloss peers --problem digits --classes 8 --methods" in results["command"]
    assert "| uniloss_auc |" in capsys.readouterr().out


def test_weight_decay_reaches_every_sgd_method_and_is_recorded(tmp_path):
    out = tmp_path / "decay"
    assert main(["peers", "--smoke", "--methods", "bce,uniloss_ap", "--weight-decay", "1e-3", "--out", str(out)]) == 0
    results, table = _outputs(out)
    assert {r["optimizer"] for r in results["runs"]} == {"SGD(momentum=0.5, weight_decay=0.001)"}
    assert results["problems"]["digits-8"]["optimizer"] == "SGD with momentum 0.5 and weight decay 0.001"
    assert "--weight-decay 0.001" in results["command"] and "weight decay 0.001" in table
    # the decay is SGD's own: the trainer's optimizer holds it
    from metricloss_benchmarks.peers.methods import METHODS, Setup

    problem = digits_problem(8)
    data = problem.load(0)
    model = problem.model(data)
    for decay in (0.0, 1e-3):
        trainer = METHODS["uniloss_ap"].build(Setup(problem, model, data.train, lr=0.1, seed=0,
                                                    device=torch.device("cpu"), weight_decay=decay))
        assert [group["weight_decay"] for group in trainer.optimizer.param_groups] == [decay]


def test_libauc_methods_are_skipped_with_a_note_when_it_does_not_import(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(method_table, "libauc_missing", lambda: "ModuleNotFoundError: No module named 'libauc'")
    out = tmp_path / "peers"
    assert main(["peers", "--smoke", "--methods", "bce,libauc_ap", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    note = next(line for line in err.splitlines() if "skipping" in line)
    assert "libauc_ap" in note and "pip install --no-deps libauc==2.0.1" in note
    results, table = _outputs(out)
    assert {r["method"] for r in results["runs"]} == {"bce"}
    assert "Skipped: skipping libauc_ap" in table


def test_the_segmentation_problem_runs_bce_lovasz_and_uniloss_iou(tmp_path):
    out = tmp_path / "blobs"
    assert main(["peers", "--problem", "blobs", "--smoke", "--epochs", "1", "--out", str(out)]) == 0
    results, table = _outputs(out)
    assert results["problems"]["blobs"]["methods"] == ["bce", "lovasz_hinge", "uniloss_iou"]
    assert all(0 <= r["test"]["iou"] <= 1 for r in results["runs"])
    assert "test IoU" in table


def _run(method, lr, seed, validation, test=0.5):
    return {"problem": "p", "method": method, "lr": lr, "seed": seed,
            "validation": {"auc": validation}, "test": {"auc": test}}


def test_the_learning_rate_with_the_best_validation_mean_is_chosen():
    runs = [
        # lr 0.1 has the best single seed (0.99) but not the best mean
        _run("m", 0.1, 0, 0.99, test=0.9), _run("m", 0.1, 1, 0.70, test=0.8),
        _run("m", 0.01, 0, 0.90, test=0.6), _run("m", 0.01, 1, 0.88, test=0.7),
        # a diverged seed (None) rules its lr out, however good the other seed
        _run("m", 0.5, 0, None), _run("m", 0.5, 1, 1.0),
        # a tie goes to the smaller lr
        _run("n", 0.2, 0, 0.8), _run("n", 0.05, 0, 0.8, test=0.75),
        _run("dead", 0.1, 0, None),
    ]
    chosen = select(runs, "auc")
    m = chosen[("p", "m")]
    assert m["lr"] == 0.01 and m["validation_mean"] == pytest.approx(0.89)
    assert m["test"] == [0.6, 0.7] and m["test_mean"] == pytest.approx(0.65)
    assert m["test_std"] == pytest.approx(0.0707107, rel=1e-5)
    assert m["grid"] == {0.01: pytest.approx(0.89), 0.1: pytest.approx(0.845), 0.5: None}
    assert chosen[("p", "n")]["lr"] == 0.05 and chosen[("p", "n")]["test_std"] == 0.0
    assert chosen[("p", "dead")]["lr"] is None


# --- the Lovász hinge ---------------------------------------------------------------------------


def _iou(prediction, labels):
    tp = int(((prediction == 1) & (labels == 1)).sum())
    union = int(((prediction == 1) | (labels == 1)).sum())
    return 1.0 if union == 0 else tp / union


def test_lovasz_hinge_at_hard_predictions_is_the_jaccard_loss():
    generator = torch.Generator().manual_seed(0)
    for _ in range(200):
        size = int(torch.randint(1, 14, (1,), generator=generator))
        labels = torch.randint(0, 2, (size,), generator=generator)
        prediction = torch.randint(0, 2, (size,), generator=generator)
        jaccard = 1 - _iou(prediction, labels)
        # the extension equals the set function at the indicator of the mispredicted pixels
        assert float(lovasz_extension((prediction != labels).double(), labels)) == pytest.approx(jaccard, abs=1e-12)
        # at logits of ±1 the hinge errors are 0 or 2: twice the Jaccard loss
        logits = (2 * prediction - 1).double()
        assert float(lovasz_hinge(logits, labels)) == pytest.approx(2 * jaccard, abs=1e-12)
        assert float(lovasz_hinge(logits / 2 + 0.0, labels)) >= 0


def test_lovasz_hinge_is_zero_beyond_the_margin_and_the_extension_is_its_level_set_integral():
    labels = torch.tensor([1, 0, 1, 1, 0, 0, 0, 1])
    signs = 2 * labels.double() - 1
    assert float(lovasz_hinge(signs * torch.linspace(1, 3, 8, dtype=torch.float64), labels)) == 0
    generator = torch.Generator().manual_seed(1)
    for _ in range(50):
        errors = torch.rand(8, generator=generator, dtype=torch.float64) * (torch.rand(8, generator=generator) < 0.7)
        # Lovász extension = ∫ Δ_J({i : m_i >= t}) dt over t >= 0, a sum over the distinct levels
        levels = torch.unique(torch.cat([errors, torch.zeros(1, dtype=torch.float64)]))
        integral = 0.0
        for low, high in zip(levels[:-1], levels[1:]):
            chosen = errors >= high
            integral += float(high - low) * (1 - _iou(torch.where(chosen, 1 - labels, labels), labels))
        assert float(lovasz_extension(errors, labels)) == pytest.approx(integral, abs=1e-12)
        # positively homogeneous, and convex (the Jaccard loss is submodular)
        assert float(lovasz_extension(3 * errors, labels)) == pytest.approx(3 * integral, abs=1e-12)
        other = torch.rand(8, generator=generator, dtype=torch.float64)
        middle = float(lovasz_extension((errors + other) / 2, labels))
        assert middle <= (integral + float(lovasz_extension(other, labels))) / 2 + 1e-12


def test_jaccard_prefix_losses_and_gradient_direction():
    # no foreground: any non-empty set of mistakes is a Jaccard loss of 1
    assert jaccard_prefix_losses(torch.zeros(3)).tolist() == [1.0, 1.0, 1.0]
    assert jaccard_prefix_losses(torch.tensor([1.0, 0.0, 1.0])).tolist() == pytest.approx([0.5, 2 / 3, 1.0])
    logits = torch.tensor([2.0, -0.5, 0.3, -2.0], requires_grad=True)
    labels = torch.tensor([1, 1, 0, 0])
    lovasz_hinge(logits, labels).backward()
    # the misranked pixels are pushed the right way; pixels beyond the margin get no gradient
    assert logits.grad[1] < 0 and logits.grad[2] > 0 and logits.grad[0] == 0 and logits.grad[3] == 0


# --- data --------------------------------------------------------------------------------------


def test_the_positive_fraction_subsamples_the_training_positives():
    data = digits_problem(8).load(0)
    kept = subsample_positives(data.train, 0.02, seed=0)
    labels = kept.targets[0]
    negatives = int((data.train.targets[0] == 0).sum())
    assert int((labels == 0).sum()) == negatives
    assert int(labels.sum()) == round(0.02 * negatives / 0.98)
    assert int(subsample_positives(data.train, 1e-6, seed=0).targets[0].sum()) == 2  # at least 2
    assert subsample_positives(data.train, 0.5, seed=0) is data.train  # more than it has: kept whole
    images, masks = blob_images(4, 16, seed=3)
    assert images.shape == (4, 1, 16, 16) and masks.shape == (4, 16, 16)
    assert torch.equal(masks, blob_images(4, 16, seed=3)[1]) and 0 < masks.float().mean() < 0.5


# --- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize("options, message", [
    (["--methods", "bce,hinge"], "unknown method(s) hinge; choose from bce, "),
    (["--classes", "3,10"], "'10' is not a digit 0-9"),
    (["--classes", "eight"], "'eight' is not a digit 0-9"),
    (["--lrs", "0.1,0"], "every learning rate must be a positive number, got '0'"),
    (["--lrs", "-0.1"], "every learning rate must be a positive number, got '-0.1'"),
    (["--lrs", "fast"], "'fast' is not a number"),
    (["--positive-fraction", "0"], "--positive-fraction must be in (0, 1], got 0"),
    (["--positive-fraction", "1.5"], "--positive-fraction must be in (0, 1], got 1.5"),
    (["--seeds", "0"], "--seeds must be at least 1"),
    (["--problem", "blobs", "--methods", "libauc_ap"], "do not apply to --problem blobs"),
    (["--weight-decay=-1e-3"], "--weight-decay must be a number of at least 0 (SGD's L2 penalty), got -0.001"),
    (["--weight-decay", "nan"], "--weight-decay must be a number of at least 0"),
    (["--problem", "ltr", "--weight-decay", "1e-3"], "--weight-decay applies to the problems trained by SGD"),
    (["--problem", "all", "--weight-decay", "1e-3"], "--problem all includes ltr"),
])
def test_bad_options_are_refused_with_exit_code_2(options, message, tmp_path, capsys):
    refused_before_writing(options, message, tmp_path / "unused", capsys)


def test_help_says_how_to_install_libauc(capsys):
    with pytest.raises(SystemExit):
        main(["peers", "--help"])
    out = capsys.readouterr().out
    assert "pip install --no-deps libauc==2.0.1" in out and "-c constraints.txt" in out


# --- LibAUC -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["libauc_aucm", "libauc_ap", "libauc_ap_adam", "libauc_aucm_balanced"])
def test_one_step_of_each_libauc_method(name):
    pytest.importorskip("libauc")
    if method_table.libauc_missing():  # installed, but its losses or optimizers do not import
        pytest.skip(f"LibAUC does not import: {method_table.libauc_missing()}")
    from metricloss_benchmarks.peers.methods import METHODS, Setup

    problem = digits_problem(8)
    data = problem.load(0)
    torch.manual_seed(0)
    model = problem.model(data)
    trainer = METHODS[name].build(Setup(problem, model, data.train, lr=0.1, seed=0, device=torch.device("cpu")))
    index = torch.cat([torch.nonzero(data.train.targets[0] == 1).flatten()[:4],
                       torch.nonzero(data.train.targets[0] == 0).flatten()[:12]])
    step_moves_the_model(trainer, model, data.train, index)
    if name.startswith("libauc_ap"):  # a batch without a positive is undefined for the AP loss
        negatives = index[4:]
        assert trainer.loss(model(data.train.batch(negatives).inputs), data.train.targets[0][negatives],
                            negatives) is None


def test_a_warm_start_row_trains_its_first_epochs_with_the_usual_loss(tmp_path):
    from metricloss_benchmarks.peers.runner import train_one

    problem = digits_problem(8)
    data = problem.load(0)
    warm, bce = method_table.METHODS["uniloss_auc_warm"], method_table.METHODS["bce"]
    assert warm.warm_start == 5
    # while it warms up, the row's run is the usual loss's, step for step
    first = train_one(problem, data, warm, 0.1, 0, 1, 16, torch.device("cpu"))
    usual = train_one(problem, data, bce, 0.1, 0, 1, 16, torch.device("cpu"))
    assert first["warm_start"] == 5 and first["test"] == usual["test"]


def test_every_peers_command_the_docs_give_is_a_valid_plan():
    # each must name existing methods and problems and pass the option checks as written
    invocations = documented_invocations("peers", peers_command)
    assert len(invocations) >= 10
    for line, args in invocations:
        assert plan_from(args).problems, line
