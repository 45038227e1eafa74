"""The published ranking losses of ``metricloss_benchmarks.peers.ranking`` (ListNet, ApproxNDCG,
NeuralNDCG, LambdaLoss NDCG-Loss2++): each against a hand computation on one small list, padding
taking no part whatever its score, finite gradients, a perfect ranking below its reverse, and a
batch's loss the mean of its queries' losses.

The hand computations share one list of three items, written out step by step below:

    relevance (2, 0, 1), scores (0.5, 1.0, -0.5)

    gains 2^rel - 1 = (3, 0, 1); ideal order (3, 1, 0), so
    IDCG = 3/log2(2) + 1/log2(3) + 0 = 3 + 0.6309297535714575 = 3.6309297535714578
    order by score: item 2 (1.0), item 1 (0.5), item 3 (-0.5): ranks r = (2, 1, 3)
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from metricloss.errors import InputError
from metricloss_benchmarks.peers.ranking import approx_ndcg, lambda_loss, listnet, neural_ndcg

LOSSES = {"listnet": listnet, "approx_ndcg": approx_ndcg, "neural_ndcg": neural_ndcg, "lambda_loss": lambda_loss}


def _example():
    scores = torch.tensor([[0.5, 1.0, -0.5]], dtype=torch.float64)
    relevance = torch.tensor([[2, 0, 1]])
    return scores, relevance


def test_listnet_by_hand():
    # Target: softmax of the relevance (2, 0, 1):
    #   exp = (7.38905609893065, 1, 2.718281828459045), sum 11.107337927389695
    #   P_y = (0.6652409557748219, 0.09003057317038046, 0.24472847105479764)
    # Model: log-softmax of the scores (0.5, 1.0, -0.5):
    #   exp = (1.6487212707, 2.7182818285, 0.6065306597), sum 4.973533758871807
    #   log-sum-exp = ln 4.973533758871807 = 1.6041306053367284
    #   log P_z = (-1.1041306053367284, -0.6041306053367284, -2.1041306053367284)
    # Cross-entropy -sum P_y log P_z = 0.7345128991944379 + 0.054390224668234566
    #   + 0.5149406659436634 = 1.303843789806336
    assert listnet(*_example()).item() == pytest.approx(1.303843789806336, abs=1e-12)


def test_approx_ndcg_by_hand():
    # Positions at T = 1, pi(i) = 1 + sum_{j != i} sigmoid(s_j - s_i):
    #   pi(1) = 1 + sigmoid(0.5) + sigmoid(-1.0) = 1 + 0.6224593312 + 0.2689414214 = 1.8914007525718497
    #   pi(2) = 1 + sigmoid(-0.5) + sigmoid(-1.5) = 1 + 0.3775406688 + 0.1824255238 = 1.5599661926045019
    #   pi(3) = 1 + sigmoid(1.0) + sigmoid(1.5) = 1 + 0.7310585786 + 0.8175744762 = 2.5486330548236484
    # DCG = 3 / log2(2.8914007526) + 0 / log2(2.5599661926) + 1 / log2(3.5486330548)
    #     = 3 / 1.531768582415443 + 0 + 1 / 1.8272634007285415
    #     = 1.958520389071635 + 0.5472664748833111 = 2.5057868639549463
    # ApproxNDCG = 2.5057868639549463 / 3.6309297535714578 = 0.6901226501256882
    # loss = 1 - 0.6901226501256882 = 0.3098773498743118
    assert approx_ndcg(*_example()).item() == pytest.approx(0.3098773498743118, abs=1e-12)


def test_neural_ndcg_by_hand():
    # NeuralSort, n = 3, tau = 1. (A_s 1)_j = sum_k |s_j - s_k|:
    #   B = (0 + 0.5 + 1.0, 0.5 + 0 + 1.5, 1.0 + 1.5 + 0) = (1.5, 2.0, 2.5)
    # Row i has logits (n + 1 - 2i) s_j - B_j, with n + 1 - 2i = 2, 0, -2:
    #   row 1: (1.0 - 1.5, 2.0 - 2.0, -1.0 - 2.5) = (-0.5,  0.0, -3.5)
    #   row 2: (0 - 1.5, 0 - 2.0, 0 - 2.5)        = (-1.5, -2.0, -2.5)
    #   row 3: (-1.0 - 1.5, -2.0 - 2.0, 1.0 - 2.5) = (-2.5, -4.0, -1.5)
    # Softmax of each row:
    #   row 1: (0.6065306597, 1, 0.0301973834) / 1.6367280431 = (0.3705751009, 0.6109750512, 0.0184498479)
    #   row 2: (0.2231301601, 0.1353352832, 0.0820849986) / 0.4405504419 = (0.5064803911, 0.3071958857, 0.1863237232)
    #   row 3: (0.0820849986, 0.0183156389, 0.2231301601) / 0.3235307976 = (0.2537161816, 0.0566117322, 0.6896720861)
    # Without Sinkhorn scaling, the gains (3, 0, 1) sorted by P: P g =
    #   (3 * 0.3705751009 + 0.0184498479, 3 * 0.5064803911 + 0.1863237232, 3 * 0.2537161816 + 0.6896720861)
    #   = (1.1301751506, 1.7057648964, 1.4508206310)
    # DCG = 1.1301751506 / 1 + 1.7057648964 / log2(3) + 1.4508206310 / 2
    #     = 1.1301751506 + 1.0762155255 + 0.7254103155 = 2.9318032918
    # NeuralNDCG = 2.9318032917972165 / 3.6309297535714578 = 0.8074524958554855
    scores, relevance = _example()
    assert neural_ndcg(scores, relevance, sinkhorn_iterations=0).item() == pytest.approx(-0.8074524958554855, abs=1e-12)
    # At k = 1: 1.1301751506 / IDCG@1 = 1.130175150550469 / 3 = 0.3767250501834896
    assert neural_ndcg(scores, relevance, sinkhorn_iterations=0, k=1).item() == pytest.approx(-0.3767250501834896,
                                                                                              abs=1e-12)
    # One round of Sinkhorn scaling. Column sums of P: (1.1307716736, 0.9747826692, 0.8944456572);
    # divided by them:
    #   (0.3277187690, 0.6267807898, 0.0206271312)   row sums 0.9751266899
    #   (0.4479068612, 0.3151429497, 0.2083119547)            0.9713617656
    #   (0.2243743698, 0.0580762605, 0.7710609142)            1.0535115445
    # then each row divided by its sum:
    #   (0.3360781449, 0.6427685718, 0.0211532833)
    #   (0.4611123034, 0.3244341716, 0.2144535250)
    #   (0.2129776090, 0.0551263637, 0.7318960273)
    # P g = (1.0293877181, 1.5977904353, 1.3708288543)
    # DCG = 1.0293877181 + 1.5977904353 / log2(3) + 1.3708288543 / 2
    #     = 1.0293877181 + 1.0080946461 + 0.6854144272 = 2.7228967914 (2.722895670831234 unrounded)
    # NeuralNDCG = 2.722895670831234 / 3.6309297535714578 = 0.7499169236620282
    assert neural_ndcg(scores, relevance, sinkhorn_iterations=1).item() == pytest.approx(-0.7499169236620282,
                                                                                         abs=1e-12)
    # The default 50 rounds against the same steps repeated in numpy (columns then rows sum to 1).
    assert neural_ndcg(scores, relevance).item() == pytest.approx(-0.752671469655445, abs=1e-12)
    assert neural_ndcg(scores, relevance).item() == pytest.approx(-_neural_ndcg_numpy([0.5, 1.0, -0.5], [2, 0, 1]),
                                                                  abs=1e-12)


def _neural_ndcg_numpy(scores, relevance, tau=1.0, rounds=50, k=None):
    """NeuralNDCG of one unpadded list, from the definitions, with loops."""
    s, rel = np.asarray(scores, float), np.asarray(relevance, float)
    n = len(s)
    k = n if k is None else k
    p = np.zeros((n, n))
    for i in range(1, n + 1):
        logits = np.array([((n + 1 - 2 * i) * s[j] - sum(abs(s[j] - s[m]) for m in range(n))) / tau for j in range(n)])
        p[i - 1] = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    for _ in range(rounds):
        p = p / p.sum(axis=0, keepdims=True)
        p = p / p.sum(axis=1, keepdims=True)
    gains = 2 ** rel - 1
    dcg = sum((p @ gains)[i] / math.log2(i + 2) for i in range(k))
    ideal = sorted(gains, reverse=True)
    return dcg / sum(ideal[i] / math.log2(i + 2) for i in range(k))


def test_lambda_loss_by_hand():
    # Ranks r = (2, 1, 3); 1/D(r) = 1/log2(1 + r): 1/D(1) = 1, 1/D(2) = 0.6309297536, 1/D(3) = 0.5.
    # G = gains / IDCG = (3, 0, 1) / 3.6309297535714578 = (0.8262346571, 0, 0.2754115524)
    # Pairs with rel_i > rel_j: (1, 2), (1, 3), (3, 2).
    #   (1, 2): rho = |1/D(2) - 1/D(1)| = 0.3690702464; |r1 - r2| = 1,
    #           delta = |1/D(1) - 1/D(2)| = 0.3690702464; |G1 - G2| = 0.8262346571;
    #           w = (0.3690702464 + 5 * 0.3690702464) * 0.8262346571 = 1.8296317711;
    #           s1 - s2 = -0.5, sigmoid = 0.3775406688, log2 = -1.4052960345;
    #           term = 1.8296317711 * 1.4052960345 = 2.5711742725
    #   (1, 3): rho = |1/D(2) - 1/D(3)| = 0.1309297536; |r1 - r3| = 1, delta = 0.3690702464;
    #           |G1 - G3| = 0.5508231048; w = (0.1309297536 + 1.8453512321) * 0.5508231048 = 1.0885812284;
    #           s1 - s3 = 1.0, sigmoid = 0.7310585786, log2 = -0.4519410831;
    #           term = 1.0885812284 * 0.4519410831 = 0.4919745794
    #   (3, 2): rho = |1/D(3) - 1/D(1)| = 0.5; |r3 - r2| = 2, delta = |1/D(2) - 1/D(3)| = 0.1309297536;
    #           |G3 - G2| = 0.2754115524; w = (0.5 + 0.6546487679) * 0.2754115524 = 0.3180036096;
    #           s3 - s2 = -1.5, sigmoid = 0.1824255238, log2 = -2.4546204986;
    #           term = 0.3180036096 * 2.4546204986 = 0.7805781788
    # loss = 2.5711742725 + 0.4919745794 + 0.7805781788 = 3.843727030713031 (one query)
    assert lambda_loss(*_example()).item() == pytest.approx(3.843727030713031, abs=1e-12)
    # mu = 0 keeps LambdaRank's weight rho |G_i - G_j| alone:
    #   0.3049386285 * 1.4052960345 + 0.0721191334 * 0.4519410831 + 0.1377057762 * 2.4546204986
    #   = 0.4285290454 + 0.0325935992 + 0.3380154210 = 0.7991380656815776
    assert lambda_loss(*_example(), mu=0.0).item() == pytest.approx(0.7991380656815776, abs=1e-12)


# --- properties over random batches ------------------------------------------------------------


def _batch(seed: int, queries: int = 4, items: int = 6, dtype=torch.float64):
    """Distinct random scores; graded relevance 0-4 with a relevant item in every query."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(queries, items, generator=generator, dtype=dtype)
    relevance = torch.randint(0, 5, (queries, items), generator=generator)
    relevance[:, 0] = torch.randint(1, 5, (queries,), generator=generator)
    return scores, relevance


