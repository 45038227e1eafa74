"""The learning-to-rank task: its generated set, the LETOR reader, ListNet, and the task run end to end."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest
import torch

import metricloss as ml
from metricloss.cli import main
from metricloss.train.compare import compare
from metricloss.train.datasets import DataError
from metricloss.train.datasets.letor import load_letor
from metricloss.train.datasets.ranking import PADDING, QueryLists, RankingSplit, group_by_query, ranking_split
from metricloss.train.datasets.synthetic_ranking import FEATURES, SyntheticRanking, load_synthetic_ranking
from metricloss.train.loop import train
from metricloss_builtins import task_ltr
from metricloss_builtins.task_ltr import listnet

TINY = SyntheticRanking(train=12, validation=6, test=6, min_items=5, max_items=30)
REPORTED = ("NDCG@1", "NDCG@5", "NDCG@10", "MRR")


@pytest.fixture
def tiny(monkeypatch):
    """``ltr`` on a dozen generated queries: what ``metricloss train ltr`` runs, in a second."""
    monkeypatch.setattr(task_ltr, "GENERATED", TINY)
    return ml.get_plugin("task", "ltr")()


# ---- the generated set ---------------------------------------------------------------------------


def _same(a: RankingSplit, b: RankingSplit) -> bool:
    return (torch.equal(a.inputs.features, b.inputs.features) and torch.equal(a.inputs.lengths, b.inputs.lengths)
            and torch.equal(a.targets[0], b.targets[0]))


def test_the_generated_set_is_the_same_for_a_seed_and_another_for_another_seed():
    config = SyntheticRanking(train=40, validation=10, test=10)
    first, again, other = (load_synthetic_ranking(seed, config) for seed in (3, 3, 4))
    for part in ("train", "validation", "test"):
        assert _same(getattr(first, part), getattr(again, part))
        assert not _same(getattr(first, part), getattr(other, part))
    assert first.synthetic and "seed 3" in first.source and "40/10/10 queries" in first.source
    # the splits are drawn from streams of their own: more training queries leave the test split as it was
    more = load_synthetic_ranking(3, SyntheticRanking(train=60, validation=10, test=10))
    assert _same(more.test, first.test)


def test_the_generated_set_has_skewed_grades_and_lists_padded_with_minus_one():
    config = SyntheticRanking()
    data = load_synthetic_ranking(0, config)
    split = data.train
    relevance, lengths = split.targets[0], split.inputs.lengths
    assert len(split) == config.train and split.inputs.shape == (config.train, int(lengths.max()), FEATURES)
    assert lengths.min() >= config.min_items and lengths.max() <= config.max_items
    assert lengths.float().std() > 10  # lengths vary across the whole range
    positions = torch.arange(relevance.shape[1])
    assert torch.equal(relevance < 0, positions[None, :] >= lengths[:, None])
    assert set(relevance.unique().tolist()) == {PADDING, 0, 1, 2, 3, 4}
    shares = torch.bincount(relevance[relevance >= 0], minlength=5).float() / (relevance >= 0).sum()
    assert shares[0] > 0.5 and (shares[:-1] > shares[1:]).all(), shares  # most irrelevant, fewest perfect
    assert torch.allclose(shares, torch.tensor(config.skew), atol=0.03), shares
    assert (relevance > 0).any(dim=1).float().mean() > 0.9  # nearly every query has a relevant item


def test_a_batch_is_padded_to_its_longest_list_and_a_read_by_position_to_the_splits():
    split = load_synthetic_ranking(0, SyntheticRanking(train=30, validation=5, test=5)).train
    index = torch.tensor([4, 0, 7])
    batch = split.batch(index)
    lengths = split.inputs.lengths[index]
    width = int(lengths.max())
    assert batch.inputs.shape == (3, width, FEATURES) and batch.targets[0].shape == (3, width)
    assert width < split.inputs.width
    padded = torch.arange(width)[None, :] >= lengths[:, None]
    assert torch.equal(batch.targets[0] < 0, padded)
    assert (batch.inputs[padded] == 0).all() and (batch.inputs[~padded] != 0).any(dim=-1).all()
    whole = split.inputs[0:8]
    assert whole.shape == (8, split.inputs.width, FEATURES)
    assert torch.equal(whole[0, :int(split.inputs.lengths[0])], batch.inputs[1, :int(lengths[1])])
    assert torch.equal(split.inputs[torch.tensor([4])][0, :width], batch.inputs[0])


def test_a_process_s_share_of_a_batch_is_padded_to_the_whole_batch_s_longest_list():
    split = load_synthetic_ranking(0, SyntheticRanking(train=30, validation=5, test=5)).train
    whole = torch.arange(8)
    longest = int(split.inputs.lengths[whole].max())
    for share in whole.tensor_split(2):
        batch = split.batch(share, within=whole)
        assert batch.inputs.shape[1] == batch.targets[0].shape[1] == longest
        assert torch.equal(batch.targets[0], split.batch(whole).targets[0][share])
        assert torch.equal(batch.inputs, split.batch(whole).inputs[share])


def test_query_lists_keep_each_querys_items_together():
    features = torch.arange(12.0).reshape(6, 2)
    split = ranking_split(features, torch.tensor([0, 1, 2, 0, 3, 1]), torch.tensor([2, 1, 3]))
    assert split.inputs.shape == (3, 3, 2)
    assert split.targets[0].tolist() == [[0, 1, -1], [2, -1, -1], [0, 3, 1]]
    assert split.inputs.take(torch.tensor([1]))[0].tolist() == [[4.0, 5.0]]
    sub = split.subset(torch.tensor([2, 1]))
    assert sub.inputs.shape == (2, 3, 2) and sub.targets[0].tolist() == [[0, 3, 1], [2, -1, -1]]
    assert torch.equal(sub.inputs[:], split.inputs[torch.tensor([2, 1])])
    with pytest.raises(ml.InputError):
        ranking_split(features, torch.zeros(6), torch.tensor([2, 1]))
    with pytest.raises(ml.InputError):
        QueryLists(features, torch.zeros(2), torch.zeros(3))


def test_rows_of_a_query_are_grouped_in_order_of_first_appearance_even_apart():
    permutation, lengths = group_by_query(torch.tensor([7, 7, 3, 9, 3, 7]))
    assert permutation.tolist() == [0, 1, 5, 2, 4, 3] and lengths.tolist() == [3, 2, 1]


def _linear_and_mlp_ndcg(seed: int) -> dict[str, float]:
    """Test NDCG@10 of a linear scorer and of an MLP, each trained by ListNet on the generated lists."""
    from metricloss.train.models.ranker import item_scorer

    data = load_synthetic_ranking(seed, SyntheticRanking(train=300, validation=10, test=150))
    ndcg = ml.get_metric("ndcg_at_k")
    values = {}
    for name, hidden in (("linear", ()), ("mlp", (64, 32))):
        torch.manual_seed(seed)
        model = item_scorer(FEATURES, hidden)
        optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
        order = torch.Generator().manual_seed(seed)
        for _ in range(8):
            for index in torch.randperm(len(data.train), generator=order).split(16):
                batch = data.train.batch(index)
                loss = listnet(model(batch.inputs), batch.targets[0])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        with torch.no_grad():
            values[name] = ndcg(model(data.test.inputs[:]), data.test.targets[0]).item()
    return values


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_linear_scorer_ranks_the_generated_lists_clearly_worse_than_the_mlp(seed):
    values = _linear_and_mlp_ndcg(seed)
    assert values["mlp"] > values["linear"] + 0.05, values
    assert values["mlp"] < 0.85, values  # the noise keeps NDCG@10 well below 1


# ---- the LETOR reader ----------------------------------------------------------------------------

TRAIN = """\
# written by the tests, in MSLR's format
2 qid:10 1:1.0 2:0.5 3:3 # docid = a
0 qid:10 1:0.0 3:1 # feature 2 missing
1 qid:10 1:2.0 2:1.5 3:2
0 qid:4 1:3.0 2:2.5 3:0
3 qid:4 1:1.0 2:0.5 3:1

