"""What frameworks do with a loss: pickle it, save and load the model that holds it, copy it,
move it between devices, checkpoint and resume it, and re-run the cell that declared its metric."""

from __future__ import annotations

import copy
import io
import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import metricloss as ml
from metricloss.registry import REGISTRY, get_plugin

ROOT = Path(__file__).parent.parent


@ml.metric(best=1.0, register=False)
def module_level_unregistered(scores, labels):
    return (scores[labels == 1][:, None] > scores[labels == 0][None, :]).float().mean()


@ml.metric(best=1.0)
def fit_pairwise_auc(scores, labels):
    return (scores[labels == 1][:, None] > scores[labels == 0][None, :]).float().mean()


def batch(seed: int = 0, classes: int = 0):
    generator = torch.Generator().manual_seed(seed)
    if classes:
        return torch.randn(12, classes, generator=generator), torch.randint(0, classes, (12,), generator=generator)
    return torch.randn(16, generator=generator), (torch.arange(16) % 3 == 0).long()


def roundtrip(value):
    return pickle.loads(pickle.dumps(value))


# --- metrics and parts pickle by reference ------------------------------------------------------

@pytest.mark.parametrize("metric", [
    ml.get_metric("auc"),
    ml.get_metric("topk_accuracy", k=2),
    ml.get_metric("fbeta", beta=2.0, threshold=0.5),
    fit_pairwise_auc,
    module_level_unregistered,
], ids=lambda m: f"{m.name}{m.params}")
def test_a_metric_pickles_by_reference_and_comes_back_the_same(metric):
    data = pickle.dumps(metric)
    assert len(data) < 400  # a reference, not the compiled program
    again = pickle.loads(data)
    assert again.name == metric.name and again.params == metric.params
    assert again.declaration is metric.declaration
    scores, labels = batch(classes=4) if metric.name == "topk_accuracy" else batch()
    assert torch.equal(again(scores, labels), metric(scores, labels))


def test_the_registered_metric_itself_comes_back_as_that_object():
    assert roundtrip(ml.get_metric("auc")) is ml.get_metric("auc")
    assert roundtrip(fit_pairwise_auc) is fit_pairwise_auc


def test_a_metric_declared_inside_a_function_and_not_registered_is_refused_with_the_reason():
    @ml.metric(register=False)
    def local(scores, labels):
        return (scores > 0).float().mean()

    with pytest.raises(pickle.PicklingError, match=r"metric `local` .* cannot be pickled: .* neither registered under "
                                                   r"its name \(register=False\) nor a module-level name"):
        pickle.dumps(local)
    assert copy.deepcopy(local) is local  # copies need no reference: a metric is immutable


def test_a_registered_metric_declared_anywhere_pickles_by_its_name():
    @ml.metric(name="fit_local_registered")
    def local(scores, labels):
        return (scores > 0).float().mean()

    assert roundtrip(local) is local


def test_unpickling_a_metric_this_process_does_not_have_says_which():
    @ml.metric(name="fit_gone")
    def gone(scores, labels):
        return (scores > 0).float().mean()

    data = pickle.dumps(gone)
    assert data.count(b"fit_gone") == 1
    # as another process pickles its own metric fit_lost, which this one never declared
    lost = data.replace(b"fit_gone", b"fit_lost")
    with pytest.raises(ml.PluginError, match=r"unpickling metric `fit_lost`.*no metric named 'fit_lost'"):
        pickle.loads(lost)


@pytest.mark.parametrize("kind", ["relaxation", "sampler", "interpolator"])
def test_every_registered_part_pickles_by_its_factory_and_parameters(kind):
    for entry in REGISTRY.entries(kind):
        part = entry.plugin()
        again = roundtrip(part)
        assert type(again) is type(part) and again.name == part.name and again.params == part.params, entry.name
        assert copy.deepcopy(part) is part


