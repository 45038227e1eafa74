"""PCKh through its binaries equals a plain implementation written from the definition."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import metricloss as ml
from references import plain_pckh


@st.composite
def pose_batches(draw):
    n, j = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    height, width = draw(st.integers(4, 12)), draw(st.integers(4, 12))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    heatmaps = torch.randperm(n * j * height * width, generator=generator).float().reshape(n, j, height, width)
    joints = torch.rand(n, j, 2, generator=generator) * torch.tensor([width + 2.0, height + 2.0]) - 1
    head_size = torch.rand(n, generator=generator) * 8 + 0.5
    visible = torch.rand(n, j, generator=generator) < 0.8
    visible[0, 0] = True
    return heatmaps, joints, head_size, visible


@given(pose_batches(), st.sampled_from([0.5, 0.2, 1.0]))
def test_pckh_equals_the_definition(batch, threshold):
    expected = plain_pckh(*batch, threshold=threshold)
    assert ml.get_metric("pckh", threshold=threshold)(*batch).item() == pytest.approx(expected, abs=1e-6)


def test_pckh_loss_moves_the_peak_towards_the_joint():
    heatmaps = torch.zeros(1, 1, 8, 8)
    heatmaps[0, 0, 7, 7] = 3.0  # the peak far from the joint at (1, 1)
    heatmaps = heatmaps.requires_grad_()
    joints = torch.tensor([[[1.0, 1.0]]])
    loss_fn = ml.UniLoss("pckh", samplers=[ml.ideal(), ml.good(), ml.nearby(), ml.element_nearby()],
                         generator=torch.Generator().manual_seed(0))
    loss = loss_fn(heatmaps, joints, torch.tensor([4.0]), torch.tensor([[True]]))
    assert loss_fn.last.value.item() == 0.0 and loss_fn.last.ideal_value.item() == 1.0
    loss.backward()
    assert heatmaps.grad[0, 0, 7, 7] > 0  # the wrong peak goes down
    assert heatmaps.grad[0, 0, 1, 1] < 0  # the best pixel inside the region goes up


def test_a_joint_without_pixels_in_its_region_stays_out_of_the_loss():
    heatmaps = torch.randn(1, 2, 6, 6)
    joints = torch.tensor([[[2.0, 2.0], [-50.0, -50.0]]])  # the second joint is off the map
    metric = ml.get_metric("pckh")
    binaries = metric.binaries(heatmaps, joints, torch.tensor([4.0]), torch.tensor([[True, True]]))
    off_map = binaries.dead.view(2, 36)[1]
    assert off_map.all()
