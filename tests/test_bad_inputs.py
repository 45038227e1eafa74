"""Bad values given to the library's parts: each a MetricLossError that says what was wrong."""

from __future__ import annotations

import math

import pytest

import metricloss as ml

CASES = [
    (lambda: ml.sigmoid(tau=0), "sigmoid: tau must be a positive finite number, got 0"),
    (lambda: ml.sigmoid(tau=-1.0), "sigmoid: tau must be a positive finite number, got -1.0"),
    (lambda: ml.sigmoid(tau=math.inf), "sigmoid: tau must be a positive finite number, got inf"),
    (lambda: ml.linear(width=0), "linear: width must be a positive finite number"),
    (lambda: ml.gaussian_cdf(sigma=math.nan), "gaussian_cdf: sigma must be a positive finite number"),
    (lambda: ml.ideal(-1), "ideal: count must be a non-negative int, got -1"),
    (lambda: ml.random(1.5), "random: count must be a non-negative int, got 1.5"),
    (lambda: ml.good(4, flips=0), "good: flips must be a positive int, got 0"),
    (lambda: ml.element_nearby(4, direction="left"), "element_nearby: direction must be one of"),
    (lambda: ml.hardest(1.5), "hardest: fraction must be in (0, 1], got 1.5"),
    (lambda: ml.random_fraction(0), "random_fraction: fraction must be in (0, 1], got 0"),
    (lambda: ml.UniLoss("auc", samplers=[]), "needs anchors to interpolate between"),
    (lambda: ml.UniLoss("auc", samplers=[ml.random(0), ml.ideal(0)]), "at least one sampler with a count above 0"),
    (lambda: ml.UniLoss("auc", undefined="skip"), "undefined must be one of"),
    (lambda: ml.get_plugin("metrics", "auc"), "kind must be one of"),
]


@pytest.mark.parametrize("make, message", CASES, ids=[message[:40] for _, message in CASES])
def test_a_bad_part_is_a_metricloss_error_that_names_the_value(make, message):
    with pytest.raises(ml.MetricLossError) as caught:
        make()
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)  # InputError stays a ValueError for existing handlers