def test_parts_with_parameters_and_selections_come_back_with_them():
    relaxation, sampler = ml.sigmoid(tau=0.3), ml.good(8, flips=2)
    differences = torch.linspace(-2, 2, 9)
    assert torch.equal(roundtrip(relaxation)(differences), relaxation(differences))
    assert roundtrip(sampler).params == {"count": 8, "flips": 2}
    assert roundtrip(ml.inverse_distance(power=2.0)).params == {"power": 2.0, "eps": 1e-8}
    assert roundtrip(ml.hardest(0.3)).params == {"fraction": 0.3}
    assert roundtrip(ml.random_fraction(0.5)).name == "random_fraction"


def test_a_part_no_registered_factory_makes_is_refused_with_the_reason():
    unknown = ml.Relaxation("fit_unregistered", {}, torch.tanh)
    with pytest.raises(pickle.PicklingError, match=r"relaxation 'fit_unregistered' cannot be pickled: .* "
                                                   r"Register its factory with @metricloss.relaxation"):
        pickle.dumps(unknown)
    assert copy.deepcopy(unknown) is unknown


# --- the module -----------------------------------------------------------------------------------

def test_uniloss_survives_pickle_and_torch_save_of_a_model_holding_it():
    loss_fn = ml.UniLoss(ml.get_metric("topk_accuracy", k=2), relaxation=ml.gaussian_cdf(0.5),
                         samplers=["ideal", ml.good(8, flips=2), ml.random(8)], selection=ml.hardest(0.5), seed=3)
    torch.manual_seed(0)  # the layer's initial weights
    model = torch.nn.Sequential(torch.nn.Linear(5, 5))
    model.loss_fn = loss_fn
    scores, labels = batch(classes=5)
    loss_fn(scores, labels)  # loss_fn.last now holds a batch's terms: not part of what is saved
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    pickled = roundtrip(model)
    for other in (loaded.loss_fn, pickled.loss_fn):
        assert repr(other) == repr(loss_fn) and other.last is None
        assert other.metric.declaration is loss_fn.metric.declaration and other.metric.params == {"k": 2}
    expected = loss_fn(scores, labels)  # the same stream, drawn from where it was saved
    assert torch.equal(loaded.loss_fn(scores, labels), expected)
    assert torch.equal(pickled.loss_fn(scores, labels), expected)


def test_a_saved_model_loads_in_another_process(tmp_path):
    module = tmp_path / "fit_user_metrics.py"
    module.write_text(textwrap.dedent("""
        import metricloss as ml

        @ml.metric(best=1.0)
        def fit_user_auc(scores, labels):
            return (scores[labels == 1][:, None] > scores[labels == 0][None, :]).float().mean()
    """))
    save = textwrap.dedent("""
        import sys, torch, metricloss as ml
        from fit_user_metrics import fit_user_auc
        model = torch.nn.Module()
        model.loss_fn = ml.UniLoss(fit_user_auc, relaxation=ml.sigmoid(tau=0.5), seed=7)
        torch.save(model, sys.argv[1])
        scores, labels = torch.linspace(-1, 1, 10), (torch.arange(10) % 2)
        print(float(model.loss_fn(scores, labels)))
    """)
    load = textwrap.dedent("""
        import sys, torch
        model = torch.load(sys.argv[1], weights_only=False)   # imports fit_user_metrics by itself
        scores, labels = torch.linspace(-1, 1, 10), (torch.arange(10) % 2)
        print(float(model.loss_fn(scores, labels)), model.loss_fn.relaxation.params["tau"])
    """)
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT), str(ROOT / "plugins"),
                                                                os.environ.get("PYTHONPATH", "")])}
    outputs = []
    for code in (save, load):
        done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "model.pt")], capture_output=True, text=True,
                              env=environment, cwd=tmp_path, timeout=120)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.split())
    assert outputs[1] == [outputs[0][0], "0.5"]


