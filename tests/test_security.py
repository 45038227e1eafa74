"""Untrusted text and files: formula strings, plugin autoload, checkpoints and CIFAR pickles.

A count formula is built from its syntax tree and never evaluated; entry points are not imported
when autoload is switched off; and no file is unpickled by a loader that could run its code.
"""

import builtins
import importlib
import io
import os
import pickle
import pkgutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import sympy
import torch

import metricloss as ml
from metricloss.compiler import formulas
from metricloss.compiler.formulas import parse_formula
from metricloss.train import checkpoints
from metricloss.train.datasets import cifar
from sympy_work import SympyWork, TooMuchWork


# --- count formulas ------------------------------------------------------------------------------

def _attacks(sentinel: str) -> list[str]:
    """Formulas that would create ``sentinel`` (or hang, or exhaust memory) if they were evaluated."""
    return [
        f"__import__('os').system('touch {sentinel}')",
        f"__import__('pathlib').Path({sentinel!r}).touch()",
        f"open({sentinel!r}, 'w')",
        f"TP + open({sentinel!r}, 'w').close()",
        f"sqrt(open({sentinel!r}, 'w'))",  # the one allowed call, with a call inside
        f"(lambda: open({sentinel!r}, 'w'))()",
        f"[open({sentinel!r}, 'w') for x in (1,)]",
        f"{{open({sentinel!r}, 'w')}}",
        f"TP if open({sentinel!r}, 'w') else 1",
        f"(x := open({sentinel!r}, 'w'))",
        f"f'{{open({sentinel!r}, \"w\")}}'",
        f"f'{{TP!r:{{open({sentinel!r}, \"w\")}}}}'",
        "TP.__class__",
        "TP.__class__.__init__.__globals__",
        "().__class__.__bases__[0].__subclasses__()",
        "sqrt.__globals__",
        "__builtins__",
        "TP * __builtins__",
        "sqrt",
        "TP + sqrt",
        "sqrt(TP)(FP)",
        "sqrt(x=TP)",
        "Symbol('x') + TP",
        "Integer(10)**10**10 * TP",
        "S('x') * TP",
        "TP; import os",
        "TP\n+FP",
        "TP\x00",
        "b'TP'",
        "'TP'",
        "TP + 1j",
        "TP + True",
        "TP + None",
        "TP + ...",
        "TP @ FP",
        "TP // FP",
        "await TP",
        "TP**TP",
        "9**9**9**9",
        "9**9**9**9 * TP",
        "TP**9**9**9",
        "((((((((9**16)**16)**16)**16)**16)**16)**16)**16) * TP",
        "((((TP * 999999999999999)**16)**16)**16)**16",
        "TP * 1e400",
        "TP * 99999999999999999999999",
        "TP + " * 10_000 + "TP",
        "(" * 500 + "TP" + ")" * 500,
        "-" * 5_000 + "TP",
    ]


def test_formula_attacks_are_refused_with_bounded_work_and_nothing_runs(tmp_path):
    """Refused before sympy computes any large number or does much work (``SympyWork``'s bounds,
    far above what a refusal needs: about a thousand calls, numbers of at most 300 digits)."""
    sentinel = tmp_path / "executed"
    for index, formula in enumerate(_attacks(str(sentinel))):
        with SympyWork(max_calls=20_000, max_digits=1_000) as work:
            with pytest.raises((ml.CompileError, ml.InputError)):
                ml.count_metric(formula, name=f"test_security_attack_{index}")
        assert work.stopped is None, formula
        assert not sentinel.exists(), formula
        assert f"test_security_attack_{index}" not in {e.name for e in ml.plugins("metric")}, formula  # nothing half-registered


def test_the_work_bound_stops_a_power_tower_before_sympy_computes_it():
    with pytest.raises(TooMuchWork, match=r"9 \*\* 387420489, a number of about 3.7e\+08 digits"):
        with SympyWork(max_digits=1_000):
            sympy.Integer(9) ** sympy.Integer(9) ** 9


def test_a_long_legitimate_chain_is_built_without_recursion():
    expression = parse_formula("-" * 1_998 + "TP")  # 1998 minus signs: TP itself
    assert expression == sympy.Symbol("TP")


