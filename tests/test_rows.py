"""Anchors evaluated through g's row split (compiler/rows/, loss/row_values.py) give the values g
itself gives on the same anchors, ties included; the loss says when it took that path."""

import pytest
import torch

import metricloss as ml
from metricloss.compiler.rewrites import order_from_ranks
from metricloss.compiler.rows import row_split
from metricloss.compiler.rows.counted import stable_order
from metricloss.loss.anchors import DenseAnchors, FlipAnchors, RandomAnchors, signs
from metricloss.loss.packed import pack_rows, true_sums
from metricloss.loss.row_values import values_by_rows
from metricloss.loss.samplers import SamplingContext, element_nearby, good, ideal, nearby, random, random_words


def ndcg_at_5(scores, relevance):
    order = scores.argsort(dim=1, descending=True, stable=True)
    gains = (2 ** relevance.gather(1, order)[:, :5] - 1).float()
    discounts = 1 / torch.log2(torch.arange(2, 7, dtype=torch.float32))
    ideal_gains = (2 ** relevance.sort(dim=1, descending=True).values[:, :5] - 1).float()
    return ((gains * discounts).sum(1) / (ideal_gains * discounts).sum(1).clamp(min=1e-9)).mean()


def first_hit(scores, relevance):
    order = scores.argsort(dim=1, descending=True, stable=True)
    relevant = relevance.gather(1, order) > 0
    return (relevant.any(1).float() / (relevant.float().argmax(dim=1) + 1).float()).mean()


def macro_f1_by_class(scores, labels):
    """A loop over classes: a block per class and its negation, per-class counts over samples."""
    predicted = scores.argmax(1)
    per_class = []
    for c in range(scores.shape[1]):
        tp = ((predicted == c) & (labels == c)).sum()
        fp = ((predicted == c) & (labels != c)).sum()
        fn = ((predicted != c) & (labels == c)).sum()
        per_class.append(2 * tp / (2 * tp + fp + fn).clamp(min=1))
    return torch.stack(per_class).mean()


def pairs_mostly_right(scores, labels):
    """Per query, whether more than half of its (positive, negative) pairs are ordered right, ties
    counting half: twin blocks (> and >=), a per-row quantity that is not a sum."""
    wins = (scores[:, :, None] > scores[:, None, :]).float() + (scores[:, :, None] >= scores[:, None, :]).float()
    pairs = (labels[:, :, None] > labels[:, None, :]).float()
    return ((wins * pairs).sum((1, 2)) > pairs.sum((1, 2))).float().mean()


def _ranking(seed, ties=False, queries=6, items=9):
    generator = torch.Generator().manual_seed(seed)
    scores = (torch.randint(0, 3, (queries, items), generator=generator).float() if ties
              else torch.randn(queries, items, generator=generator))
    relevance = torch.randint(0, 3, (queries, items), generator=generator)
    relevance[:, 0] = 2  # every query has a relevant item
    return scores, (relevance,)


def _classes(seed, ties=False, samples=20, classes=7):
    generator = torch.Generator().manual_seed(seed)
    scores = (torch.randint(0, 2, (samples, classes), generator=generator).float() if ties
              else torch.randn(samples, classes, generator=generator))
    return scores, (torch.randint(0, classes, (samples,), generator=generator),)


def _pose(seed, ties=False):
    generator = torch.Generator().manual_seed(seed)
    heatmaps = torch.randn(3, 2, 8, 8, generator=generator)
    if ties:
        heatmaps = heatmaps.round()
    joints = torch.rand(3, 2, 2, generator=generator) * 6 + 1
    return heatmaps, (joints, torch.tensor([4.0, 6.0, 5.0]), torch.ones(3, 2, dtype=torch.bool))


def _padded_ranking(seed, ties=False):
    """Lists of unequal length, padded with relevance -1 (the built-ins' padding: dead binaries)."""
    scores, (relevance,) = _ranking(seed, ties)
    relevance[1, 5:] = -1
    relevance[3, 7:] = -1
    return scores, (relevance,)


