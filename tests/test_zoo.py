"""The metric zoo (``tests/zoo``): evaluation code as people write it compiles at the first try,
equals itself run eagerly (ties included, where torch defines them; elsewhere it says so, and
equals the same code with stable sorts), trains from raw scores; the constructs that cannot
compile are refused at their line; and the catalog page is up to date."""

from __future__ import annotations

import inspect
import math
import warnings
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st

import metricloss as ml
from raw_training import train_raw_scores
from zoo import batches
from zoo.catalog import ZOO, Entry
from zoo.refusals import REFUSALS, Refusal
from zoo.render_catalog import COMMAND, render

ROOT = Path(__file__).resolve().parents[1]
BATCH_LOOP = "loops in Python over the samples"  # the warning of a metric traced per batch size


def _marks(pending: str | None) -> list:
    """A metric the compiler cannot take yet must be refused (a CompileError), never mis-valued:
    a wrong value, or a metric that starts to compile, fails the run."""
    return [pytest.mark.xfail(strict=True, raises=ml.CompileError, reason=pending)] if pending else []


ENTRIES = [pytest.param(e, id=e.name, marks=_marks(e.pending)) for e in ZOO]
UNSTABLE = [pytest.param(e, id=e.name, marks=_marks(e.pending)) for e in ZOO if not e.eager_ties]
TRAINED = [pytest.param(e, id=e.name, marks=_marks(e.pending)) for e in ZOO if e.trained]
REFUSED = [pytest.param(r, id=r.fn.__name__, marks=_marks(r.pending)) for r in REFUSALS]

_COMPILED: dict[str, tuple[ml.Metric, list] | Exception] = {}


def compiled(entry: Entry) -> tuple[ml.Metric, list]:
    """The entry decorated as a user would, and run on one batch (a metric traced per shape is
    compiled there); with the warnings that raised. A failure is kept and raised again."""
    name = f"zoo_{entry.name}"
    if name not in _COMPILED:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                metric = ml.metric(name=name, best=entry.best, higher_is_better=entry.higher_is_better)(entry.fn)
                for classes in entry.classes:
                    scores, targets = batches.batch(entry.kind, torch.Generator().manual_seed(0), classes=classes)
                    metric(scores, *targets)
            _COMPILED[name] = metric, [w.message for w in caught]
        except Exception as error:  # noqa: BLE001 - kept for the next test that needs it
            _COMPILED[name] = error
    found = _COMPILED[name]
    if isinstance(found, Exception):
        raise found
    return found


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-5


def test_the_zoo_is_large_and_covers_every_domain():
    assert len(ZOO) >= 40
    assert len({e.name for e in ZOO}) == len(ZOO)
    assert len({e.name for e in ZOO if e.trained}) >= 10
    assert {e.domain for e in ZOO} >= {"classification", "ranking", "multilabel", "segmentation",
                                       "keypoints", "regression"}
    assert {e.kind for e in ZOO} == set(batches.KINDS)
    assert all(e.reference is not None for e in ZOO if not e.eager_ties)
    assert all((e.stable is None) == e.eager_ties for e in ZOO)  # a stable twin where ties are open
    assert all(e.best is not None and e.pending is None for e in ZOO if e.trained)
    assert len(REFUSALS) >= 10


@pytest.mark.parametrize("entry", ENTRIES)
def test_compiles_at_the_first_try(entry):
    metric, caught = compiled(entry)
    assert metric.name == f"zoo_{entry.name}"
    ties = [str(w) for w in caught if isinstance(w, ml.TieOrderWarning)]
    unexpected = [str(w) for w in caught if not (entry.batch_loop and BATCH_LOOP in str(w))
                  and not isinstance(w, ml.TieOrderWarning)]
    assert not unexpected
    # a Python loop over the samples is exact but unrolls per sample: said once, with the rewrite
    assert any(BATCH_LOOP in str(w) for w in caught) == entry.batch_loop
    # a sort whose tie order torch leaves open: said once per sort, at its line, with the rule
    assert bool(ties) == (not entry.eager_ties), ties
    source = Path(inspect.getsourcefile(entry.fn)).name
    assert len(set(ties)) == len(ties) and all(f"metric `zoo_{entry.name}`: " in w and f"{source}:" in w
                                               and "the compiled metric" in w for w in ties), ties


@pytest.mark.parametrize("entry", [p for p in ENTRIES if p.values[0].best is not None])
def test_best_is_the_value_at_perfect_scores(entry):
    metric, _ = compiled(entry)
    generator = torch.Generator().manual_seed(3)
    scores, targets = batches.batch(entry.kind, generator, classes=entry.classes[-1], complete=True)
    best = batches.perfect(entry.kind, scores, targets, generator)
    assert same(float(entry.fn(best, *targets)), entry.best)
    assert same(float(metric(best, *targets)), entry.best)


@pytest.mark.parametrize("entry", ENTRIES)
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), ties=st.booleans(),
       constant=st.sampled_from([None, "zeros", "rows"]), small=st.booleans(), data=st.data())
