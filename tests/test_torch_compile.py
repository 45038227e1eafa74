"""UniLoss inside ``torch.compile``: one op of the graph, with the eager loss's values and gradient."""

import copy
import pickle

import pytest
import torch

import metricloss as ml


def _binary(seed, n):
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.rand(n, generator=generator) < 0.2).long()
    labels[:2] = torch.tensor([1, 0])
    return torch.randn(n, generator=generator), labels


def _tied(seed, n):
    """Integer scores from a small range: most pairs are ties, which AUC counts one half."""
    scores, labels = _binary(seed, n)
    return torch.randint(0, 3, (n,), generator=torch.Generator().manual_seed(seed)).float(), labels


def _ranking(seed):
    generator = torch.Generator().manual_seed(seed)
    relevance = torch.randint(0, 4, (16, 60), generator=generator)
    relevance[:, 45:] = -1  # padding
    return torch.randn(16, 60, generator=generator), relevance


def _loss_and_gradient(loss_fn, scores, *targets):
    scores = scores.clone().requires_grad_()
    loss = loss_fn(scores, *targets)
    loss.backward()
    return loss.detach(), scores.grad


@pytest.mark.parametrize("name, batch, path", [
    ("auc", lambda seed: _binary(seed, 300), "statistics"),  # B=300: anchors through the statistics
    ("auc", lambda seed: _binary(seed, 16), "dense"),
    ("auc", lambda seed: _tied(seed, 300), "statistics"),
    ("auc", lambda seed: (torch.zeros(300), _binary(seed, 300)[1]), "statistics"),  # a collapsed model
    ("average_precision", lambda seed: _binary(seed, 200), "rows"),
    ("ndcg_at_k", _ranking, "rows"),
])
def test_a_fullgraph_compile_of_the_loss_gives_the_eager_loss_and_gradient(name, batch, path):
    eager = ml.UniLoss(name, seed=3)
    module = ml.UniLoss(name, seed=3)
    compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
    for seed in range(3):  # the same stream: the same anchors, call after call
        scores, targets = batch(seed)
        expected = _loss_and_gradient(eager, scores, targets)
        got = _loss_and_gradient(compiled, scores, targets)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
        assert module.last.path == eager.last.path == path
        assert torch.equal(module.last.value, eager.last.value)


def test_a_training_step_with_the_loss_compiles_whole_with_inductor():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    twin = copy.deepcopy(model)
    loss_fn, eager_fn = ml.UniLoss("auc", seed=0), ml.UniLoss("auc", seed=0)
    features, labels = torch.randn(128, 8), (torch.arange(128) % 4 == 0).long()

    @torch.compile(fullgraph=True)  # raises on any graph break
    def step(features, labels):
        return loss_fn(model(features).squeeze(1), labels)

    loss = step(features, labels)
    loss.backward()
    eager = eager_fn(twin(features).squeeze(1), labels)
    eager.backward()
    torch.testing.assert_close(loss, eager)
    for compiled_parameter, eager_parameter in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(compiled_parameter.grad, eager_parameter.grad)


def test_without_a_gradient_the_compiled_loss_computes_none():
    module = ml.UniLoss("auc", seed=0)
    compiled = torch.compile(module, fullgraph=True, backend="aot_eager")
    scores, labels = _binary(0, 64)
    with torch.no_grad():
        loss = compiled(scores, labels)
    assert not loss.requires_grad
    torch.testing.assert_close(loss, ml.UniLoss("auc", seed=0)(scores, labels))


def test_copies_of_a_compiled_loss_are_losses_of_their_own():
    original = ml.UniLoss("auc", seed=0)
    for copied in (copy.deepcopy(original), pickle.loads(pickle.dumps(original))):
        assert int(copied.handle) != int(original.handle)
        scores, labels = _binary(1, 64)
        torch.compile(copied, fullgraph=True, backend="aot_eager")(scores, labels)
        assert copied.last is not None and original.last is None


def test_many_losses_compile_without_compiling_the_loss_again_for_each():
    """Dynamo compiles a function again for each new value it specialised on and stops after
    eight: a module's handle must be data, not a constant of the graph."""
    scores, labels = _binary(2, 64)
    for seed in range(12):
        torch.compile(ml.UniLoss("auc", seed=seed), fullgraph=True, backend="aot_eager")(scores, labels)


def test_targets_that_are_not_tensors_are_refused_under_compile():
    metric = ml.metric(best=1.0, name="shifted_accuracy")(
        lambda scores, labels, shift: ((scores > shift) == labels.bool()).float().mean()
    )
    compiled = torch.compile(ml.UniLoss(metric, seed=0), fullgraph=True, backend="aot_eager")
    # Dynamo reports the TypeError raised while tracing inside errors of its own, which chain to it.
    with pytest.raises(Exception) as raised:
        compiled(torch.randn(8), torch.arange(8) % 2, 0.5)
    chain, error = [], raised.value
    while error is not None:
        chain.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    assert any("UniLoss under torch.compile takes tensors: scores and targets; pass every target as a tensor "
               "(got Tensor, Tensor, float)" in text for text in chain), chain
    # Without fullgraph, dynamo runs that frame eagerly, and the loss refuses the number as it always does.
    compiled = torch.compile(ml.UniLoss(metric, seed=0), backend="aot_eager")
    with pytest.raises(ml.InputError, match=r"shift \(argument 3\) must be a torch.Tensor, got the Python number 0.5"):
        compiled(torch.randn(8), torch.arange(8) % 2, 0.5)


@pytest.mark.cuda
def test_a_fullgraph_compile_on_cuda_gives_the_eager_loss_and_gradient():
    scores, labels = _binary(0, 2048)
    scores, labels = scores.cuda(), labels.cuda()
    eager = ml.UniLoss("auc", generator=torch.Generator(device="cuda").manual_seed(0))
    compiled = torch.compile(ml.UniLoss("auc", generator=torch.Generator(device="cuda").manual_seed(0)),
                             fullgraph=True)
    for _ in range(2):
        expected, got = _loss_and_gradient(eager, scores, labels), _loss_and_gradient(compiled, scores, labels)
        assert torch.equal(got[0], expected[0]) and torch.equal(got[1], expected[1])