def test_formulas_are_built_without_eval_or_exec(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a formula must not reach eval or exec")

    monkeypatch.setattr(builtins, "eval", forbidden)
    monkeypatch.setattr(builtins, "exec", forbidden)
    expression = parse_formula("(1 + beta**2) * TP / ((1 + beta**2) * TP + beta**2 * FN + FP) + sqrt(P) / N - 2**-1",
                               {"beta": 1.0})
    TP, FP, FN = sympy.symbols("TP FP FN")
    assert expression.free_symbols == set(sympy.symbols("TP FP FN beta P N"))
    bound = expression.xreplace({sympy.Symbol("beta"): 1, sympy.Symbol("P"): 4, sympy.Symbol("N"): 2})
    assert sympy.simplify(bound - (2 * TP / (2 * TP + FN + FP) + sympy.Rational(1, 2))) == 0


def test_the_parser_that_evaluates_is_not_used():
    modules = [formulas, *(importlib.import_module(f"{formulas.__name__}.{info.name}")
                           for info in pkgutil.iter_modules(formulas.__path__))]
    assert len(modules) > 1
    for module in modules:
        assert not hasattr(module, "parse_expr"), module.__name__
        source = Path(module.__file__).read_text()
        assert "parse_expr(" not in source and "sympify(" not in source and "eval(" not in source, module.__name__


def test_formula_numbers_read_as_python_reads_them():
    TP = sympy.Symbol("TP")
    assert parse_formula("TP / 4 * 2") == TP / 2  # exact rationals, as sympy's parser gave
    assert parse_formula("1_000 * TP + 0x10") == 1000 * TP + 16
    assert parse_formula("TP ** -2") == TP ** -2
    assert parse_formula("0.25 * TP") == sympy.Float(0.25) * TP


def test_count_metric_generated_code_takes_only_identifiers(tmp_path):
    # The metric function is generated from a template: only identifiers enter its source.
    sentinel = tmp_path / "executed"
    with pytest.raises(ml.CompileError, match="cannot be registered as a metric's name"):
        ml.count_metric("TP / (TP + FP)", name=f"x(): pass\nopen({str(sentinel)!r}, 'w')\ndef y")
    assert not sentinel.exists()
    with pytest.raises(ml.CompileError, match="is not a Python identifier"):
        ml.count_metric("TP / (TP + FP)", name="test_security_parameter",
                        parameters={"b=__import__('os')": 1.0})


# --- plugin autoload ------------------------------------------------------------------------------

SWITCH = "METRICLOSS_DISABLE_PLUGIN_AUTOLOAD"


def _example_plugin_installed() -> bool:
    return any(point.name == "mean_reciprocal_rank" for point in metadata.entry_points(group="metricloss.metrics"))


needs_example = pytest.mark.skipif(not _example_plugin_installed(),
                                   reason="the example plugin (examples/plugin_package) is not installed")


def _run(code: str, switch: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != SWITCH}
    if switch is not None:
        env[SWITCH] = switch
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


_PROBE = """
import sys
import torch
import metricloss as ml
for kind, name in [("metric", "mean_reciprocal_rank"), ("relaxation", "arctan"), ("metric", "auc")]:
    try:
        ml.get_plugin(kind, name)
        print(kind, name, "found")
    except ml.PluginError as error:
        print(kind, name, "missing:", error)
print("imported:", sorted(m for m in sys.modules if m.split(".")[0] in ("metricloss_example", "metricloss_builtins")))
"""


@needs_example
def test_with_autoload_off_no_entry_point_is_imported():
    out = _run(_PROBE, "1")
    assert "metric mean_reciprocal_rank missing: no metric named 'mean_reciprocal_rank' (plugin autoload is off" in out
    assert "relaxation arctan missing: no relaxation named 'arctan' (plugin autoload is off" in out
    # The built-in metrics are entry points too (the guide: autoload off turns entry-point
    # discovery off), so they are not found by name either.
    assert "metric auc missing: no metric named 'auc' (plugin autoload is off" in out
    assert "imported: []" in out


@needs_example
@pytest.mark.parametrize("switch", [None, "0"])
def test_with_autoload_on_the_example_plugin_is_imported(switch):
    out = _run(_PROBE, switch)  # the control: the probe sees an import when there is one
    assert "metric mean_reciprocal_rank found" in out and "relaxation arctan found" in out
    assert "'metricloss_example.metrics'" in out


def test_with_autoload_off_the_loss_works_from_values():
    code = """
import torch
import metricloss as ml

@ml.metric(best=1.0)
def my_auc(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    return (pos[:, None] > neg[None, :]).float().mean()

scores = torch.tensor([2.0, -1.0, 0.5, 1.0], requires_grad=True)
loss = ml.UniLoss(my_auc, relaxation=ml.sigmoid(), samplers=[ml.ideal(), ml.random()],
                  interpolator=ml.inverse_distance(), generator=torch.Generator().manual_seed(0))(scores, torch.tensor([1, 0, 0, 1]))
loss.backward()
print("loss", float(loss), bool(torch.isfinite(scores.grad).all()))
print("default parts", float(ml.UniLoss(my_auc)(scores, torch.tensor([1, 0, 0, 1]))) >= 0)
"""
    out = _run(code, "1")
    assert "loss 0." in out and "True" in out and "default parts True" in out


def test_plugins_command_says_autoload_is_off():
    code = ("import sys\nfrom metricloss.cli import main\nmain(['plugins'])\n"
            "print('imported:', sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('metricloss_example', 'metricloss_builtins')))\n")
    out = _run(code, "1")
    assert f"(entry-point discovery is off: {SWITCH} is set)" in out
    assert "mean_reciprocal_rank" not in out and "imported: []" in out
    on = _run(code, None)
    assert "entry-point discovery is off" not in on and " auc " in on


def test_with_autoload_off_the_cli_imports_no_command_plugin():
    code = ("import sys\nfrom metricloss.cli import main\nmain(['plugins'])\n"
            "print('imported:', sorted(m for m in sys.modules if m.split('.')[0] == 'metricloss_benchmarks'))\n")
    assert "imported: []" in _run(code, "1")


# --- pickles --------------------------------------------------------------------------------------

class _CreatesAFile:
    """Unpickled by a loader that runs code, this opens (so creates) ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return open, (self.path, "w")


class _ExecutesCode:
    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return exec, (f"open({self.path!r}, 'w').close()",)


PAYLOADS = [_CreatesAFile, _ExecutesCode]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_the_payloads_are_live(tmp_path, payload):
    # The control: plain pickle runs them, so their refusal below means something.
    sentinel = tmp_path / "control"
    pickle.loads(pickle.dumps(payload(sentinel)))
    assert sentinel.exists()


def _malicious_checkpoints(sentinel, payload, folder):
    """A torch.save'd checkpoint (zip) with the payload among its entries, and a raw pickle."""
    zipped, raw, legacy = folder / "zipped.pt", folder / "raw.pt", folder / "legacy.pt"
    torch.save({"format": 1, "model": {}, "epoch": 3, "evil": payload(sentinel)}, zipped)
    raw.write_bytes(pickle.dumps({"format": 1, "evil": payload(sentinel)}))
    torch.save({"evil": payload(sentinel)}, legacy, _use_new_zipfile_serialization=False)
    return [zipped, raw, legacy]


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # the raw pickle's protocol 4
@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_a_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path, payload):
    sentinel = tmp_path / "executed"
    for path in _malicious_checkpoints(sentinel, payload, tmp_path):
        with pytest.raises(ml.MetricLossError, match="cannot read the checkpoint"):
            checkpoints.load_checkpoint(path)
        assert not sentinel.exists(), path


