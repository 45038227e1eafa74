"""``metricloss diagnose``: how well ĝ tracks g, on given batches and along a short training run."""

import json
import math

import pytest
import torch

import metricloss as ml
from metricloss.cli import main
from metricloss.compiler.program import Program
from metricloss.diagnostics import FRACTIONS, diagnose, track
from metricloss.diagnostics.command import parse_anchors
from metricloss.diagnostics.ranks import spearman
from metricloss.diagnostics.draws import flip_count, flip_masks
from doc_commands import documented_invocations


def auc_batches(seed: int, count: int = 3, size: int = 24, margin: float = 1.5):
    """Batches like those met mid-training: positives ahead of negatives by ``margin`` on average."""
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.arange(size) % 3 == 0).long()
    return [(torch.randn(size, generator=generator) + margin * labels, labels) for _ in range(count)]


def test_track_gives_every_fraction_its_row():
    tracking = track("auc", auc_batches(0), draws=8)
    assert [row.fraction for row in tracking.rows] == list(FRACTIONS)
    assert [row.label for row in tracking.rows] == ["0", "1/512", "1/128", "1/32", "1/8", "1/2"]
    live = 8 * 16  # positives x negatives of each batch
    for row in tracking.rows:
        assert row.flips == flip_count(row.fraction, live)
        assert row.configurations == 3 * 8
        assert row.gap >= 0 and -1 <= row.spearman <= 1 and 0 <= row.sign_agreement <= 1
        assert row.sign_flips == 3 * 8  # AUC moves with every single flip
    assert tracking.batches == 3 and tracking.skipped == 0 and tracking.binaries == live
    assert 0 <= tracking.saturated <= 1 and 0 <= tracking.near_zero <= 1


def test_at_fraction_zero_auc_is_tracked_closely_with_mostly_the_right_signs():
    """Each seed's 48 configurations: a small gap, most signs right, and a far larger gap with half
    the binaries flipped (far from every anchor but the random ones). The share of right signs
    varies from seed to seed; its mean over the seeds is the claim."""
    agreements = []
    for seed in range(5):
        tracking = track("auc", auc_batches(seed), draws=16, seed=seed)
        met, far = tracking.row(0.0), tracking.row(0.5)
        assert met.gap < 0.15, (seed, met.gap)
        assert met.sign_agreement >= 0.7, (seed, met.sign_agreement)
        assert far.gap > met.gap + 0.15, (seed, met.gap, far.gap)
        agreements.append(met.sign_agreement)
    assert sum(agreements) / len(agreements) >= 0.8, agreements


def test_flip_counts_and_masks():
    assert [flip_count(f, 1000) for f in FRACTIONS] == [0, 2, 8, 31, 125, 500]
    assert [flip_count(f, 10) for f in FRACTIONS] == [0, 1, 1, 1, 1, 5]  # at least one when f > 0
    masks = flip_masks(50, 7, 30, torch.Generator().manual_seed(0), "cpu")
    assert masks.shape == (50, 30) and bool((masks.sum(1) == 7).all())


def test_dead_binaries_and_twins_keep_their_hard_values(monkeypatch):
    @ml.metric(best=1.0, register=False)
    def graded_concordance(scores, grades):
        above = scores[:, None] > scores[None, :]
        ordered = grades[:, None] > grades[None, :]  # a target-only mask: pairs it zeroes are dead
        return (above & ordered).float().sum() / ordered.float().sum()

    generator = torch.Generator().manual_seed(0)
    scores, grades = torch.randn(12, generator=generator), torch.randint(0, 3, (12,), generator=generator)
    binaries = graded_concordance.binaries(scores, grades)
    assert binaries.dead is not None and bool(binaries.dead.any())
    seen = []
    values = Program.values

    def recording(self, binaries, configurations, pinned=False, **kwargs):
        # what g sees: the configurations as given when pinned, else after values() pins them
        seen.append(configurations if pinned else binaries.pin_dead(configurations))
        return values(self, binaries, configurations, pinned, **kwargs)

    monkeypatch.setattr(Program, "values", recording)
    track(graded_concordance, [(scores, grades)], draws=8)
    rows = torch.cat(seen)
    assert rows.shape[0] > 6 * 2 * 8
    assert bool((rows[:, binaries.dead] == binaries.hard[binaries.dead]).all())


