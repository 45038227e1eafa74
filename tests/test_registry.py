"""Built-ins are found through entry points; lookups fail with a useful message."""

import dataclasses
import subprocess
import sys
from importlib import metadata

import pytest
import torch

import metricloss as ml
from metricloss.registry import REGISTRY


def test_builtins_come_from_the_distributions_entry_points():
    names = {point.name for point in metadata.entry_points(group="metricloss.metrics")}
    assert {"auc", "average_precision", "accuracy"} <= names
    sources = {entry.name: entry.source for entry in REGISTRY.entries("metric")}
    version = metadata.version("metricloss")
    assert sources["auc"] == f"metricloss {version}"


def test_unknown_metric_suggests_the_closest_name():
    with pytest.raises(ml.PluginError, match=r"no metric named 'acuracy'.*Did you mean 'accuracy'\?"):
        ml.UniLoss("acuracy")


def test_a_users_metric_cannot_take_a_builtins_name():
    with pytest.raises(ml.PluginError, match=r"a metric named 'auc' is already provided by metricloss .*choose another name"):
        @ml.metric
        def auc(scores, labels):
            return (scores[labels == 1][:, None] > scores[labels == 0][None, :]).float().mean()


def test_two_metrics_with_one_name_from_different_places():
    @ml.metric(name="clash")
    def first(scores, labels):
        return (scores > 0).float().mean()

    with pytest.raises(ml.PluginError, match=r"two metrics are named 'clash': one from .*test_registry.py:\d+.*, one from .*test_registry.py:\d+"):
        @ml.metric(name="clash")
        def second(scores, labels):
            return (scores < 0).float().mean()


def test_autoload_can_be_switched_off():
    code = (
        "import metricloss as ml\n"
        "try:\n    ml.get_metric('auc')\nexcept ml.PluginError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"METRICLOSS_DISABLE_PLUGIN_AUTOLOAD": "1", "PATH": ""})
    assert "no metric named 'auc' (plugin autoload is off" in out.stdout


def test_compiled_once_per_binding():
    first = ml.get_metric("auc")
    assert ml.get_metric("auc") is first
    assert first.compiled is ml.get_metric("auc").compiled
    scores, labels = torch.randn(10), (torch.arange(10) % 2)
    first(scores, labels)
    with pytest.raises(dataclasses.FrozenInstanceError):  # nothing a batch does can change it
        first.compiled.program = None


def test_import_metricloss_knows_every_kind_of_plugin():
    """Kinds are declared by the modules that define them; ``import metricloss`` alone loads them
    all, the command kind included, without importing the command line."""
    code = ("import sys, metricloss as ml\n"
            "print(sorted(k.name for k in ml.registry.REGISTRY.kinds()), 'metricloss.cli' in sys.modules,\n"
            "      sorted(e.name for e in ml.plugins('command')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split("] ")[0] + "]" == str(["command", "interpolator", "metric", "relaxation", "sampler", "task"])
    assert " False " in out and "'bench'" in out  # the installed commands, listed without the command line
