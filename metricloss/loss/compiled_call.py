"""``UniLoss`` under ``torch.compile``: the loss as one op of the compiled graph.

A batch's loss makes choices that read its tensors on the host: how many positives AUC compares,
which binaries are dead, whether the affine statistics agree with ``g``, which anchors have a
value. Dynamo cannot trace those without breaking the graph (about forty breaks for AUC), and
with ``fullgraph=True`` it refuses. So while dynamo traces, ``UniLoss.forward`` calls one
registered op, ``metricloss::uniloss``, instead: the compiler sees a single node whose output
shapes it knows in advance (a 0-d loss, and a gradient shaped like the scores), and the model
around it compiles whole. At run time the op is the eager loss itself (the same anchors from the
same stream, the same value, ``last`` and counters); autograd computes the gradient of the scores
in the same call, when the scores need one, and the op's backward scales it by the incoming
gradient. The loss inside the op is not compiled: its speed is the eager loss's, and a CUDA graph
can capture the model's part of a step but not the loss.

The op reaches its module through a handle each ``UniLoss`` registers when it is made or
unpickled (``register``), passed as a 0-d tensor; a registered module is held weakly.
"""

from __future__ import annotations

import itertools
import weakref

import torch

_MODULES: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_PLAIN_DISPATCH = (torch._C._dispatch_tls_local_include_set(), torch._C._dispatch_tls_local_exclude_set())
_HANDLES = itertools.count()


def register(module: torch.nn.Module) -> torch.Tensor:
    """A handle by which the op finds ``module`` (a fresh one for every module, copies included):
    a 0-d tensor, not a number, so that dynamo reads it as data instead of compiling the loss
    again for each module (it stops after eight)."""
    handle = next(_HANDLES)
    _MODULES[handle] = module
    return torch.tensor(handle)


def loss_dtype(scores: torch.Tensor) -> torch.dtype:
    """The eager loss's dtype: float64 for float64 scores, float32 for every other float type."""
    return torch.float64 if scores.dtype == torch.float64 else torch.float32


@torch.library.custom_op("metricloss::uniloss", mutates_args=())
def uniloss_op(scores: torch.Tensor, targets: list[torch.Tensor], module: torch.Tensor,
               gradient: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(the loss, d loss / d scores) of the module whose handle is ``module`` on this batch; zeros
    for the gradient when ``gradient`` is false or the batch gives the scores none."""
    loss_fn = _MODULES[int(module)]
    # The dispatcher runs an op's implementation below autograd; the loss needs autograd (its
    # gradient, the affine statistics' J) and vmap as in any eager call: the dispatch state of a
    # plain call, as it was when this module was imported.
    with torch._C._ForceDispatchKeyGuard(*_PLAIN_DISPATCH), torch.enable_grad():
        leaf = scores.detach().requires_grad_(gradient)
        loss = loss_fn.eager_loss(leaf, *targets)
        grad = None
        if gradient and loss.requires_grad:
            grad = torch.autograd.grad(loss, leaf, allow_unused=True)[0]
    return loss.detach().to(loss_dtype(scores)), torch.zeros_like(scores) if grad is None else grad


@uniloss_op.register_fake
def _(scores, targets, module, gradient):
    return scores.new_empty((), dtype=loss_dtype(scores)), torch.empty_like(scores)


def _keep_gradient(ctx, inputs, output) -> None:
    ctx.save_for_backward(output[1])
    ctx.targets = len(inputs[1])


def _backward(ctx, grad_loss, grad_gradient):
    (gradient,) = ctx.saved_tensors
    return (grad_loss * gradient).to(gradient.dtype), [None] * ctx.targets, None, None


uniloss_op.register_autograd(_backward, setup_context=_keep_gradient)


def compiled_loss(module, scores: torch.Tensor, targets: tuple) -> torch.Tensor:
    """The loss as ``torch.compile`` sees it: one call of ``metricloss::uniloss``."""
    if not isinstance(scores, torch.Tensor) or not all(isinstance(t, torch.Tensor) for t in targets):
        # A TypeError, not our InputError: dynamo raises only built-in exceptions from a traced frame.
        raise TypeError(
            "UniLoss under torch.compile takes tensors: scores and targets; pass every target as a "
            f"tensor (got {', '.join(type(v).__name__ for v in (scores, *targets))})"
        )
    gradient = scores.requires_grad and torch.is_grad_enabled()
    return uniloss_op(scores, list(targets), module.handle, gradient)[0]