def test_any_parts_and_an_interpolator_vmap_cannot_batch():
    def idw_one_at_a_time(power: float = 1.0):
        def interpolate(squared_distances, values):
            assert squared_distances.dim() == 1 and float(squared_distances.detach().min()) >= 0  # .item(): no vmap
            weights = (squared_distances.sqrt() + 1e-8).pow(-power)
            return (weights * values).sum() / weights.sum()

        return ml.Interpolator("idw_one_at_a_time", {"power": power}, interpolate)

    parts = [
        dict(relaxation=ml.gaussian_cdf(0.5), samplers=[ml.ideal(4), ml.element_nearby(8, "both")],
             interpolator=ml.nearest(k=6), selection=ml.hardest(0.5)),
        dict(relaxation=ml.linear(2.0), samplers=[ml.good(8, flips=2), ml.random(8)],
             interpolator=idw_one_at_a_time(), sizes=ml.Sizes(dense=0, g_chunk=64)),  # one draw per chunk
        dict(relaxation="gaussian_cdf", samplers=["ideal", "nearby"], interpolator="gaussian_kernel"),
    ]
    for part in parts:
        tracking = track(ml.get_metric("auc"), auc_batches(3, count=2), draws=4, **part)
        assert len(tracking.rows) == len(FRACTIONS)
        assert all(math.isfinite(row.gap) and row.configurations == 2 * 4 for row in tracking.rows)


def test_spearman_matches_scipy_with_ties():
    stats = pytest.importorskip("scipy.stats")
    generator = torch.Generator().manual_seed(0)
    first = torch.randint(0, 5, (40,), generator=generator).double()
    second = first + torch.randint(0, 3, (40,), generator=generator)
    assert spearman(first, second) == pytest.approx(stats.spearmanr(first, second).statistic, abs=1e-12)
    assert math.isnan(spearman(first, torch.ones(40)))


def test_undefined_batches_are_skipped_and_all_undefined_is_an_error():
    labels = torch.zeros(8, dtype=torch.long)
    tracking = track("auc", auc_batches(0, count=1) + [(torch.randn(8), labels)], draws=4)
    assert tracking.batches == 1 and tracking.skipped == 1
    with pytest.raises(ml.InputError, match="undefined .* on every one"):
        track("auc", [(torch.randn(8), labels)])


def test_diagnose_trains_each_tau_and_recommends_a_loss_that_runs():
    diagnosis = diagnose("binary", metric=ml.get_metric("auc"), tau=[0.3, 3.0], steps=3, collect=2, draws=4,
                         anchors=[[ml.ideal(4), ml.nearby(4), ml.random(4)]])
    assert [block.tau for block in diagnosis.blocks] == [0.3, 3.0]
    assert diagnosis.blocks[0].anchors == {"ideal": 4, "nearby": 4, "random": 4}
    assert diagnosis.blocks[0].run.collected_steps == (1, 3)
    loss_fn = eval(diagnosis.recommendation.code, {"ml": ml})
    assert isinstance(loss_fn, ml.UniLoss) and loss_fn.relaxation.params["tau"] == diagnosis.recommendation.tau
    loss_fn(torch.randn(6), torch.tensor([1, 0, 1, 0, 0, 1]))


def test_a_short_run_is_the_start_of_the_tasks_schedule():
    from metricloss.diagnostics.training import short_run

    run = short_run("binary", metric="auc", steps=2, collect=5)
    assert run.schedule_epochs == 30 and run.collected_steps == (1, 2) and len(run.batches) == 2
    assert short_run("binary", metric="auc", epochs=1, collect=1).schedule_epochs == 1


