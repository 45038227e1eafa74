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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from ..errors import CompileError, InputError


@dataclass(frozen=True)
class InputSpec:
    names: tuple[str, ...]  # positional argument names; names[0] is the scores
    shapes: Mapping[str, tuple[str, ...]]
    classes: Mapping[str, int | str]
    # A valid batch for a seed, from the declaration (``example=``), where the shapes cannot say
    # what valid values are (positive head sizes); ``synthetic`` returns it.
    example: Callable[[int], Sequence[torch.Tensor]] | None = None

    @classmethod
    def parse(cls, names: Sequence[str], shapes: Mapping[str, str] | None,
              classes: Mapping[str, int | str] | None, example: Callable | None = None) -> InputSpec:
        for kind, table, sample in (("shapes", shapes, '{"scores": "N C", "labels": "N"}'),
                                     ("classes", classes, '{"labels": "C"} or {"labels": 2}')):
            if table is not None and not isinstance(table, Mapping):
                raise CompileError(
                    f"{kind}= must be a dict from argument names, e.g. {kind}={sample}; "
                    f"got {type(table).__name__} {table!r}"
                )
        shapes, classes = dict(shapes or {}), dict(classes or {})
        for kind, table in (("shapes", shapes), ("classes", classes)):
            unknown = set(table) - set(names)
            if unknown:
                raise CompileError(
                    f"{kind}= names {sorted(unknown, key=str)}, which are not arguments of the metric "
                    f"(its arguments are {list(names)})"
                )
        parsed = {name: _dims(name, text) for name, text in shapes.items()}
        dims = {d for dims in parsed.values() for d in dims}
        for name, count in classes.items():
            if name == names[0]:
                raise CompileError(
                    f"classes={{{name!r}: {count!r}}}: {name} is the scores (the model's outputs), not class "
                    "indices; classes= names the targets that hold class indices"
                )
            if isinstance(count, str):
                if count not in dims:
                    raise CompileError(
                        f"classes={{{name!r}: {count!r}}}: {count!r} is not a dimension named in shapes=; "
                        f"name it there (shapes={{{names[0]!r}: \"N {count}\", ...}}) or give the number of classes"
                    )
            elif isinstance(count, bool) or not isinstance(count, int) or count < 2:
                raise CompileError(
                    f"classes={{{name!r}: {count!r}}}: the number of classes must be an int of at least 2 "
                    "(2 for binary labels in {0, 1}) or the name of a dimension in shapes= (\"C\")"
                )
        if example is not None and not callable(example):
            raise CompileError(
                f"example= must be a function of a seed returning a valid batch ({', '.join(names)}), "
                f"got {type(example).__name__}"
            )
        return cls(tuple(names), parsed, classes, example)

    def check_tensors(self, metric: str, scores, *targets, parameters: Sequence[str] = (),
                      loss: bool = False) -> None:
        """An InputError unless the call has one tensor per argument.

        Every entry that takes a batch runs this first, before anything reads ``.device`` or
        ``.shape`` (which would fail on an array or a list with an AttributeError saying nothing
        of the call); it reads only Python types, so it costs no device sync. ``loss``: the
        scores are a loss's input, which must be the model's output itself, not a converted copy.
        """
        if len(targets) != len(self.names) - 1:
            hint = ""
            if len(targets) > len(self.names) - 1 and parameters:
                hint = f"; parameters go by keyword ({', '.join(f'{p}=...' for p in parameters)})"
            raise InputError(
                f"{metric} takes {len(self.names)} arguments ({', '.join(self.names)}); "
                f"got {1 + len(targets)}{hint}"
            )
        for position, (name, value) in enumerate(zip(self.names, (scores, *targets)), 1):
            if not isinstance(value, torch.Tensor):
                raise InputError(_not_a_tensor(metric, name, position, value, loss and position == 1))

    def check(self, metric: str, scores, *targets, parameters: Sequence[str] = ()) -> None:
        """Raise an InputError for the first thing wrong with a call's inputs (see the module doc).

        The value checks (finite scores, class indices in range) cost one device sync together.
        """
        self.check_tensors(metric, scores, *targets, parameters=parameters)
        arguments = dict(zip(self.names, (scores, *targets)))
        if not scores.is_floating_point():
            raise InputError(
                f"{metric}: {self.names[0]} must be a floating-point tensor of model outputs, got {scores.dtype}; "
                f"pass the model's raw outputs (logits), or `{self.names[0]}.float()`"
            )
        for name, value in arguments.items():
            if value.device != scores.device:
                raise InputError(
                    f"{metric}: {name} is on {value.device} but {self.names[0]} is on {scores.device}; "
                    f"move them to one device (`{name}.to({self.names[0]}.device)`)"
                )
        sizes: dict[str, tuple[int, str]] = {}
        for name, dims in self.shapes.items():
            value = arguments[name]
            if value.dim() != len(dims):
                raise InputError(
                    f"{metric}: {name} must have shape [{', '.join(dims)}] ({len(dims)} dimensions), "
                    f"got {tuple(value.shape)}{_rank_hint(name, dims, value)}"
                )
            for position, (dim, size) in enumerate(zip(dims, value.shape)):
                if dim.isdigit() and int(dim) != size:
                    raise InputError(
                        f"{metric}: {name} must have size {dim} in dimension {position} (shape "
                        f"[{', '.join(dims)}]), got {tuple(value.shape)}"
                    )
                if dim in sizes and sizes[dim][0] != size:
                    first_size, first = sizes[dim]
                    raise InputError(
                        f"{metric}: {name} has {dim} = {size} but {first} has {dim} = {first_size}; "
                        f"expected {self._describe()}"
                    )
                sizes.setdefault(dim, (size, name))
        for name, count in self.classes.items():
            labels = arguments[name]
            if labels.is_floating_point() or labels.is_complex():
                raise InputError(
                    f"{metric}: {name} must be an integer (or bool) tensor of class indices, got {labels.dtype}; "
                    f"convert with `{name}.long()`"
                )
            if isinstance(count, str) and sizes[count][0] < 2:
                size, holder = sizes[count]
                raise InputError(
                    f"{metric}: {holder} has {count} = {size} classes (shape {tuple(arguments[holder].shape)}); "
                    f"{name} needs at least 2 to choose from. For a binary task pass both classes' scores "
                    f"([N, 2] logits), or use a binary metric on [N] scores"
                )
        # The value checks, one device sync for all of them; the details only on failure.
        flags = [~torch.isfinite(scores).all()]
        bounds = {name: (sizes[count][0] if isinstance(count, str) else count) for name, count in self.classes.items()}
        flags += [_out_of_range(arguments[name], count).any() for name, count in bounds.items()]
        if bool(torch.stack(flags).any()):
            _check_finite(metric, self.names[0], scores)
            for name, count in self.classes.items():
                where = f" ({count} = {bounds[name]})" if isinstance(count, str) else ""
                _check_labels(metric, name, arguments[name], bounds[name], where)

    def synthetic(self, seed: int = 0, size: int = 6, classes: int = 3) -> list[torch.Tensor] | None:
        """A small valid batch built from the declared shapes, or None if some argument has none.

        Dimensions get ``size`` entries (``classes`` for a dimension that counts classes); class
        arguments cycle through every class; the rest are standard normal and tie-free. A
        declaration's ``example=`` replaces all this.
        """
        if self.example is not None:
            return list(self.example(seed))
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