def test_the_stream_lives_in_the_state_dict_and_a_resumed_loss_draws_what_an_uninterrupted_one_does():
    scores, labels = batch()
    uninterrupted = ml.UniLoss("auc", seed=5)
    first = [uninterrupted(scores, labels) for _ in range(2)]
    checkpoint = ml.UniLoss("auc", seed=5)
    for _ in range(2):
        checkpoint(scores, labels)
    saved = copy.deepcopy(checkpoint.state_dict())
    resumed = ml.UniLoss("auc", seed=123)
    resumed.load_state_dict(saved)
    assert torch.equal(resumed(scores, labels), uninterrupted(scores, labels))
    assert torch.equal(resumed(scores, labels), uninterrupted(scores, labels))
    assert not torch.equal(first[0], first[1])  # the stream moves on between calls


def test_a_generator_given_is_the_stream_and_is_restored_in_place():
    generator = torch.Generator().manual_seed(0)
    loss_fn = ml.UniLoss("auc", generator=generator)
    assert loss_fn.generator is generator
    state = loss_fn.state_dict()
    scores, labels = batch()
    expected = loss_fn(scores, labels)
    loss_fn.load_state_dict(state)
    assert loss_fn.generator is generator  # rewound in place, so whoever holds it sees it too
    assert torch.equal(loss_fn(scores, labels), expected)


def test_without_a_stream_the_state_dict_holds_none_and_loading_one_gives_the_module_that_stream():
    plain = ml.UniLoss("auc")
    assert plain.generator is None and plain.state_dict()["_extra_state"] is None
    plain.load_state_dict(ml.UniLoss("auc", seed=2).state_dict())
    scores, labels = batch()
    assert torch.equal(plain(scores, labels), ml.UniLoss("auc", seed=2)(scores, labels))


def test_seed_and_generator_are_checked():
    with pytest.raises(ml.InputError, match="a seed= or a generator=, not both"):
        ml.UniLoss("auc", seed=1, generator=torch.Generator())
    with pytest.raises(ml.InputError, match=r"seed must be a whole number from 0 to 2\*\*63 - 1, got -1"):
        ml.UniLoss("auc", seed=-1)
    with pytest.raises(ml.InputError, match=r"for a seed, seed=3 or torch.Generator\(\).manual_seed\(3\)"):
        ml.UniLoss("auc", generator=3)


def test_moving_the_module_moves_nothing_on_one_device_and_keeps_the_stream():
    loss_fn = ml.UniLoss("auc", seed=4)
    generator = loss_fn.generator
    loss_fn.to("cpu").float().to(torch.float64)
    assert loss_fn.generator is generator


def test_a_stream_re_seeded_on_another_kind_of_device_is_a_function_of_its_state():
    def drawn_after_loading(seed: int, offset: int) -> torch.Tensor:
        """What a CPU module draws after loading a CUDA stream's state (a seed and an offset)."""
        loss_fn = ml.UniLoss("auc", seed=0)
        loss_fn.set_extra_state({"device": "cuda", "generator": torch.tensor([seed, offset]).view(torch.uint8)})
        return torch.rand(8, generator=loss_fn.generator)

    assert torch.equal(drawn_after_loading(1, 0), drawn_after_loading(1, 0))
    assert not torch.equal(drawn_after_loading(1, 0), drawn_after_loading(1, 4))  # the stream moved on
    assert not torch.equal(drawn_after_loading(1, 0), drawn_after_loading(2, 0))
    assert not torch.equal(drawn_after_loading(1, 0), torch.rand(8, generator=torch.Generator().manual_seed(0)))