PAD_SCORES = (float("inf"), float("-inf"), float("nan"), 1e6, -1e6, 0.0, 3.0)


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("seed", [0, 1])
def test_padding_takes_no_part(name, seed):
    loss = LOSSES[name]
    scores, relevance = _batch(seed)
    queries, items = scores.shape
    padded_items = items + 4
    generator = torch.Generator().manual_seed(100 + seed)
    # The real items at random places among padding of any score, a different place per query.
    places = torch.stack([torch.randperm(padded_items, generator=generator)[:items].sort().values
                          for _ in range(queries)])
    pad = torch.tensor(PAD_SCORES, dtype=scores.dtype)
    padded_scores = pad[torch.randint(len(PAD_SCORES), (queries, padded_items), generator=generator)]
    padded_scores = padded_scores.scatter(1, places, scores)
    padded_relevance = torch.full((queries, padded_items), -1).scatter(1, places, relevance)

    plain = scores.clone().requires_grad_()
    mixed = padded_scores.clone().requires_grad_()
    expected, value = loss(plain, relevance), loss(mixed, padded_relevance)
    expected.backward()
    value.backward()
    assert value.item() == pytest.approx(expected.item(), abs=1e-12)
    assert torch.allclose(mixed.grad.gather(1, places), plain.grad, atol=1e-12)
    is_real = torch.zeros(queries, padded_items, dtype=torch.bool).scatter(1, places, True)
    assert (mixed.grad[~is_real] == 0).all()


