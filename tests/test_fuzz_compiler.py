"""Fuzzing the compiler: generated metric programs compile to their eager value, or are refused.

``tests/fuzz/grammar.py`` writes metric programs from the ops the guide says compile (and a few
it says are refused) as real source files, imported as a user's module is. Each is decorated with
``ml.metric(register=False)`` and called on tie-heavy batches (integer scores in -2..2, constant
models, one-class labels, batches of 1 to 12). The property: a program that holds one of the
refused constructs is refused with a ``CompileError`` at its line (at decoration or at the first
call of a shape); every other program compiles (unless a clamp decides every comparison whatever
the scores, which is refused as never comparing them), and its compiled value equals its eager value on
every batch (NaN equal to NaN); a call may raise an ``InputError`` only where the function run
eagerly raises too. Top-k is held to the library's documented tie rule (the
program's ``reference``); sorts are ``stable=True``, so their eager value is defined.

``METRICLOSS_FUZZ_EXAMPLES`` sets how many programs (default 300, under a minute on a shared core);
``METRICLOSS_FUZZ_STATS`` names a JSON file that receives the volume of the run. The plain tests
at the end are the minimised programs of bugs the fuzzer found, kept as regressions.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
import os
import warnings
from collections import Counter
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

import metricloss as ml
from fuzz.grammar import Program, inputs, programs

EXAMPLES = int(os.environ.get("METRICLOSS_FUZZ_EXAMPLES", "300"))
BATCHES = 5  # inputs drawn per program
STATS: Counter = Counter()
OPS: Counter = Counter()


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    yield tmp_path_factory.mktemp("fuzz_metrics")
    target = os.environ.get("METRICLOSS_FUZZ_STATS")
    if target:
        Path(target).write_text(json.dumps({"volume": dict(STATS), "ops": dict(OPS)}, indent=1, sort_keys=True))


def load(program: Program | str, folder: Path):
    """The program's module, written to a file and imported the way a user's module is."""
    source = program if isinstance(program, str) else program.source()
    name = "fuzz_" + hashlib.sha1(source.encode()).hexdigest()[:16]
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6)


def number(value) -> float:
    """The eager value as a float (a single-element tensor or a Python number)."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(f"not a single number: shape {tuple(value.shape)}")
        return float(value.reshape(()).double())
    return float(value)


def module_source(module) -> str:
    return Path(module.__file__).read_text()


def _says_where(error: ml.CompileError, path: str) -> bool:
    return f"{Path(path).name}:" in str(error)


def _decided_anyway(error: ml.CompileError) -> bool:
    """A refusal the grammar cannot foresee: a clamp before a comparison that decides it whatever
    the scores (``scores.clamp(-1, 1) > -2``), so the value never depends on a comparison."""
    return "never compares scores" in str(error)