CASES = {
    "accuracy": ("accuracy", _classes),
    "topk_accuracy": ("topk_accuracy", _classes),
    "average_precision": ("average_precision", None),
    "pckh": ("pckh", _pose),
    "ndcg_at_5": (ml.metric(register=False)(ndcg_at_5), _ranking),
    "first_hit": (ml.metric(register=False)(first_hit), _ranking),
    "pairs_mostly_right": (ml.metric(register=False, best=1.0)(pairs_mostly_right), _ranking),
    "macro_f1_by_class": (ml.metric(register=False)(macro_f1_by_class), _classes),
    "ndcg_at_k_padded": ("ndcg_at_k", _padded_ranking),
    "mrr_padded": ("mrr", _padded_ranking),
}
# Their per-row part reads the blocks only through rank counts: flips update the counts.
COUNTED = {"ndcg_at_5", "first_hit", "ndcg_at_k_padded", "mrr_padded", "topk_accuracy"}


def _batch(name, seed, ties):
    metric, make = CASES[name]
    if make is None:  # average precision: a 1-d batch of binary labels
        generator = torch.Generator().manual_seed(seed)
        scores = torch.randint(0, 4, (30,), generator=generator).float() if ties else torch.randn(30, generator=generator)
        labels = (torch.rand(30, generator=generator) < 0.4).long()
        labels[:2] = torch.tensor([1, 0])
        return ml.get_metric(metric), scores, (labels,)
    if name == "pairs_mostly_right":
        scores, (relevance,) = make(seed, ties)
        labels = (relevance > 0).long()
        labels[:, 1] = 0  # a positive and a negative in every query
        return metric, scores, (labels,)
    metric = ml.get_metric(metric) if isinstance(metric, str) else metric
    return metric, *make(seed, ties)


SAMPLERS = [ideal(3), good(5), good(4, flips=3), nearby(5), random(11), element_nearby(4, "both")]


