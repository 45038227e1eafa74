"""Checking a metric's inputs before they reach the compiled code.

A metric may declare its arguments' shapes (einops-style dimension names, ``"N C"``) and which
arguments hold class labels and how many classes there are. Every call checks what can be checked
cheaply, and each failure is an InputError naming the argument and what was expected:

    >>> spec = InputSpec.parse(["scores", "labels"], {"scores": "N C", "labels": "N"}, {"labels": "C"})
    >>> spec.check("accuracy", torch.zeros(4, 3), torch.tensor([0, 1, 2, 3]))
    Traceback (most recent call last):
    ...
    metricloss.errors.InputError: accuracy: labels must hold class indices in [0, 3) (C = 3); found 3 at index (3,)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..errors import CompileError, InputError


@dataclass(frozen=True)
class InputSpec:
    names: tuple[str, ...]  # positional argument names; names[0] is the scores
    shapes: Mapping[str, tuple[str, ...]]
    classes: Mapping[str, int | str]

    @classmethod
    def parse(cls, names: Sequence[str], shapes: Mapping[str, str] | None,
              classes: Mapping[str, int | str] | None) -> InputSpec:
        shapes, classes = dict(shapes or {}), dict(classes or {})
        for kind, table in (("shapes", shapes), ("classes", classes)):
            unknown = set(table) - set(names)
            if unknown:
                raise CompileError(
                    f"{kind}= names {sorted(unknown)}, which are not arguments of the metric "
                    f"(its arguments are {list(names)})"
                )
        parsed = {name: tuple(text.split()) for name, text in shapes.items()}
        dims = {d for dims in parsed.values() for d in dims}
        for name, count in classes.items():
            if isinstance(count, str) and count not in dims:
                raise CompileError(
                    f"classes={{{name!r}: {count!r}}}: {count!r} is not a dimension named in shapes="
                )
        return cls(tuple(names), parsed, classes)

    def check(self, metric: str, scores, *targets) -> None:
        if len(targets) != len(self.names) - 1:
            raise InputError(
                f"{metric} takes {len(self.names)} arguments ({', '.join(self.names)}); "
                f"got {1 + len(targets)}"
            )
        arguments = dict(zip(self.names, (scores, *targets)))
        for name, value in arguments.items():
            if name in self.shapes or name in self.classes or name == self.names[0]:
                if not isinstance(value, torch.Tensor):
                    raise InputError(f"{metric}: {name} must be a torch.Tensor, got {type(value).__name__}")
        if not scores.is_floating_point():
            raise InputError(
                f"{metric}: {self.names[0]} must be a floating-point tensor of model outputs, got {scores.dtype}"
            )
        for name, value in arguments.items():
            if isinstance(value, torch.Tensor) and value.device != scores.device:
                raise InputError(
                    f"{metric}: {name} is on {value.device} but {self.names[0]} is on {scores.device}; "
                    "move them to one device"
                )
        sizes: dict[str, tuple[int, str]] = {}
        for name, dims in self.shapes.items():
            value = arguments[name]
            if value.dim() != len(dims):
                raise InputError(
                    f"{metric}: {name} must have shape [{', '.join(dims)}] ({len(dims)} dimensions), "
                    f"got {tuple(value.shape)}"
                )
            for dim, size in zip(dims, value.shape):
                if dim.isdigit() and int(dim) != size:
                    raise InputError(f"{metric}: {name} must have size {dim} in dimension {dims.index(dim)}, got {size}")
                if dim in sizes and sizes[dim][0] != size:
                    first_size, first = sizes[dim]
                    raise InputError(
                        f"{metric}: {name} has {dim} = {size} but {first} has {dim} = {first_size}; "
                        f"expected {self._describe()}"
                    )
                sizes.setdefault(dim, (size, name))
        _check_finite(metric, self.names[0], scores)
        for name, count in self.classes.items():
            if isinstance(count, str):
                _check_labels(metric, name, arguments[name], sizes[count][0], f" ({count} = {sizes[count][0]})")
            else:
                _check_labels(metric, name, arguments[name], count, "")

    def synthetic(self, seed: int = 0, size: int = 6, classes: int = 3) -> list[torch.Tensor] | None:
        """A small valid batch built from the declared shapes, or None if some argument has none.

        Dimensions get ``size`` entries (``classes`` for a dimension that counts classes); class
        arguments cycle through every class; the rest are standard normal and tie-free.
        """
        if any(name not in self.shapes for name in self.names):
            return None
        class_dims = {count for count in self.classes.values() if isinstance(count, str)}
        sizes = {dim: (classes if dim in class_dims else size) for dims in self.shapes.values() for dim in dims}
        sizes.update({dim: int(dim) for dim in sizes if dim.isdigit()})
        generator = torch.Generator().manual_seed(seed)
        arguments = []
        for name in self.names:
            shape = [sizes[d] for d in self.shapes[name]]
            count = self.classes.get(name)
            if count is None:
                arguments.append(torch.randn(shape, generator=generator))
            else:
                count = sizes[count] if isinstance(count, str) else count
                labels = torch.arange(math.prod(shape)) % count
                arguments.append(labels[torch.randperm(labels.numel(), generator=generator)].reshape(shape))
        return arguments

    def _describe(self) -> str:
        return ", ".join(f"{name} [{', '.join(dims)}]" for name, dims in self.shapes.items())


def _check_finite(metric: str, name: str, scores: torch.Tensor) -> None:
    finite = torch.isfinite(scores)
    if not bool(finite.all()):
        index = tuple(int(i) for i in (~finite).nonzero()[0])
        raise InputError(
            f"{metric}: {name} contain {scores[index].item()} at index {index}; scores must be finite "
            "(a NaN or Inf usually means the model diverged: lower the learning rate)"
        )


def _check_labels(metric: str, name: str, labels: torch.Tensor, count: int, where: str) -> None:
    if labels.is_floating_point() or labels.is_complex():
        raise InputError(
            f"{metric}: {name} must be an integer (or bool) tensor of class indices, got {labels.dtype}; "
            f"convert with `{name}.long()`"
        )
    if labels.numel() == 0:
        return
    bad = (labels < 0) | (labels >= count)
    if bool(bad.any()):
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise InputError(
            f"{metric}: {name} must hold class indices in [0, {count}){where}; found "
            f"{labels[index].item()} at index {index}"
        )