def _not_a_tensor(metric: str, name: str, position: int, value, model_output: bool) -> str:
    """What was passed instead of a tensor, and how to pass one: a loss's scores must be the
    model's output itself (a tensor made from an array of its values carries no gradient back to
    the model); any other argument is converted."""
    kind = type(value)
    library = kind.__module__.split(".")[0]
    convert = f"`torch.as_tensor({name})`"
    if library not in ("builtins", "torch") and hasattr(value, "__array__"):  # numpy, pandas, jax, ...
        shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
        got = (f"a {library} {kind.__name__}" + (f" of shape {tuple(shape)}" if shape else "")
               + (f" ({dtype})" if dtype is not None and str(dtype) != kind.__name__ else ""))
        if library == "numpy" and kind.__name__ == "ndarray":
            convert = f"`torch.from_numpy({name})` (or `torch.as_tensor({name})`)"
    elif isinstance(value, (list, tuple)):
        got = f"a {kind.__name__} of {len(value)} items"
    elif isinstance(value, (bool, int, float, complex)):
        got = f"the Python number {value!r}"
    else:
        got, convert = f"{kind.__name__} {value!r}"[:120], None
    said = f"{metric}: {name} (argument {position}) must be a torch.Tensor, got {got}"
    if model_output:
        return (f"{said}. Pass the tensor the model returned, before any `.detach()`, `.numpy()` or "
                "`.tolist()`: the loss trains the model through it, and a tensor made back from its "
                "values carries no gradient to the model. To evaluate the metric on arrays instead, "
                "call the metric, not the loss, on `torch.as_tensor(...)` of them")
    if convert is None:
        return f"{said}; pass a tensor holding the {name}"
    return f"{said}; convert it with {convert}"


def _dims(name: str, text) -> tuple[str, ...]:
    """``"N C"`` as ``("N", "C")``: names (identifiers) and fixed sizes (positive integers)."""
    if not isinstance(text, str):
        raise CompileError(
            f"shapes={{{name!r}: {text!r}}}: a shape is a string of dimension names, e.g. \"N C\", "
            f"got {type(text).__name__}"
        )
    dims = tuple(text.split())
    for dim in dims:
        if not (dim.isidentifier() or (dim.isdigit() and int(dim) > 0)):
            raise CompileError(
                f"shapes={{{name!r}: {text!r}}}: {dim!r} is not a dimension; write names (N, C) and "
                "positive sizes (2) separated by spaces, e.g. \"N J 2\""
            )
    return dims


def _rank_hint(name: str, dims: tuple[str, ...], value: torch.Tensor) -> str:
    """What to do about a tensor with one dimension too many or too few."""
    if value.dim() == len(dims) + 1 and value.shape[-1] == 1:
        return f"; drop the trailing dimension of size 1 with `{name}.squeeze(-1)`"
    if value.dim() == len(dims) + 1 and value.shape[-1] == 2 and len(dims) == 1:
        return f"; for two-class outputs pass the positive class's column, `{name}[:, 1]`"
    return ""


def _out_of_range(labels: torch.Tensor, count: int) -> torch.Tensor:
    return (labels < 0) | (labels >= count) if labels.dtype != torch.bool else torch.zeros((), dtype=torch.bool,
                                                                                        device=labels.device)


def _check_finite(metric: str, name: str, scores: torch.Tensor) -> None:
    finite = torch.isfinite(scores)
    if not bool(finite.all()):
        index = tuple(int(i) for i in (~finite).nonzero()[0])
        raise InputError(
            f"{metric}: {name} contain {scores[index].item()} at index {index}; scores must be finite "
            "(a NaN or Inf usually means the model diverged: lower the learning rate)"
        )


def _check_labels(metric: str, name: str, labels: torch.Tensor, count: int, where: str) -> None:
    if labels.numel() == 0:
        return
    bad = _out_of_range(labels, count)
    if bool(bad.any()):
        index = tuple(int(i) for i in bad.nonzero()[0])
        raise InputError(
            f"{metric}: {name} must hold class indices in [0, {count}){where}; found "
            f"{labels[index].item()} at index {index}"
        )
