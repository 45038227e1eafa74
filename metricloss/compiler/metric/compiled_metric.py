"""``Metric``: a compiled metric as users hold it; its exact value, its binaries, its parameters.

A metric pickles by reference, as a function does: its name, where its declaration lives
(``module:qualname``) and its bound parameters. Unpickling finds the declaration again (it
imports the module, which registers it, or looks the name up) and binds the parameters, so
``torch.save`` of a model holding a UniLoss stores no code, and a process that loads it uses the
definition it has installed.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import numbers
import pickle
import sys
from collections.abc import Mapping
from typing import Any

import torch

from ...errors import CompileError, InputError, PluginError
from ...registry import REGISTRY
from ..binaries import Binaries
from ..exact import Evaluation
from ..inputs import InputSpec
from ..program import Program
from ..shapes import PerShape
from .declaration import Compiled, Declaration, run_check
from .driver import compiled_binding
from .selections import check_selections


class Metric:
    """A compiled metric. Calling it gives the exact value, computed through its binaries.

    >>> import metricloss as ml
    >>> auc = ml.get_metric("auc")
    >>> auc(torch.tensor([0.9, 0.2, 0.6, 0.4]), torch.tensor([1, 0, 0, 1])).item()
    0.75
    """

    def __init__(self, declaration: Declaration, params: Mapping[str, Any]):
        self.declaration = declaration
        self.params = dict(params)
        try:
            key = tuple(sorted(self.params.items()))
            hash(key)
        except TypeError:
            unhashable = sorted(k for k, v in self.params.items() if not _hashable(v))
            raise InputError(
                f"metric `{declaration.name}`: parameter {unhashable[0]}={self.params[unhashable[0]]!r} "
                "is not a constant the metric can be compiled for (not hashable); pass a number, a "
                "string or a tuple"
            ) from None
        try:
            self._compiled = compiled_binding(declaration, key)
        except InputError as error:  # a parameter the metric's own code refuses while tracing
            if error.metric == declaration.name:
                raise
            raise InputError(f"metric `{declaration.name}`: {error}", metric=declaration.name) from None

    @property
    def per_shape(self) -> bool:
        """Whether the metric's code reads shapes as numbers, so it is compiled per shape."""
        return isinstance(self._compiled, PerShape)

    @property
    def compiled(self) -> Compiled:
        """The compiled metric, for a metric traced once for every shape (see ``compiled_for``)."""
        if isinstance(self._compiled, PerShape):
            raise CompileError(
                f"metric `{self.name}` is compiled for each input shape ({self._compiled.reason.construct} "
                f"at {self._compiled.where}): use `compiled_for(scores, *targets)`"
            )
        return self._compiled

    def compiled_for(self, scores: torch.Tensor, *targets) -> Compiled:
        """The compiled metric for inputs of these shapes (the same object for every shape, unless
        the code reads shapes as Python numbers)."""
        if isinstance(self._compiled, PerShape):
            self.check_inputs(scores, *targets)
            return self._compiled.compiled_for((scores, *targets))
        return self._compiled

    @property
    def name(self) -> str:
        return self.declaration.name

    @property
    def best(self) -> float | None:
        return self.declaration.best

    @property
    def higher_is_better(self) -> bool:
        return self.declaration.higher_is_better

    @property
    def program(self) -> Program:
        return self.compiled.program

    def check_tensors(self, scores, *targets, loss: bool = False) -> None:
        """An InputError unless each argument is a tensor (``InputSpec.check_tensors``); no sync."""
        who = f"UniLoss of metric `{self.name}`" if loss else f"metric `{self.name}`"
        self.declaration.spec.check_tensors(who, scores, *targets, parameters=tuple(self.declaration.defaults),
                                            loss=loss)

    def check_inputs(self, scores, *targets) -> None:
        """An InputError for the first thing wrong with these inputs (declared shapes, dtypes,
        devices, finite scores, class indices in range, the declaration's own ``check=``)."""
        decl = self.declaration
        decl.spec.check(f"metric `{self.name}`", scores, *targets, parameters=tuple(decl.defaults))
        if decl.check is not None:
            run_check(decl, scores, targets, self.params)

    def binaries(self, scores: torch.Tensor, *targets) -> Binaries:
        return self.prepared(scores, *targets)[1]

    def prepared(self, scores: torch.Tensor, *targets) -> tuple[Compiled, Binaries]:
        """The compiled metric for these inputs and their binaries, the inputs checked once: what
        the loss needs of a batch before anything else."""
        compiled = self._checked(scores, targets)
        return compiled, compiled.program.pairs(scores, targets)

    def _checked(self, scores: torch.Tensor, targets: tuple) -> Compiled:
        """The inputs checked (once), then the compiled metric for their shapes."""
        self.check_inputs(scores, *targets)
        compiled = self._compiled.compiled_for((scores, *targets)) if self.per_shape else self._compiled
        if compiled.selections and self.declaration.spec.names[0] not in self.declaration.spec.shapes:
            check_selections(compiled, scores, targets)
        return compiled

    def __call__(self, scores: torch.Tensor, *targets, **params) -> torch.Tensor:
        """The exact value; ``params`` bind the metric's parameters for this call."""
        return self.evaluate(scores, *targets, **params).value

    def evaluate(self, scores: torch.Tensor, *targets, **params) -> Evaluation:
        """The exact value (float32) and how it was computed: per block, whether its binaries were
        counted by sorting, searched, held in slabs, held whole, or computed as written (small
        blocks and comparisons that are not of two vectors); see ``compiler/exact/``."""
        if params:
            return self.bind(**params).evaluate(scores, *targets)
        compiled = self._checked(scores, targets)
        with torch.no_grad():
            evaluation = compiled.program.evaluate(scores, targets)
        return dataclasses.replace(evaluation, value=evaluation.value.to(torch.float32))

    def bind(self, **params) -> Metric:
        unknown = set(params) - set(self.declaration.defaults)
        if unknown:
            known = sorted(self.declaration.defaults)
            close = difflib.get_close_matches(sorted(unknown)[0], known, n=1)
            hint = f". Did you mean {close[0]}=?" if close else ""
            raise InputError(
                f"metric `{self.name}` has no parameter {sorted(unknown)}; its parameters (arguments "
                f"with a default, or keyword-only) are {known or 'none'}{hint}"
            )
        return Metric(self.declaration, {**self.params, **params})

    def __repr__(self) -> str:
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"<Metric {self.name}{params} from {self.declaration.location}>"

    # A metric pickles by reference, as a function does: its name, where its declaration lives
    # (``module:qualname``) and its bound parameters. Unpickling finds the declaration again (it
    # imports the module, which registers it, or looks the name up) and binds the parameters, so
    # ``torch.save`` of a model holding a UniLoss stores no code, and a process that loads it
    # uses the definition it has installed.
    def __reduce__(self):
        module, qualname = self._reference()
        return restore_metric, (self.name, module, qualname, dict(self.params))

    def __copy__(self) -> Metric:
        return self  # immutable: a copy would be the same metric

    def __deepcopy__(self, memo) -> Metric:
        return self

    def _reference(self) -> tuple[str | None, str | None]:
        """``(module, qualname)`` of a module-level declaration, else ``(None, None)`` when the name
        is registered to this definition; a PicklingError when neither finds it again."""
        decl = self.declaration
        module, qualname = getattr(decl.fn, "__module__", None), getattr(decl.fn, "__qualname__", "")
        found = _module_attribute(sys.modules.get(module), qualname)
        if _same_definition(found, decl):
            return module, qualname
        entry = REGISTRY.entry("metric", self.name)
        if entry is not None and _same_definition(entry.plugin, decl):
            return (module if module in sys.modules and module != "__main__" else None), None
        raise pickle.PicklingError(
            f"metric `{self.name}` (declared at {decl.location}) cannot be pickled: a metric is pickled by "
            f"reference, by its registered name or as module:qualname, and it is neither registered under "
            f"its name (register=False) nor a module-level name ({module}.{qualname}). Declare it at module "
            "level with @metricloss.metric, registered"
        )