@pytest.mark.parametrize("name", LOSSES)
def test_the_gradient_is_finite_with_ties_padding_and_queries_left_out(name):
    loss = LOSSES[name]
    scores = torch.tensor([[0.3, 0.3, 0.3, -1.0, 2.0],   # ties
                           [1.0, -1.0, 0.0, 5.0, -5.0],  # no relevant item
                           [7.0, 7.0, 0.0, 0.0, 0.0],    # only padding
                           [0.0, 0.0, 0.0, 0.0, 0.0]],   # one real item
                          requires_grad=True)
    relevance = torch.tensor([[2, 0, 1, 4, -1],
                              [0, 0, 0, 0, 0],
                              [-1, -1, -1, -1, -1],
                              [-1, 3, -1, -1, -1]])
    value = loss(scores, relevance)
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(scores.grad).all()
    assert scores.grad[0].abs().sum() > 0  # the first query has a gradient
    assert (scores.grad[2] == 0).all()


@pytest.mark.parametrize("name", LOSSES)
def test_gradcheck(name):
    loss = LOSSES[name]
    scores, relevance = _batch(3, queries=2, items=4)
    relevance[1, 3] = -1
    torch.autograd.gradcheck(lambda s: loss(s, relevance), (scores.requires_grad_(),))


@pytest.mark.parametrize("name", LOSSES)
def test_a_perfect_ranking_is_below_its_reverse(name):
    loss = LOSSES[name]
    relevance = torch.tensor([[4, 3, 2, 1, 0, 0], [1, 0, 2, -1, 3, 0]])
    perfect = relevance.double() + 0.1 * torch.arange(6, 0, -1)  # ties among 0s broken: distinct scores
    reverse = -perfect
    assert loss(perfect, relevance).item() < loss(reverse, relevance).item()
    for query in range(2):  # and query by query
        assert loss(perfect[query:query + 1], relevance[query:query + 1]) < loss(reverse[query:query + 1],
                                                                                  relevance[query:query + 1])