def check(program: Program | str, batches, folder: Path, refused: str | None = None) -> str:
    """Hold one program to the property on ``batches``; return "compiled" or "refused"."""
    module = load(program, folder)
    refused = refused if isinstance(program, str) else program.refused
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            metric = ml.metric(register=False)(module.metric)
        except ml.CompileError as error:
            assert _says_where(error, module.__file__), f"a refusal that does not say where: {error}"
            assert refused is not None or _decided_anyway(error), (
                f"a program without a refused construct was refused: {error}")
            return "refused"
        checked = 0
        for scores, labels in batches:
            try:
                eager, eager_error = number(module.reference(scores, labels)), None
            except Exception as error:  # noqa: BLE001 - the user's code may fail on a batch
                eager, eager_error = None, error
            try:
                value = float(metric(scores, labels))
            except ml.CompileError as error:  # a metric traced per shape compiles at its first batch
                assert _says_where(error, module.__file__), f"a refusal that does not say where: {error}"
                assert refused is not None or _decided_anyway(error), (
                    f"a program without a refused construct was refused: {error}")
                STATS["inputs checked"] += checked
                return "refused"
            except ml.InputError as error:
                assert eager_error is not None, (
                    f"InputError on a batch the function runs on eagerly (value {eager}): {error}\n"
                    f"scores={scores.tolist()}\nlabels={labels.tolist()}")
                checked += 1
                continue
            if isinstance(eager_error, ZeroDivisionError) and ".item()" in module_source(module) \
                    and not math.isfinite(value):
                # documented: ``.item()`` is read as the 0-d tensor, which divides by zero to inf
                # or NaN where Python's float division raises
                STATS["item divisions by zero"] += 1
                checked += 1
                continue
            assert eager_error is None, (
                f"compiled value {value} where the function raises eagerly: {eager_error!r}\n"
                f"scores={scores.tolist()}\nlabels={labels.tolist()}")
            assert same(value, eager), (
                f"compiled {value} != eager {eager}\nscores={scores.tolist()}\nlabels={labels.tolist()}")
            checked += 1
    STATS["inputs checked"] += checked
    assert refused is None, f"a program with {refused!r} compiled; the guide says it is refused"
    return "compiled"


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(program=programs(), data=st.data())
def test_compiled_equals_eager_or_refused(program, data, folder):
    batches = [data.draw(inputs(program), label=f"batch {i}") for i in range(BATCHES)]
    outcome = check(program, batches, folder)
    STATS["programs"] += 1
    STATS[outcome] += 1
    STATS[f"{outcome} {program.kind}"] += 1
    if program.refused:
        STATS["refusal constructs"] += 1
    OPS.update(program.ops)


# ---------------------------------------------------------------------------------------------
# Bugs the fuzzer found, minimised. Each program is checked as the fuzzer checks it, on batches
# that exposed the bug (and a few more).


def _batches(*pairs):
    return [(torch.tensor(s, dtype=torch.float32), torch.tensor(l)) for s, l in pairs]


def _source(*body: str) -> str:
    from fuzz.grammar import HEADER, _function
    return "\n\n".join([HEADER, _function("metric", body), _function("reference", body)])


def test_a_rank_whose_outer_argsort_is_descending(folder):
    """``x.argsort().argsort(descending=True)`` lists the ranks backwards; it was read as the ranks."""
    source = _source(
        "ranks = scores.argsort(descending=True, stable=True).argsort(descending=True, stable=True)",
        "return ((ranks < 3) & labels.bool()).sum() / (ranks < 3).sum()",
    )
    batches = _batches(([0.0] * 11, [1, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1]), ([1.0, -2.0, 1.0, 0.0], [0, 0, 1, 1]),
                       ([2.0, -2.0, -2.0, -1.0, 1.0, 1.0, 1.0, 2.0], [1, 0, 1, 0, 1, 0, 0, 1]))
    assert check(source, batches, folder) == "compiled"


def test_k_clipped_by_the_batch_size(folder):
    """``min(k, len(labels))`` reads the batch size only below k: batches of 5 and 6 trace alike,
    and a batch of 1 or 2 must not share their program (it sliced 2 items of 1, or divided by 2)."""
    source = _source(
        "k = min(3, len(labels))",
        "order = scores.argsort(descending=True, stable=True)",
        "return labels[order][:k].sum() / k",
    )
    batches = _batches(([0.0, 1.0, 2.0, 0.0, 1.0], [1, 1, 0, 1, 0]), ([2.0], [1]), ([1.0, 0.0], [1, 1]),
                       ([1.0, 0.0, 2.0, 2.0, 1.0, 0.0], [0, 1, 1, 0, 1, 1]), ([2.0], [0]))
    assert check(source, batches, folder) == "compiled"


def test_code_after_the_comparisons_that_fails_is_an_input_error_at_its_line(folder):
    """``-mask`` of a bool raises eagerly; compiled, it raised torch's RuntimeError from g."""
    source = _source("ok = (scores.argmax(1) == labels).all()", "return -ok")
    module = load(source, folder)
    metric = ml.metric(register=False)(module.metric)
    with pytest.raises(ml.InputError, match=rf"{Path(module.__file__).name}:9 \(`return -ok`\).*bool tensor"):
        metric(torch.zeros(3, 2), torch.tensor([0, 1, 0]))
    assert check(source, _batches(([[0.0, 1.0]], [1]), ([[1.0, 1.0], [2.0, 0.0]], [0, 1])), folder) == "compiled"