def _anchors(metric, scores, targets, seed):
    binaries = metric.binaries(scores, *targets)
    compiled = metric.compiled_for(scores, *targets)
    found = compiled.ideal(binaries, scores, targets)
    program = compiled.program
    spread = (binaries.count, binaries.live) if binaries.dead is not None and not binaries.twin_blocks else None
    context = SamplingContext(
        ideal=binaries.restrict(found.configuration), current=binaries.restrict(binaries.hard),
        generator=torch.Generator().manual_seed(seed), elements=lambda: program.elements(scores, targets, binaries),
        spread_over=spread)
    sets = [sampler(context) for sampler in SAMPLERS]
    if found.free is not None:  # the sets based on b* stand for its free face
        sets = [a.on_ideal_face(context.ideal, binaries.restrict(found.free)) for a in sets]
    leading = torch.stack([binaries.hard, found.configuration])
    return program, binaries, leading, sets, context


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", sorted(CASES))
def test_anchor_values_through_rows_equal_g_on_the_same_anchors(name, seed, ties):
    metric, scores, targets = _batch(name, seed, ties)
    program, binaries, leading, sets, context = _anchors(metric, scores, targets, seed)
    split = program.analysis(binaries).rows
    assert split is not None, f"{name}: no row split"
    assert (split.counted is not None) == (name in COUNTED)
    bases = {} if binaries.twin_blocks else {id(context.ideal): 1, id(context.current): 0}
    for chunk in (1 << 20, 1):  # one call of the per-row part, and one row per call
        values = values_by_rows(program, binaries, split, leading, sets, ml.Sizes(rows_chunk=chunk), bases)
        direct = [program.values(binaries, leading)] + [
            program.values(binaries, binaries.complete(a.configurations(0, a.distinct))) for a in sets]
        torch.testing.assert_close(values, torch.cat(direct), rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("constant", [False, True], ids=["ties", "constant"])
@pytest.mark.parametrize("name", sorted(COUNTED))
def test_counted_rows_take_anchors_given_bit_by_bit_and_random_ones_drawn_over_the_live_binaries(name, constant):
    # the counts of a configuration that is neither packed over every binary nor a flip set come
    # from completing it: anchors given bit by bit, and packed ones whose bytes cover the live
    # binaries alone (a sampler of one's own may draw them so even where some binaries are dead)
    metric, scores, targets = _batch(name, 1, True)
    if constant:  # a collapsed model: every score tied
        scores = torch.zeros_like(scores)
    program, binaries, leading, _, context = _anchors(metric, scores, targets, 1)
    split = program.analysis(binaries).rows
    generator = torch.Generator().manual_seed(5)
    live = binaries.live_count
    sets = [DenseAnchors(torch.rand(5, live, generator=generator) < 0.5),
            RandomAnchors(random_words(9, live, generator, "cpu"), 9),
            FlipAnchors(context.current, torch.tensor([[0, live - 1], [1, 1]]))]
    for chunk in (1 << 20, 1):
        values = values_by_rows(program, binaries, split, leading, sets, ml.Sizes(rows_chunk=chunk), {})
        direct = [program.values(binaries, leading)] + [
            program.values(binaries, binaries.complete(a.configurations(0, a.distinct))) for a in sets]
        torch.testing.assert_close(values, torch.cat(direct), rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_loss_says_it_took_the_row_path_and_matches_the_chunked_one(name, monkeypatch):
    from metricloss.compiler.program import Analysis, Program

    metric, scores, targets = _batch(name, 3, False)

    def loss_and_gradient():
        leaf = scores.clone().requires_grad_()
        loss_fn = ml.UniLoss(metric, generator=torch.Generator().manual_seed(4), sizes=ml.Sizes(dense=0))
        loss = loss_fn(leaf, *targets)
        loss.backward()
        return loss_fn.last.path, loss.detach(), leaf.grad

    path, *through_rows = loss_and_gradient()
    assert path == "rows"
    analysis = Program.analysis
    monkeypatch.setattr(Program, "analysis", lambda self, b: Analysis(None, analysis(self, b).scalar_statistics))
    path, *chunked = loss_and_gradient()
    assert path == "chunked"
    torch.testing.assert_close(through_rows, chunked, rtol=0, atol=0)


def test_metrics_without_per_row_structure_have_no_row_split():
    # AUC is a mean over every (positive, negative) pair: its frontier would be the block itself
    scores, labels = torch.randn(40), (torch.arange(40) % 3 == 0).long()
    auc = ml.get_metric("auc")
    assert auc.compiled.program.analysis(auc.binaries(scores, labels)).rows is None


def test_a_row_split_is_refused_where_the_number_of_rows_is_read_inside_g():
    from metricloss.compiler.rows import record

    def g(b0):
        correct = b0.all(-1)
        return (correct.float() / correct.shape[0]).sum()

    module = torch.fx.symbolic_trace(g)
    blocks = [torch.rand(20, 6) < 0.5]
    assert row_split(module, 1, blocks, record(module, blocks, ())) is None

    def h(b0):  # the same without the count: a split, and the values it gives are g's
        return b0.all(-1).float().mean()

    module = torch.fx.symbolic_trace(h)
    split = row_split(module, 1, blocks, record(module, blocks, ()))
    assert split is not None and split.frontier_shapes == (torch.Size([20]),)
    frontier = split.part(blocks[0], None)
    assert torch.equal(split.rest(*frontier), h(blocks[0]))


def test_a_row_split_is_refused_when_blocks_do_not_share_their_rows():
    graph_metric = ml.get_metric("accuracy")
    scores, targets = _classes(0)
    binaries = graph_metric.binaries(scores, *targets)
    program = graph_metric.compiled.program
    blocks = [binaries.hard.view(binaries.shapes[0]), torch.zeros(3, 4, dtype=torch.bool)]
    assert row_split(program.g_module, 2, blocks, {}) is None


def test_order_from_ranks_inverts_a_permutation_and_orders_any_counts():
    generator = torch.Generator().manual_seed(0)
    for size in (1, 2, 5, 11):
        permutation = torch.rand(7, 3, size, generator=generator).argsort(-1)
        inverse = torch.empty_like(permutation).scatter_(-1, permutation, torch.arange(size).expand_as(permutation))
        assert torch.equal(order_from_ranks(inverse), permutation)  # the order of real scores, exactly
        counts = torch.randint(0, size, (7, 3, size), generator=generator)  # an anchor's counts: ties, gaps
        order = order_from_ranks(counts)
        assert torch.equal(order.sort(-1).values, torch.arange(size).expand_as(order))  # every item once
        ranked = counts.gather(-1, order)
        assert bool((ranked[..., 1:] >= ranked[..., :-1]).all())  # by count
        tied = ranked[..., 1:] == ranked[..., :-1]
        assert bool((order[..., 1:] > order[..., :-1])[tied].all())  # equal counts in index order
        assert torch.equal(torch.func.vmap(order_from_ranks)(counts), order)


@pytest.mark.parametrize("count", [1, 8, 13])
def test_packed_anchors_give_the_distances_statistics_and_gradient_of_their_bits(count):
    generator = torch.Generator().manual_seed(count)
    points = torch.rand(count, 301, generator=generator) < 0.5
    words = pack_rows(points)
    anchors = RandomAnchors(words, count)
    assert torch.equal(anchors.configurations(0, count), points)
    assert torch.equal(anchors.configurations(count // 2, count), points[count // 2:])
    relaxed = (torch.rand(301, generator=generator) * 2 - 1).requires_grad_()
    weights = torch.rand(count, generator=generator)
    (grad,) = torch.autograd.grad((anchors.squared_distances(relaxed) * weights).sum(), relaxed)
    direct = (relaxed - signs(points)).square().sum(1)
    (direct_grad,) = torch.autograd.grad((direct * weights).sum(), relaxed)
    torch.testing.assert_close(anchors.squared_distances(relaxed), direct)
    torch.testing.assert_close(grad, direct_grad)
    matrix = torch.randn(3, 301, dtype=torch.float64, generator=generator)
    torch.testing.assert_close(true_sums(words, matrix)[:count], points.double() @ matrix.T)


def test_flip_distances_on_the_ideal_face_leave_the_fixed_binaries_out():
    generator = torch.Generator().manual_seed(0)
    base, fixed = torch.rand(200, generator=generator) < 0.5, torch.rand(200, generator=generator) < 0.3
    anchors = FlipAnchors(base, torch.randint(0, 200, (6, 2), generator=generator), fixed)
    relaxed = (torch.rand(200, generator=generator) * 2 - 1).requires_grad_()
    direct = (relaxed - signs(anchors.configurations(0, 6))).square().masked_fill(fixed, 0).sum(1)
    torch.testing.assert_close(anchors.squared_distances(relaxed), direct)
    (grad,) = torch.autograd.grad(anchors.squared_distances(relaxed).sum(), relaxed)
    (direct_grad,) = torch.autograd.grad(direct.sum(), relaxed)
    torch.testing.assert_close(grad, direct_grad)


def test_random_anchors_over_every_binary_pin_the_dead_ones():
    scores, targets = _ranking(0)
    metric = CASES["ndcg_at_5"][0]
    binaries = metric.binaries(scores, *targets)
    assert binaries.dead is not None and not binaries.twin_blocks  # the rank's self-comparisons
    context = SamplingContext(ideal=binaries.restrict(binaries.hard), current=binaries.restrict(binaries.hard),
                              generator=torch.Generator().manual_seed(0), spread_over=(binaries.count, binaries.live))
    anchors = random(10)(context)
    assert anchors.words.shape[1] == binaries.count
    full = anchors.full_rows(binaries)(0, 10)
    assert torch.equal(full, binaries.complete(anchors.configurations(0, 10)))


@pytest.mark.parametrize("ties", [False, True], ids=["distinct", "ties"])
def test_a_split_of_g_whose_shapes_follow_the_data_is_kept_under_its_nodes_shapes(ties):
    # mrr keeps the queries with a relevant item by a mask: the split holds for batches whose mask
    # keeps as many, and another count gets its own, whose anchor values are still g's
    mrr = ml.get_metric("mrr")
    program = mrr.compiled.program
    splits, batches = [], []
    for seed, without in ((0, 0), (1, 0), (2, 2)):
        scores, (relevance,) = _ranking(seed, ties)
        relevance[:without] = 0  # queries without a relevant item
        binaries = mrr.binaries(scores, relevance)
        splits.append(program.analysis(binaries).rows)
        batches.append((scores, relevance))
    assert all(split is not None for split in splits)
    assert splits[0] is splits[1] and splits[2] is not splits[0]
    scores, relevance = batches[2]
    program, binaries, leading, sets, _ = _anchors(mrr, scores, (relevance,), 2)
    values = values_by_rows(program, binaries, splits[2], leading, sets, ml.Sizes(), {})
    direct = [program.values(binaries, leading)] + [
        program.values(binaries, binaries.complete(a.configurations(0, a.distinct))) for a in sets]
    torch.testing.assert_close(values, torch.cat(direct), rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("constant", [False, True], ids=["ties", "constant"])
@pytest.mark.parametrize("name", ["ndcg_at_5", "ndcg_at_k_padded"])
def test_counts_take_a_repeated_flip_once_and_flips_of_one_row_together(name, constant):
    metric, scores, targets = _batch(name, 0, True)
    if constant:  # a collapsed model: every item of a list tied
        scores = torch.zeros_like(scores)
    program, binaries, leading, _, context = _anchors(metric, scores, targets, 0)
    split = program.analysis(binaries).rows
    assert split.counted is not None
    live = binaries.live_count
    per_row = live // split.rows if binaries.live is None else 3  # some flips share a row, some do not
    flips = torch.tensor([[0, 0, 1], [1, 2, 1], [0, per_row, live - 1], [live - 1, live - 1, live - 1]])
    sets = [FlipAnchors(context.current, flips), FlipAnchors(context.ideal, flips)]
    values = values_by_rows(program, binaries, split, leading, sets, ml.Sizes(), {})
    direct = [program.values(binaries, leading)] + [
        program.values(binaries, binaries.complete(a.configurations(0, a.distinct))) for a in sets]
    torch.testing.assert_close(values, torch.cat(direct), rtol=0, atol=0, equal_nan=True)


@pytest.mark.parametrize("shape", [(350, 100), (4, 64, 100), (2000, 2), (3, 5)])
@pytest.mark.parametrize("spread", [1, 3, 1000], ids=["constant", "tied", "wide"])
@pytest.mark.parametrize("descending", [False, True])
def test_the_counted_parts_stable_order_is_torchs_stable_argsort(shape, spread, descending):
    # one flat sort of offset keys: rows kept apart, ties in index order, any dimension
    values = torch.randint(-spread // 2, spread - spread // 2, shape, generator=torch.Generator().manual_seed(spread))
    for dim in range(-len(shape), len(shape)):
        assert torch.equal(stable_order(values, dim=dim, descending=descending),
                           values.argsort(dim=dim, descending=descending, stable=True))
    far = torch.tensor([[0, 1 << 40, -(1 << 40)]]).repeat(600, 1)  # offsets past int32
    assert torch.equal(stable_order(far, descending=descending), far.argsort(dim=-1, descending=descending, stable=True))


@pytest.mark.parametrize("name", sorted(CASES))
def test_random_anchors_stay_packed_over_every_binary_where_completing_them_is_pinning(name):
    # the counted walk counts random anchors from their bytes: those bytes, dead binaries pinned,
    # are the anchors completed bit by bit; with twins (or words over the live binaries alone
    # while some are dead) completing takes more than pinning, and the anchors are not packed
    metric, scores, targets = _batch(name, 0, True)
    program, binaries, leading, sets, context = _anchors(metric, scores, targets, 0)
    drawn = next(a for a in sets if isinstance(a, RandomAnchors))
    words = drawn.packed(binaries)
    assert (words is None) == bool(binaries.twin_blocks)
    if words is not None:
        unpacked = RandomAnchors(words, drawn.count).configurations(0, drawn.count)
        assert torch.equal(unpacked, drawn.full_rows(binaries)(0, drawn.count))
    if binaries.dead is not None and not binaries.twin_blocks:
        live_only = RandomAnchors(drawn.words[:, :binaries.live_count], drawn.count)
        assert live_only.packed(binaries) is None