@pytest.mark.parametrize("name", LOSSES)
def test_a_batch_is_the_mean_of_its_queries(name):
    loss = LOSSES[name]
    scores, relevance = _batch(7, queries=5, items=7)
    lengths = [7, 3, 5, 1, 6]  # lists of different lengths, padded to 7
    for query, length in enumerate(lengths):
        relevance[query, length:] = -1
    per_query = [loss(scores[q:q + 1, :n], relevance[q:q + 1, :n]) for q, n in enumerate(lengths)]
    assert loss(scores, relevance).item() == pytest.approx(torch.stack(per_query).mean().item(), abs=1e-12)


def test_which_queries_each_loss_leaves_out():
    scores = torch.tensor([[0.5, 1.0, -0.5], [0.2, 0.1, 0.0], [4.0, 5.0, 6.0]], dtype=torch.float64)
    relevance = torch.tensor([[2, 0, 1], [0, 0, 0], [-1, -1, -1]])
    first = scores[:1], relevance[:1]
    # The NDCG losses: a query without a relevant item has no NDCG; so has a query of padding.
    assert approx_ndcg(scores, relevance).item() == pytest.approx(approx_ndcg(*first).item(), abs=1e-12)
    assert neural_ndcg(scores, relevance).item() == pytest.approx(neural_ndcg(*first).item(), abs=1e-12)
    # ListNet: a query whose labels are equal keeps its uniform target; padding only is left out.
    assert listnet(scores, relevance).item() == pytest.approx(
        (listnet(*first) + listnet(scores[1:2], relevance[1:2])).item() / 2, abs=1e-12)
    # LambdaLoss: the pairs' sum over every query of the batch, 0 from a query without a pair.
    assert lambda_loss(scores, relevance).item() == pytest.approx(lambda_loss(*first).item() / 3, abs=1e-12)