def test_a_comparison_a_relu_decides_is_refused_at_the_return_line(folder):
    """``relu(s) > -1`` holds whatever the scores: refused as never comparing them, with the line."""
    source = _source("above = torch.relu(scores) > -1", "return above.float().mean()")
    module = load(source, folder)
    with pytest.raises(ml.CompileError, match=rf"never compares scores .*{Path(module.__file__).name}:9 \(`return above"):
        ml.metric(register=False)(module.metric)


def test_a_count_changed_in_place(folder):
    """``counts.mul_(2)`` and ``counts += 1`` change the tensor every name of it reads; the trace
    dropped the first (no user) and rebound only one name for the second."""
    for change in ("counts.mul_(2)", "counts += 1", "counts[right] = 3"):
        source = _source(
            "right = scores.argmax(1) == labels",
            "counts = right.float()",
            "alias = counts",
            change,
            "return alias.sum() + counts.mean()",
        )
        batches = _batches(([[2.0, 1.0], [0.0, 1.0], [1.0, 1.0]], [0, 0, 1]), ([[1.0, 1.0]], [0]))
        assert check(source, batches, folder) == "compiled", change


def test_an_in_place_change_of_a_view_is_refused_with_the_rewrite(folder):
    """A view shares memory with its base: a change through it cannot be followed, so it is
    refused at its line rather than computed on a copy."""
    source = _source(
        "counts = (scores > 0).float()",
        "first = counts[:1]",
        "first.mul_(5)",
        "return counts.sum()",
    )
    module = load(source, folder)
    with pytest.raises(ml.CompileError, match=rf"{Path(module.__file__).name}:\d+ \(`first.mul_\(5\)`\).*x = x.mul"):
        ml.metric(register=False)(module.metric)


@pytest.mark.parametrize("test", ["pred == labels[:, None]", "pred != labels.view(-1, 1)", "pred == labels[0]",
                                  "pred == 3", "pred == labels"])
def test_an_argmax_against_labels_that_broadcast_or_name_no_class(test, folder):
    """``argmax == labels[:, None]`` compares every pair of samples, and a class number outside
    [0, C) equals no arg-max; the rewrite read one label per sample and indexed out of range."""
    source = _source("pred = scores.argmax(1)", f"return ({test}).float().mean()")
    batches = _batches(([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0], [1.0, 1.0, 1.0], [0.0, 3.0, 0.0]], [0, 2, 1, 1]),
                       ([[1.0, 1.0, 0.0]], [1]), ([[0.0, 0.0, 0.0], [2.0, 2.0, 1.0]], [2, 0]))
    assert check(source, batches, folder) == "compiled"


def test_a_one_hot_of_the_argmax_has_the_columns_asked_for(folder):
    """``F.one_hot(scores.argmax(1), 5)`` of three classes has five columns (two never hit); the
    rewrite gave three, so a product with ``F.one_hot(labels, 5)`` failed and means were wrong."""
    source = _source("pred = F.one_hot(scores.argmax(1), 5)",
                     "return (pred * F.one_hot(labels, 5)).sum(0).float().mean() + pred.float().mean()")
    batches = _batches(([[2.0, 1.0, 0.0], [0.0, 1.0, 2.0], [1.0, 1.0, 1.0]], [0, 2, 1]), ([[0.0, 0.0, 1.0]], [2]))
    assert check(source, batches, folder) == "compiled"
    module = load(_source("return F.one_hot(scores.argmax(1)).sum(0).float().mean()"), folder)
    with pytest.raises(ml.CompileError, match=rf"{Path(module.__file__).name}:\d+ .*no `num_classes`.*scores.shape\[1\]"):
        ml.metric(register=False)(module.metric)