@pytest.mark.cuda
def test_the_stream_follows_to_and_the_scores_device():
    scores, labels = batch()
    loss_fn = ml.UniLoss("auc", seed=0)
    loss_fn.to("cuda")
    assert loss_fn.generator.device.type == "cuda"
    on_cuda = loss_fn(scores.cuda(), labels.cuda())
    again = ml.UniLoss("auc", seed=0)  # not moved: the first CUDA batch moves the stream the same way
    assert torch.equal(again(scores.cuda(), labels.cuda()), on_cuda)
    assert again.generator.device.type == "cuda"
    cpu_generator = ml.UniLoss("auc", generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(cpu_generator(scores.cuda(), labels.cuda()))  # a CPU generator beside CUDA scores
    state = loss_fn.state_dict()
    on_cpu = ml.UniLoss("auc", seed=9)
    on_cpu.load_state_dict(state)  # a CUDA stream loaded on the CPU: re-seeded from its state
    assert on_cpu.generator.device.type == "cpu"


# --- declaring again -----------------------------------------------------------------------------

def run_cell(source: str, namespace: dict, filename: str):
    exec(compile(source, filename, "exec"), namespace)


CELL = '''
import metricloss as ml

@ml.metric(best=1.0)
def fit_cell_metric(scores, labels):
    return (scores[labels == 1][:, None] > scores[labels == 0][None, :]).float().mean()
'''


def test_a_cell_run_twice_replaces_its_metric_and_an_edited_one_is_refused():
    namespace: dict = {"__name__": "__main__"}
    run_cell(CELL, namespace, "<cell-1>")  # IPython gives each run of a cell another file name
    first = namespace["fit_cell_metric"]
    run_cell(CELL, namespace, "<cell-2>")
    second = namespace["fit_cell_metric"]
    assert second is not first and ml.get_metric("fit_cell_metric") is second
    edited = CELL.replace("scores[labels == 0][None, :]", "scores[labels != 1][None, :]")
    with pytest.raises(ml.PluginError, match="two metrics are named 'fit_cell_metric'"):
        run_cell(edited, namespace, "<cell-3>")
    with pytest.raises(ml.PluginError, match=r"declared again with another definition; .* Restart the process"):
        run_cell(edited, namespace, "<cell-2>")  # the same place, another definition
    assert ml.get_metric("fit_cell_metric") is second


def test_a_changed_option_is_another_definition():
    namespace: dict = {"__name__": "__main__"}
    run_cell(CELL.replace("fit_cell_metric", "fit_cell_best"), namespace, "<cell-a>")
    with pytest.raises(ml.PluginError, match="two metrics are named 'fit_cell_best'"):
        run_cell(CELL.replace("fit_cell_metric", "fit_cell_best").replace("best=1.0", "best=1"), namespace, "<cell-b>")


def test_a_count_metric_run_twice_is_replaced_and_another_formula_is_refused():
    first = ml.count_metric("TP / (TP + FP)", name="fit_count", best=1.0)
    second = ml.count_metric("TP / (TP + FP)", name="fit_count", best=1.0)
    assert ml.get_metric("fit_count") is second is not first
    with pytest.raises(ml.PluginError, match="fit_count"):
        ml.count_metric("TP / (TP + FN)", name="fit_count", best=1.0)


def test_a_part_factory_run_twice_is_replaced_and_an_edited_one_is_refused():
    cell = '''
import metricloss as ml, torch

@ml.relaxation
def fit_cell_relaxation(scale=1.0):
    return ml.Relaxation("fit_cell_relaxation", {"scale": scale}, lambda d: torch.tanh(d / scale))
'''
    namespace: dict = {"__name__": "__main__"}
    run_cell(cell, namespace, "<part-1>")
    run_cell(cell, namespace, "<part-2>")
    assert get_plugin("relaxation", "fit_cell_relaxation") is namespace["fit_cell_relaxation"]
    with pytest.raises(ml.PluginError, match="two relaxations are named 'fit_cell_relaxation'"):
        run_cell(cell.replace("torch.tanh", "torch.erf"), namespace, "<part-3>")
    assert {k.name for k in REGISTRY.kinds()} >= {"relaxation"}


def test_a_declaration_whose_hooks_have_no_source_is_still_the_same_when_run_again():
    cell = CELL.replace("@ml.metric(best=1.0)", "@ml.metric(best=1.0, check=functools.partial(lambda limit, *a: None, 1))")
    cell = cell.replace("fit_cell_metric", "fit_cell_partial").replace("import metricloss as ml", "import functools\nimport metricloss as ml")
    namespace: dict = {"__name__": "__main__"}
    run_cell(cell, namespace, "<partial-1>")
    run_cell(cell, namespace, "<partial-2>")  # the partial's repr holds an address that differs between runs
    assert ml.get_metric("fit_cell_partial") is namespace["fit_cell_partial"]