@pytest.mark.parametrize("name", LOSSES)
def test_a_batch_with_nothing_to_learn_gives_zero_and_a_zero_gradient(name):
    loss = LOSSES[name]
    scores = torch.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    relevance = torch.tensor([[-1, -1], [-1, -1]])
    value = loss(scores, relevance)
    value.backward()
    assert value.item() == 0 and (scores.grad == 0).all()


def test_temperature_k_and_mu_are_keywords_that_matter():
    scores, relevance = _batch(11)
    assert approx_ndcg(scores, relevance, temperature=0.1) != approx_ndcg(scores, relevance)
    assert neural_ndcg(scores, relevance, temperature=0.1) != neural_ndcg(scores, relevance)
    assert neural_ndcg(scores, relevance, k=2) != neural_ndcg(scores, relevance)
    assert lambda_loss(scores, relevance, mu=10.0) != lambda_loss(scores, relevance)
    # A small temperature makes the approximations close to the exact NDCG of the scores' order.
    exact = _exact_ndcg(scores[0].numpy(), relevance[0].numpy())
    assert -neural_ndcg(scores[:1], relevance[:1], temperature=1e-3).item() == pytest.approx(exact, abs=1e-6)
    assert 1 - approx_ndcg(scores[:1], relevance[:1], temperature=1e-4).item() == pytest.approx(exact, abs=1e-3)


def _exact_ndcg(scores: np.ndarray, relevance: np.ndarray) -> float:
    gains = 2.0 ** relevance[np.argsort(-scores)] - 1
    ideal = np.sort(2.0 ** relevance - 1)[::-1]
    discounts = 1 / np.log2(np.arange(2, len(scores) + 2))
    return float((gains * discounts).sum() / (ideal * discounts).sum())


def test_bad_inputs_are_refused():
    scores, relevance = _batch(0)
    with pytest.raises(InputError, match="queries, items"):
        listnet(scores[0], relevance[0])
    with pytest.raises(InputError, match="queries, items"):
        approx_ndcg(scores, relevance[:, :3])
    with pytest.raises(InputError, match="floating point"):
        lambda_loss(relevance, relevance)
    with pytest.raises(InputError, match="k must"):
        neural_ndcg(scores, relevance, k=0)
    with pytest.raises(InputError, match="temperature"):
        approx_ndcg(scores, relevance, temperature=0.0)
    with pytest.raises(InputError, match="mu"):
        lambda_loss(scores, relevance, mu=-1.0)
    with pytest.raises(InputError, match="sinkhorn_iterations"):
        neural_ndcg(scores, relevance, sinkhorn_iterations=-1)


@pytest.mark.cuda
@pytest.mark.parametrize("name", LOSSES)
def test_cuda_matches_cpu(name):
    loss = LOSSES[name]
    scores, relevance = _batch(5, queries=8, items=20, dtype=torch.float32)
    relevance[3, 10:] = -1
    on_cpu = scores.clone().requires_grad_()
    on_gpu = scores.cuda().requires_grad_()
    expected, value = loss(on_cpu, relevance), loss(on_gpu, relevance.cuda())
    expected.backward()
    value.backward()
    assert value.item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-5)
    assert torch.allclose(on_gpu.grad.cpu(), on_cpu.grad, rtol=1e-3, atol=1e-5)