def test_command_writes_the_table_the_json_and_the_plot(tmp_path, capsys):
    out = tmp_path / "diagnosis"
    code = main(["diagnose", "--metric", "auc", "--steps", "2", "--collect", "2", "--draws", "4",
                 "--tau", "0.5,2", "--anchors", "4", "ideal=4,random=8", "--out", str(out)])
    assert code == 0
    record = json.loads((out / "diagnosis.json").read_text())
    assert [block["tau"] for block in record["blocks"]] == [0.5, 0.5, 2.0, 2.0]
    assert record["blocks"][1]["anchors"] == {"ideal": 4, "random": 8}
    assert all(len(block["rows"]) == len(FRACTIONS) for block in record["blocks"])
    assert (out / "diagnosis.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert printed.count("| distance |") == 4 and "recommended:" in printed
    assert (out / "diagnosis.md").read_text().startswith("metricloss diagnose: task binary, metric auc")


@pytest.mark.parametrize("options, message", [
    (["--tau", "0"], "--tau must be positive"),
    (["--tau=-1,2"], "--tau must be positive"),
    (["--tau", "fast"], "is not a number"),
    (["--metric", "aucc"], "aucc"),
    (["--steps", "0"], "steps must be a positive whole number"),
    (["--anchors", "1,2"], "--anchors takes"),
    (["--anchors", "0"], "no anchor at all"),
    (["--interpolator", "inverse_distance:power"], "'power' in 'inverse_distance:power' is not KEY=VALUE"),
    (["--interpolator", "inverse_distance:pow=4"], "interpolator 'inverse_distance' does not take these parameters"),
    (["--interpolator", "spline"], "no interpolator named 'spline'"),
    (["--relaxation", "sigmoid:tau=fast"], "sigmoid"),
])
def test_bad_options_are_metricloss_errors_with_exit_code_2(options, message, tmp_path, capsys):
    assert main(["diagnose", *options, "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert error.startswith("metricloss: ") and message in error
    assert not (tmp_path / "diagnosis.json").exists()


def test_anchor_settings():
    assert [(s.name, s.params["count"]) for s in parse_anchors("8")] == [
        ("ideal", 8), ("good", 8), ("nearby", 8), ("random", 8)]
    assert [s.params["count"] for s in parse_anchors("1,2,3,4")] == [1, 2, 3, 4]
    assert [s.name for s in parse_anchors("element_nearby=8,random=4")] == ["element_nearby", "random"]
    with pytest.raises(ml.PluginError):
        parse_anchors("nowhere=3")


def _block(tau, signs, gaps, stuck=math.nan, near_zero=0.0, pulls=()):
    from types import SimpleNamespace

    from metricloss.diagnostics.tracking import Row, fraction_label

    rows = [Row(f, fraction_label(f), 1.0, 8, gap, 0.5, 0.5, sign, 8) for f, sign, gap in zip(FRACTIONS, signs, gaps)]
    loss_fn = ml.UniLoss("auc", relaxation=ml.sigmoid(tau=tau))
    return SimpleNamespace(tau=tau, tracking=SimpleNamespace(rows=rows, stuck=stuck, near_zero=near_zero, pulls=pulls),
                           run=SimpleNamespace(loss_fn=loss_fn))


def test_the_recommendation_wants_the_signs_right_then_the_smallest_gap():
    from metricloss.diagnostics.recommend import recommend

    saturated = _block(0.1, [0.1] * 6, [0.10] * 6, stuck=0.97)  # wrong signs: not recommended
    middle = _block(1.0, [0.9] * 6, [0.25] * 6)
    flat = _block(10.0, [1.0] * 6, [0.40] * 6, near_zero=0.75)  # right signs, far from g
    chosen = recommend([saturated, middle, flat])
    assert chosen.tau == 1.0 and chosen.index == 1 and not chosen.caution
    assert chosen.code.startswith("ml.UniLoss('auc', relaxation=ml.sigmoid(tau=1.0), samplers=[ml.ideal(count=16)")
    only_flat = recommend([saturated, flat])
    assert only_flat.tau == 10.0 and "near 0" in only_flat.caution
    assert recommend([saturated]).tau == 0.1 and "no block reaches" in recommend([saturated]).reason


@pytest.mark.parametrize("parts", [
    {},
    dict(margin=0.5, selection=ml.random_fraction(0.5), relaxation=ml.sigmoid(tau=0.3)),
    dict(margin=0.2, selection=ml.hardest(0.3), samplers=[ml.nearby(8), ml.random(8)], sizes=ml.Sizes(dense=0)),
])
def test_at_distance_zero_the_estimate_is_the_losses_own(parts):
    from metricloss.diagnostics.tracking import track_batch
    from metricloss.loss.samplers import default_samplers
    from metricloss.loss.surrogate import uniloss_terms

    metric = ml.get_metric("auc")
    (scores, labels), = auc_batches(4, count=1)
    full = dict(relaxation=ml.sigmoid(), samplers=default_samplers(),
                interpolator=ml.inverse_distance(), selection=None, sizes=ml.Sizes(), margin=0.0)
    full.update(parts)
    terms = uniloss_terms(metric, scores, labels, generator=torch.Generator().manual_seed(5), **full)
    batch = track_batch(metric, scores, labels, fractions=(0.0,), draws=3, generator=torch.Generator().manual_seed(5),
                        **full)
    met = batch.draws[0]
    assert torch.allclose(met.estimate, terms.estimate.double().expand(3), atol=1e-6)
    assert torch.allclose(met.exact, terms.value.double().expand(3))


def test_collect_is_checked_before_any_training():
    from metricloss.diagnostics.diagnose import diagnose

    with pytest.raises(ml.InputError, match="collect must be a positive int .* got 0"):
        diagnose("binary", metric="auc", tau="auto", collect=0, steps=1)


def test_a_gradient_that_sharpens_the_current_order_gets_a_caution():
    from metricloss.diagnostics.pulls import WHOLE, Pull
    from metricloss.diagnostics.recommend import recommend

    def whole(toward_ideal, toward_hard):
        return (Pull(WHOLE, 1.0, 0.8, 1.0, toward_ideal, toward_hard),)

    sharpening = recommend([_block(1.0, [0.9] * 6, [0.2] * 6, pulls=whole(0.46, 0.65))])
    assert "points more toward the current hard binaries (cosine 0.65) than toward b* (0.46)" in sharpening.caution
    assert "--interpolator inverse_distance:power=4" in sharpening.caution
    for ideal, hard in ((0.93, 0.20), (0.99, 0.99), (0.40, 0.45)):  # toward b*, b is b*, within the margin
        assert not recommend([_block(1.0, [0.9] * 6, [0.2] * 6, pulls=whole(ideal, hard))]).caution
    # a block that passes the signs without sharpening is chosen over one that sharpens at a lower gap
    steady = _block(4.0, [0.8] * 6, [0.25] * 6, pulls=whole(0.93, 0.20))
    chosen = recommend([_block(1.0, [1.0] * 6, [0.15] * 6, pulls=whole(0.46, 0.65)), steady])
    assert chosen.index == 1 and not chosen.caution
    assert "whose gradient does not sharpen the current order (1 more reach 0.75 but do)" in chosen.reason
    assert recommend([_block(1.0, [1.0] * 6, [0.15] * 6, pulls=whole(0.46, 0.65))]).index == 0  # none steadier


@pytest.mark.parametrize("selection", [None, ml.hardest(0.3)])
@pytest.mark.parametrize("scores_kind", ["spread", "tied", "constant"])
def test_the_samplers_pulls_add_up_to_the_loss_s_own_gradient(selection, scores_kind):
    """Each sampler's pull holds the other samplers' distances fixed, so together they are the whole
    gradient of the loss's estimate in x: the "all" row's cosine is that gradient's, computed here
    through the loss's own interpolation. Weights and shares each sum to one over the samplers.
    Scores as a collapsed model gives them too: integers from a small range, all equal."""
    from metricloss.diagnostics.pulls import WHOLE, batch_pulls
    from metricloss.loss import interpolate, prepare_batch
    from metricloss.loss.samplers import default_samplers

    metric = ml.get_metric("auc")
    (scores, labels), = auc_batches(2, count=1)
    if scores_kind == "tied":
        scores = torch.randint(0, 3, scores.shape, generator=torch.Generator().manual_seed(2)).float()
    elif scores_kind == "constant":
        scores = torch.zeros_like(scores)
    parts = dict(relaxation=ml.sigmoid(), samplers=default_samplers(), interpolator=ml.inverse_distance(power=2.0),
                 selection=selection, sizes=ml.Sizes(), margin=0.0)
    pulls = batch_pulls(metric, scores, labels, generator=torch.Generator().manual_seed(3), **parts)
    assert [p.sampler for p in pulls] == ["ideal", "good", "nearby", "random", WHOLE]
    assert sum(p.weight for p in pulls[:-1]) == pytest.approx(1.0, rel=1e-5)
    assert sum(p.share for p in pulls[:-1]) == pytest.approx(1.0, rel=1e-6)
    interpolator = parts.pop("interpolator")
    batch = prepare_batch(metric, scores, labels, generator=torch.Generator().manual_seed(3),
                          **{**parts, "sizes": ml.Sizes(dense=0)})
    if batch.ideal.free is None and batch.selected is None:  # b*'s copies pull straight at it
        assert pulls[0].value == 1.0 and pulls[0].toward_ideal == pytest.approx(1.0)
    point = batch.relaxed.detach().requires_grad_(True)
    estimate = interpolate(batch.anchor_sets, batch.anchor_values, point, interpolator)
    gradient, = torch.autograd.grad(estimate, point)
    if batch.selected is not None:  # what the selection holds at +-1 does not move
        gradient = torch.zeros_like(gradient).index_copy_(0, batch.selected, gradient[batch.selected])
    toward = batch.binaries.restrict(batch.ideal.configuration).double() * 2 - 1 - point.detach().double()
    if batch.ideal.free is not None:
        toward = toward * ~batch.binaries.restrict(batch.ideal.free)
    cosine = float(gradient.double() @ toward / (gradient.double().norm() * toward.norm()))
    assert pulls[-1].toward_ideal == pytest.approx(cosine, abs=1e-6)
    assert pulls[-1].value == pytest.approx(float(estimate.detach()), abs=1e-6)


def test_several_interpolators_are_a_block_each_with_where_the_gradient_comes_from(tmp_path, capsys):
    out = tmp_path / "interpolators"
    assert main(["diagnose", "--metric", "auc", "--steps", "2", "--collect", "2", "--draws", "4", "--interpolator",
                 "inverse_distance:power=1", "inverse_distance:power=4", "--out", str(out)]) == 0
    blocks = json.loads((out / "diagnosis.json").read_text())["blocks"]
    assert [b["interpolator"] for b in blocks] == ["inverse_distance(power=1, eps=1e-08)",
                                                   "inverse_distance(power=4, eps=1e-08)"]
    assert blocks[0]["label"] != blocks[1]["label"]  # the tables tell the two apart
    for block in blocks:
        assert [p["sampler"] for p in block["pulls"]] == ["ideal", "good", "nearby", "random", "all"]
    assert capsys.readouterr().out.count("where the gradient comes from") == 2


def test_every_diagnose_command_the_docs_give_parses():
    # each must pass the command's own parsing as written (taus, anchor settings, parts with parameters)
    from metricloss.diagnostics.command import diagnose_command, parse_part, parse_taus

    invocations = documented_invocations("diagnose", diagnose_command)
    assert len(invocations) >= 10
    for line, args in invocations:
        parse_taus(args.tau)
        for text in args.anchors or ():
            parse_anchors(text)
        for text in args.interpolator or ():
            parse_part("interpolator", text, "--interpolator")
        if args.relaxation:
            parse_part("relaxation", args.relaxation, "--relaxation")
        ml.get_metric(args.metric or "auc")