def test_compiled_equals_the_function_run_eagerly(entry, seed, ties, constant, small, data):
    metric, _ = compiled(entry)
    classes = data.draw(st.sampled_from(entry.classes), label="classes")
    scores, targets = batches.batch(entry.kind, torch.Generator().manual_seed(seed), ties=ties,
                                    constant=constant, classes=classes, small=small)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=f".*{BATCH_LOOP}")
        value = float(metric(scores, *targets))
    tied = ties or constant is not None
    if tied and not entry.eager_ties:
        # torch leaves the order of tied entries unspecified: the definition instead
        assert same(value, float(entry.reference(scores, *targets))), "against the definition"
        return
    eager = float(entry.fn(scores, *targets))
    assert same(value, eager)
    if entry.reference is not None:  # the definition itself agrees where torch's order is defined
        assert same(float(entry.reference(scores, *targets)), eager), "the definition disagrees"


@pytest.mark.parametrize("entry", UNSTABLE)
@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), constant=st.sampled_from([None, "zeros", "rows"]),
       small=st.booleans(), data=st.data())
def test_on_ties_the_compiled_value_is_the_stable_twins(entry, seed, constant, small, data):
    """Where torch leaves the tie order open, the compiled metric follows the rule its warning
    states: the value of the same code with ``stable=True`` (``zoo/stable.py``) run eagerly."""
    metric, _ = compiled(entry)
    classes = data.draw(st.sampled_from(entry.classes), label="classes")
    scores, targets = batches.batch(entry.kind, torch.Generator().manual_seed(seed), ties=True,
                                    constant=constant, classes=classes, small=small)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=f".*{BATCH_LOOP}")
        value = float(metric(scores, *targets))
    assert same(value, float(entry.stable(scores, *targets)))


@pytest.mark.parametrize("entry", UNSTABLE)
def test_the_stable_twin_compiles_without_a_tie_warning(entry):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        twin = ml.metric(name=f"zoo_stable_{entry.name}", register=False)(entry.stable)
        for classes in entry.classes:
            scores, targets = batches.batch(entry.kind, torch.Generator().manual_seed(0), classes=classes)
            assert same(float(twin(scores, *targets)), float(entry.stable(scores, *targets)))
    assert not [str(w) for w in caught if isinstance(w.message, ml.TieOrderWarning)]


def _parameters(entry: Entry) -> dict:
    """The entry's parameters (arguments with a default) bound to other values than their defaults."""
    others = {}
    for parameter in list(inspect.signature(entry.fn).parameters.values())[1:]:
        default = parameter.default
        if isinstance(default, bool) or default is inspect.Parameter.empty:
            continue
        others[parameter.name] = max(1, default - 1) if isinstance(default, int) else default * 0.6
    return others


WITH_PARAMETERS = [p for p in ENTRIES if _parameters(p.values[0])]


@pytest.mark.parametrize("entry", WITH_PARAMETERS)
def test_parameters_bind_by_keyword(entry):
    """``def p_at_k(scores, labels, k=5)``: k is a parameter, bound for one call by keyword."""
    metric, _ = compiled(entry)
    others = _parameters(entry)
    for seed in range(2):
        scores, targets = batches.batch(entry.kind, torch.Generator().manual_seed(seed), classes=entry.classes[-1])
        assert same(float(metric(scores, *targets, **others)), float(entry.fn(scores, *targets, **others)))


def _train(entry: Entry, seed: int, steps: int = 40) -> tuple[float, float]:
    """Adam on raw scores (no model) from a random start: (start value, end value)."""
    metric, _ = compiled(entry)
    generator = torch.Generator().manual_seed(seed)
    start, targets = batches.batch(entry.kind, generator, classes=entry.classes[-1], complete=True)
    return train_raw_scores(metric, start.shape, targets, generator, seed, steps)


@pytest.mark.parametrize("entry", TRAINED)
def test_trains_from_raw_scores(entry):
    """From random scores, a few dozen steps close at least half of the way to the best value."""
    sign = 1.0 if entry.higher_is_better else -1.0
    for seed in range(3):
        before, after = _train(entry, seed)
        assert sign * (entry.best - before) > 0, (seed, before)  # a start at the best would prove nothing
        assert sign * (after - before) >= 0.5 * sign * (entry.best - before), (seed, before, after)


@pytest.mark.parametrize("refusal", REFUSED)
def test_refused_with_the_construct_and_the_users_line(refusal: Refusal):
    scores, targets = batches.batch(refusal.kind, torch.Generator().manual_seed(0))
    with pytest.raises(ml.CompileError) as caught:
        metric = ml.metric(name=f"zoo_refused_{refusal.fn.__name__}", register=False)(refusal.fn)
        metric(scores, *targets)  # a metric traced per shape compiles at its first batch
    message = str(caught.value)
    assert refusal.where in message, message
    for expected in refusal.expected:
        assert expected in message, message
    if refusal.deeper is not None:  # named after the first construct, and as the reason
        assert message.index(refusal.where) < message.index(refusal.deeper_where), message


def test_the_catalog_page_is_up_to_date():
    page = ROOT / "docs" / "zoo.md"
    assert page.exists() and page.read_text() == render(), (
        f"docs/zoo.md is out of date with tests/zoo; regenerate it from the repository root: "
        f".venv/bin/{COMMAND}")
