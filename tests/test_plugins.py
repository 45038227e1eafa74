"""Plugin discovery, failures and conformance: every registered plugin passes metricloss.testing."""

import subprocess
import sys
import textwrap

import pytest
import torch

import metricloss as ml
from metricloss import testing
from metricloss.plugin_listing import plugins_table
from metricloss.registry import REGISTRY, Registry

CHECKED = [k.name for k in REGISTRY.kinds() if k.name in testing.CHECKS]


@pytest.mark.parametrize(
    "kind,name",
    [(kind, entry.name) for kind in CHECKED for entry in REGISTRY.entries(kind) if entry.distribution],
)
def test_every_installed_plugin_conforms(kind, name):
    """Every plugin an installed distribution provides: ours and examples/plugin_package's."""
    testing.check_plugin(kind, name)


def test_the_suite_catches_a_broken_relaxation():
    broken = ml.Relaxation("shifted", {}, lambda d: torch.tanh(d) + 0.1)
    with pytest.raises(testing.ConformanceError, match="relaxation `shifted`: not 0 at d = 0"):
        testing.check_relaxation(broken)


def test_the_suite_checks_exactness_against_a_reference():
    scores, labels = torch.tensor([0.1, 0.4, 0.35, 0.8]), torch.tensor([0, 0, 1, 1])
    testing.check_metric("auc", (scores, labels), reference=lambda s, y: 0.75)
    with pytest.raises(testing.ConformanceError, match="through the binaries, 0.5 from the reference"):
        testing.check_metric("auc", (scores, labels), reference=lambda s, y: 0.5)


def test_example_package_is_found_and_trains():
    """examples/plugin_package is installed by the set-up command (pip install -e examples/plugin_package)."""
    entries = {(e.kind, e.name): e for kind in REGISTRY.kinds() for e in REGISTRY.entries(kind.name)}
    assert ("metric", "mean_reciprocal_rank") in entries, "install examples/plugin_package (see README)"
    assert entries[("relaxation", "arctan")].distribution == "metricloss-example-plugin"
    table = subprocess.run([sys.executable, "-m", "metricloss.cli", "plugins"], capture_output=True,
                           text=True, check=True).stdout
    assert "mean_reciprocal_rank  metricloss-example-plugin  0.1.0" in table
    assert "arctan" in table

    for seed in range(3):
        before, after = _train_with_the_plugins(seed)
        assert after > before + 0.1, (seed, before, after)


def _train_with_the_plugins(seed: int) -> tuple[float, float]:
    """The example package's metric and relaxation train a linear model: (start, end) MRR."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(200, 8, generator=generator)
    labels = (x[:, :4].argmax(1))
    torch.manual_seed(seed)  # the layer's initial weights
    model = torch.nn.Linear(8, 4)
    loss_fn = ml.UniLoss("mean_reciprocal_rank", relaxation="arctan", generator=generator)
    metric = ml.get_metric("mean_reciprocal_rank")
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    before = metric(model(x), labels).item()
    for _ in range(40):
        loss = loss_fn(model(x), labels)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return before, metric(model(x), labels).item()


def _fake_distribution(root, name, entry_points):
    """A distribution that importlib.metadata finds on sys.path, with the given entry points."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))


def test_a_plugin_that_fails_to_import_is_reported_and_the_rest_load(tmp_path, monkeypatch):
    _fake_distribution(tmp_path, "broken_plugin", """
        [metricloss.relaxations]
        broken = not_a_module_anywhere:factory
    """)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = Registry(REGISTRY.kinds())
    assert "sigmoid" in [e.name for e in registry.entries("relaxation")]
    (failure,) = registry.failures("relaxation")
    assert failure.source == "broken_plugin 1.0" and "ModuleNotFoundError" in failure.error
    with pytest.raises(ml.PluginError, match=r"the relaxation 'broken' from broken_plugin 1.0 failed to load: ModuleNotFoundError"):
        registry.get("relaxation", "broken")
    assert "failed to load:\n  relaxation 'broken' from broken_plugin 1.0" in plugins_table(registry)


def test_two_distributions_with_one_plugin_name(tmp_path, monkeypatch):
    for name in ("first_plugin", "second_plugin"):
        _fake_distribution(tmp_path, name, """
            [metricloss.interpolators]
            shepard = metricloss.interpolators:inverse_distance
        """)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ml.PluginError, match=r"two interpolators are named 'shepard': one from (first|second)_plugin 1.0, one from (first|second)_plugin 1.0"):
        Registry(REGISTRY.kinds()).entries("interpolator")


def test_decorated_parts_are_registered_and_usable_by_name():
    @ml.relaxation(name="softsign_test")
    def softsign(scale: float = 1.0):
        return ml.Relaxation("softsign_test", {"scale": scale}, lambda d: d / (scale + d.abs()))

    testing.check_relaxation(softsign)
    loss = ml.UniLoss("auc", relaxation="softsign_test")(torch.randn(10), torch.arange(10) % 2)
    assert torch.isfinite(loss)


def test_unknown_part_name():
    with pytest.raises(ml.PluginError, match=r"no interpolator named 'idw'.*Known interpolators: gaussian_kernel, inverse_distance, nearest"):
        ml.UniLoss("auc", interpolator="idw")


def test_a_plugin_that_breaks_its_kinds_contract_fails_where_it_is_declared():
    with pytest.raises(ml.PluginError, match=r"the relaxation 'not_a_relaxation' at .*test_plugins.py:\d+ .* "
                                             r"returned a function when called with its defaults, not a Relaxation"):
        @ml.relaxation
        def not_a_relaxation(scale=1.0):
            return lambda d: torch.tanh(d * scale)

    with pytest.raises(ml.PluginError, match=r"takes required parameters \['tau'\]; every parameter of a "
                                             r"relaxation factory needs a default"):
        @ml.relaxation
        def needs_tau(tau):
            return ml.sigmoid(tau=tau)

    with pytest.raises(ml.PluginError, match="returned a dict when called with its defaults, not a Sampler"):
        ml.sampler(lambda: {}, name="dict_sampler")

    with pytest.raises(ml.PluginError, match=r"without the task fields \['metrics', 'settings'"):
        @ml.task
        def half_a_task():
            return type("Half", (), {"name": "half", "load": None})()