class Unbound(Metric):
    """A metric whose required keyword-only parameters are not given yet: bind them to use it."""

    def __init__(self, declaration: Declaration):
        self.declaration = declaration
        self.params = {}
        self._compiled = None

    def __call__(self, scores, *targets):
        return self.evaluate(scores, *targets)

    def evaluate(self, scores, *targets):
        raise InputError(
            f"metric `{self.name}` needs {sorted(self.declaration.required)}: use "
            f"metricloss.get_metric({self.name!r}, ...) or .bind(...)"
        )

    def bind(self, **params) -> Metric:
        missing = self.declaration.required - set(params)
        if missing:
            raise InputError(f"metric `{self.name}` needs {sorted(missing)}")
        return Metric(self.declaration, {k: v for k, v in self.declaration.defaults.items()
                                         if k not in self.declaration.required} | params)


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _module_attribute(module, qualname: str):
    """``module.qualname`` (dotted), or None."""
    found = module
    for part in qualname.split(".") if qualname else ():
        if part == "<locals>" or found is None:
            return None
        found = getattr(found, part, None)
    return found if module is not None else None


def _same_definition(found, declaration: Declaration) -> bool:
    return (isinstance(found, Metric) and found.name == declaration.name
            and found.declaration.fingerprint == declaration.fingerprint)


def restore_metric(name: str, module: str | None, qualname: str | None, params: dict) -> Metric:
    """Unpickle a metric (``Metric.__reduce__``): its declaration found again, its parameters bound."""
    found = None
    if module is not None:
        try:
            imported = importlib.import_module(module)  # declaring it there registers it too
        except ImportError:
            imported = None
        found = _module_attribute(imported, qualname or "")
    if not (isinstance(found, Metric) and found.name == name):
        try:
            found = REGISTRY.get("metric", name)
        except PluginError as error:
            where = f" (declared in {module}{'.' + qualname if qualname else ''})" if module else ""
            raise PluginError(f"unpickling metric `{name}`{where}: {error}") from None
    if params == found.params:
        return found
    return found.bind(**params)


def get_metric(name: str | Metric, **params) -> Metric:
    """The registered metric called ``name``, with keyword-only parameters bound to ``params``."""
    if not isinstance(name, (str, Metric)):
        raise PluginError(
            f"get_metric takes a metric's name (\"auc\") or a Metric (a function decorated with "
            f"@metricloss.metric), got {type(name).__name__} {name!r}"[:300]
        )
    found = name if isinstance(name, Metric) else REGISTRY.get("metric", name)
    return found.bind(**params) if params or isinstance(found, Unbound) else found