def _cifar_pickles(sentinel, payload):
    """CIFAR batches that carry the payload: as a value, inside an object array, and as the whole file."""
    data = np.zeros((2, 3072), dtype=np.uint8)
    return {
        "in_the_dict": pickle.dumps({b"data": data, b"labels": [0, 1], b"evil": payload(sentinel)}, protocol=2),
        "as_the_data": pickle.dumps({b"data": payload(sentinel), b"labels": [0, 1]}),
        "object_array": pickle.dumps({b"data": np.array([payload(sentinel)], dtype=object), b"labels": [0]}),
        "whole_file": pickle.dumps(payload(sentinel), protocol=5),
    }


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: p.__name__)
def test_a_malicious_cifar_batch_is_refused_and_runs_nothing(tmp_path, payload):
    sentinel = tmp_path / "executed"
    for kind, content in _cifar_pickles(sentinel, payload).items():
        path = tmp_path / f"{kind}_batch"
        path.write_bytes(content)
        with pytest.raises(ml.MetricLossError, match="is not a CIFAR python batch"):
            cifar.read_batch(path, 10)
        assert not sentinel.exists(), kind


def test_a_malicious_cifar_directory_is_refused_through_the_loader(tmp_path):
    sentinel = tmp_path / "executed"
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    content = pickle.dumps({b"data": _CreatesAFile(sentinel), b"labels": [0]})
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(content)
    with pytest.raises(ml.MetricLossError):
        cifar.load_cifar(tmp_path, 10, seed=0)
    assert not sentinel.exists()


def test_a_genuine_cifar_batch_still_reads():
    # The restricted unpickler is not so strict that it refuses a real batch (protocol 2 and 5).
    rng = np.random.default_rng(0)
    batch = {b"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8), b"labels": [0, 1, 2, 9]}
    for protocol in (2, 5):
        buffer = io.BytesIO(pickle.dumps(batch, protocol=protocol))
        loaded = cifar._ArraysOnly(buffer, encoding="bytes").load()
        assert np.array_equal(loaded[b"data"], batch[b"data"]) and loaded[b"labels"] == [0, 1, 2, 9]