1 qid:12 1:0.5 2:0.5 3:5 # a query with one item
"""
VALI = "1 qid:20 1:1 2:1 3:1\n0 qid:20 1:2 2:2 3:2\n"
TEST = "4 qid:30 1:0.5 3:2\n0 qid:30 2:1\n1 qid:31 1:1 2:1 3:1 4:7\n"


def write_letor(folder, train=TRAIN, vali=VALI, test=TEST):
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("train.txt", train), ("vali.txt", vali), ("test.txt", test)):
        if text is not None:
            (folder / name).write_text(text)
    return folder


def test_letor_files_are_read_grouped_by_query_and_standardised_on_train(tmp_path):
    write_letor(tmp_path / "Fold1")
    data = load_letor(tmp_path, seed=0)
    assert "Fold1" in data.source and "3/1/2 queries" in data.source and "4 features" in data.source
    assert not data.synthetic and data.settings is None
    train = data.train
    assert train.inputs.lengths.tolist() == [3, 2, 1] and train.targets[0].tolist() == [
        [2, 0, 1], [0, 3, -1], [1, -1, -1]]
    raw = np.array([[1, .5, 3, 0], [0, 0, 1, 0], [2, 1.5, 2, 0], [3, 2.5, 0, 0], [1, .5, 1, 0], [.5, .5, 5, 0]])
    mean, std = raw.mean(0), raw.std(0)
    std[std == 0] = 1  # feature 4 never appears in train: a constant 0, standardised to 0
    expected = torch.tensor((raw - mean) / std, dtype=torch.float32)
    assert torch.allclose(train.inputs.features, expected, atol=1e-6)
    items = train.inputs.features
    assert torch.allclose(items[:, :3].mean(0), torch.zeros(3), atol=1e-6)
    assert torch.allclose(items[:, :3].std(0, unbiased=False), torch.ones(3), atol=1e-5)
    # the test split's feature 4 (absent from train) is scaled by 1; train's statistics for the rest
    test = data.test
    assert test.targets[0].tolist() == [[4, 0], [1, -1]]
    assert torch.allclose(test.inputs.features[2], torch.tensor((np.array([1, 1, 1, 7]) - mean) / std,
                                                                dtype=torch.float32), atol=1e-6)
    # a folder holding the three files directly reads the same
    flat = load_letor(tmp_path / "Fold1", seed=0)
    assert torch.equal(flat.train.inputs.features, train.inputs.features)


def test_letor_without_a_validation_file_carves_training_queries_by_the_seed(tmp_path):
    lines = "".join(f"{q % 3} qid:{q} 1:{q} 2:1\n{(q + 1) % 2} qid:{q} 1:{-q} 2:0\n" for q in range(20))
    write_letor(tmp_path, train=lines, vali=None)
    data = load_letor(tmp_path, seed=1)
    assert (len(data.train), len(data.validation)) == (18, 2) and "carved out by seed 1" in data.source
    again, other = load_letor(tmp_path, seed=1), load_letor(tmp_path, seed=2)
    assert torch.equal(again.validation.inputs.features, data.validation.inputs.features)
    assert not torch.equal(other.validation.inputs.features, data.validation.inputs.features)


@pytest.mark.parametrize("train, message", [
    ("1 qid:1 0:1 2:1\n", "feature index 0"),
    ("1 qid:1 1:1\n2 1:3\n", "have no `qid:Q`"),
    ("1.5 qid:1 1:1\n", "relevance label 1.5"),
    ("-1 qid:1 1:1\n", "relevance label -1"),
    ("1 qid:1 1:nan\n", "not a finite number"),
    ("1 qid:1 1:x\n", "cannot read"),
    ("# nothing but a comment\n", "holds no items"),
])
def test_damaged_letor_files_are_data_errors_naming_the_file(tmp_path, train, message):
    write_letor(tmp_path, train=train)
    with pytest.raises(DataError, match=message) as error:
        load_letor(tmp_path, seed=0)
    assert "train.txt" in str(error.value)


def test_a_missing_letor_file_or_folder_is_a_data_error(tmp_path):
    write_letor(tmp_path, test=None)
    with pytest.raises(DataError, match="test.txt.*LETOR format"):
        load_letor(tmp_path, seed=0)
    with pytest.raises(DataError, match="does not exist"):
        load_letor(tmp_path / "nowhere", seed=0)


# ---- ListNet -------------------------------------------------------------------------------------


def test_listnet_is_the_top_one_cross_entropy_by_hand_with_padding_left_out():
    scores = torch.tensor([[1.0, 2.0, 0.0, 9.0], [0.5, -3.0, 7.0, 7.0], [4.0, 8.0, 8.0, 8.0]], requires_grad=True)
    relevance = torch.tensor([[2, 0, 1, -1], [1, -1, -1, -1], [0, 0, -1, -1]])
    # query 1: P_y = softmax(2, 0, 1), P_s = softmax(1, 2, 0); query 2: one item, loss 0;
    # query 3: equal grades, P_y = (1/2, 1/2), P_s = softmax(4, 8)
    e = math.e
    p_y = [e**2 / (e**2 + 1 + e), 1 / (e**2 + 1 + e), e / (e**2 + 1 + e)]
    log_z = math.log(e + e**2 + 1)
    first = -(p_y[0] * (1 - log_z) + p_y[1] * (2 - log_z) + p_y[2] * (0 - log_z))
    log_z = math.log(e**4 + e**8)
    third = -(0.5 * (4 - log_z) + 0.5 * (8 - log_z))
    loss = listnet(scores, relevance)
    assert loss.item() == pytest.approx((first + 0 + third) / 3, rel=1e-6)
    loss.backward()
    padded = relevance < 0
    assert (scores.grad[padded] == 0).all() and torch.isfinite(scores.grad).all()
    # the gradient of one query is (P_s - P_y) / Q over its items
    p_s = torch.softmax(torch.tensor([1.0, 2.0, 0.0]), 0)
    assert torch.allclose(scores.grad[0, :3], (p_s - torch.tensor(p_y)) / 3, atol=1e-6)
    # padded scores do not matter, whatever they are
    moved = scores.detach().clone()
    moved[padded] = torch.tensor([-1e4, 1e4, 0.0, 3.0, 1e30, -1e30])
    assert listnet(moved, relevance).item() == pytest.approx(loss.item(), rel=1e-6)


def test_listnet_is_smallest_when_the_scores_follow_the_grades():
    relevance = torch.tensor([[3, 0, 1, 2, -1]])
    following = relevance.float().masked_fill(relevance < 0, 0)
    assert listnet(following, relevance) < listnet(-following, relevance)
    assert listnet(torch.zeros(2, 3), torch.full((2, 3), -1)).item() == 0.0  # nothing listed


# ---- the task ------------------------------------------------------------------------------------


def test_the_task_scores_every_item_and_reports_four_test_metrics(tiny):
    data = tiny.load(None, 0)
    assert data.synthetic and data.settings is task_ltr.SYNTHETIC and "12/6/6 queries" in data.source
    torch.manual_seed(0)  # the model's initial weights
    model = tiny.model(data)
    batch = data.train.batch(torch.arange(4))
    assert model(batch.inputs).shape == batch.targets[0].shape
    assert [r.label for r in tiny.reports] == list(REPORTED) and tiny.metrics[0] == "ndcg_at_k"
    settings = tiny.settings_for(data)
    assert settings.uniloss_lr is not None and settings.uniloss_lr != settings.lr


@pytest.mark.parametrize("loss", ["baseline", "uniloss"])
def test_train_ltr_runs_end_to_end_and_logs_every_reported_metric(tiny, tmp_path, capsys, loss):
    out = tmp_path / loss
    assert main(["train", "ltr", "--loss", loss, "--epochs", "1", "--device", "cpu", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"ltr, {loss}, seed 0: test ndcg_at_k" in printed and "test NDCG@1 " in printed
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert len(rows) == 1 and all(f"test_{label}" in rows[0] for label in REPORTED)
    assert rows[0]["test_NDCG@10"] == rows[0]["test_metric"]  # ndcg_at_k is NDCG@10
    assert all(0 <= float(rows[0][f"test_{label}"]) <= 1 for label in REPORTED)
    config = json.loads((out / "config.json").read_text())
    settings = task_ltr.SYNTHETIC
    assert config["lr"] == (settings.uniloss_lr if loss == "uniloss" else settings.lr)
    assert (out / "checkpoint.pt").exists() and (out / "curves.png").exists()


def test_compare_ltr_tables_every_reported_metric(tiny, tmp_path, capsys):
    assert main(["compare", "ltr", "--seeds", "2", "--epochs", "1", "--device", "cpu", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    table = (tmp_path / "comparison.md").read_text()
    assert table in printed
    assert "| loss | epochs | test ndcg_at_k | per seed | test NDCG@1 | test NDCG@5 | test NDCG@10 | test MRR |" in table
    record = json.loads((tmp_path / "comparison.json").read_text())
    for loss in ("baseline", "uniloss"):
        entry = record["losses"][loss]
        assert set(entry["reported"]) == set(REPORTED)
        tens = [run["test_metrics"]["NDCG@10"] for run in entry["runs"]]
        assert tens == [run["test_metric"] for run in entry["runs"]]
        assert entry["reported"]["NDCG@10"]["mean"] == pytest.approx(entry["mean"])
    assert (tmp_path / "comparison.png").exists()


def test_compare_ltr_on_another_metric(tiny, tmp_path):
    result = compare(tiny, seeds=1, metric="mrr", epochs=1, device="cpu", out=tmp_path, progress=False)
    assert result.metric == "mrr" and result.summaries["uniloss"].label == "UniLoss(mrr)"
    assert result.runs["uniloss"][0].test_metric == result.runs["uniloss"][0].test_metrics["MRR"]


def test_ltr_resumes_bit_for_bit(tiny, tmp_path):
    full = train(tiny, epochs=2, device="cpu", out=tmp_path / "full", progress=False)
    train(tiny, epochs=1, device="cpu", out=tmp_path / "resumed", progress=False)
    resumed = train(tiny, epochs=2, device="cpu", out=tmp_path / "resumed", progress=False, resume=True)
    assert resumed.resumed_from == 1
    first, second = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(first[k], second[k]) for k in first)
    drop = lambda history: [{k: v for k, v in row.items() if k != "seconds"} for row in history]  # noqa: E731
    assert drop(resumed.history) == drop(full.history)


def test_train_ltr_reads_letor_files(tmp_path, capsys):
    lines = "".join(f"{(q + i) % 5} qid:{q} 1:{q * 0.1 + i} 2:{i % 3} 3:{(q * i) % 7}\n"
                    for q in range(12) for i in range(3 + q % 4))
    write_letor(tmp_path / "data" / "Fold1", train=lines, vali=lines, test=lines)
    out = tmp_path / "run"
    assert main(["train", "ltr", "--loss", "baseline", "--epochs", "1", "--batch-size", "4", "--device", "cpu",
                 "--data-dir", str(tmp_path / "data"), "--out", str(out)]) == 0
    assert "LETOR files in" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config["lr"] == task_ltr.FILES.lr and not config["synthetic"]
