"""Batch samplers of the training loop: shuffled, and class-balanced for rare positives."""

from __future__ import annotations

import pytest
import torch

from metricloss.errors import InputError
from metricloss.train.loop import train
from metricloss.train.sampling import balanced_batches, parse_sampler, shuffled_batches
from test_train_loop import tiny_digits


def test_balanced_batches_hold_the_share_of_positives_and_keep_the_epoch_length():
    labels = torch.zeros(200, dtype=torch.long)
    labels[:7] = 1  # 3.5% positives
    batches = list(balanced_batches(labels, 16, 0.25, torch.Generator().manual_seed(0)))
    assert len(batches) == 200 // 16
    for index in batches:
        assert len(index) == 16 and int(labels[index].sum()) == 4
    negatives = torch.cat(batches)[labels[torch.cat(batches)] == 0]
    assert len(set(negatives.tolist())) == len(negatives)  # no negative twice while the epoch lasts


def test_a_share_rounding_to_nothing_still_gives_one_positive_and_one_negative():
    labels = torch.tensor([1, 0, 0, 0, 0, 0])
    for index in balanced_batches(labels, 2, 0.01, torch.Generator().manual_seed(0)):
        assert sorted(labels[index].tolist()) == [0, 1]


def test_shuffled_batches_cover_every_sample_once_and_drop_a_last_single():
    batches = list(shuffled_batches(33, 16, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [16, 16]
    assert len(set(torch.cat(batches).tolist())) == 32


@pytest.mark.parametrize("text, expected", [("shuffle", ("shuffle", None)), ("balanced", ("balanced", 0.5)),
                                            ("balanced:0.25", ("balanced", 0.25))])
def test_sampler_names(text, expected):
    assert parse_sampler(text) == expected


@pytest.mark.parametrize("text, message", [
    ("uniform", "sampler must be 'shuffle', 'balanced' or 'balanced:SHARE'"),
    ("balanced:1.5", "share of positives must be between 0 and 1, got '1.5'"),
    ("balanced:x", "share of positives must be between 0 and 1, got 'x'"),
    ("shuffle:0.5", "sampler must be"),
])
def test_bad_sampler_names_say_what_to_write(text, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        parse_sampler(text)


def test_balanced_sampling_needs_both_classes():
    with pytest.raises(InputError, match="needs positives and negatives"):
        list(balanced_batches(torch.zeros(10, dtype=torch.long), 4, 0.5, torch.Generator()))


def test_training_with_the_balanced_sampler_records_it_and_resumes_only_with_it(tmp_path):
    run = train(tiny_digits(epochs=1), loss="uniloss", device="cpu", out=tmp_path, progress=False,
                sampler="balanced:0.25")
    assert run.config.sampler == "balanced:0.25" and run.history[-1]["undefined_batches"] == 0
    with pytest.raises(InputError, match="sampler"):
        train(tiny_digits(epochs=2), loss="uniloss", device="cpu", out=tmp_path, progress=False,
              resume=True)


def test_a_warm_start_trains_its_first_epochs_with_the_usual_loss(tmp_path):
    warm = train(tiny_digits(epochs=2), loss="uniloss", device="cpu", out=tmp_path / "w", progress=False,
                 warm_start=1)
    baseline = train(tiny_digits(epochs=1), loss="baseline", device="cpu", out=tmp_path / "b", progress=False)
    assert warm.config.warm_start == 1
    # the first epoch is the usual loss's, step for step; the second is UniLoss's
    assert warm.history[0]["train_loss"] == pytest.approx(baseline.history[0]["train_loss"])
    assert warm.history[0]["validation_metric"] == pytest.approx(baseline.history[0]["validation_metric"])


@pytest.mark.parametrize("epochs, warm_start", [(2, 2), (2, -1)])
def test_a_warm_start_must_leave_uniloss_an_epoch(tmp_path, epochs, warm_start):
    with pytest.raises(InputError, match=f"fewer than the {epochs} epochs, got {warm_start}"):
        train(tiny_digits(epochs=epochs), loss="uniloss", device="cpu", out=tmp_path, progress=False,
              warm_start=warm_start)


def test_a_margin_reaches_uniloss_and_the_record(tmp_path):
    run = train(tiny_digits(epochs=1), loss="uniloss", device="cpu", out=tmp_path, progress=False, margin=0.5)
    assert run.config.margin == 0.5 and "margin=0.5" in run.config.uniloss

