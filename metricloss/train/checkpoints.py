"""Checkpoints: everything needed to continue a run exactly, and nothing a stranger could exploit.

A checkpoint holds only tensors and plain containers, so it is read with
``torch.load(weights_only=True)``: opening a file someone sent cannot run their code. It carries
a SHA-256 of everything in it, checked on every read, so bytes flipped on disk are an error rather
than a run that resumes on damaged weights (a checksum guards against damage, not against someone
who rewrites the file and its checksum together). It is
written atomically (``atomic.replace_atomically``), so a run killed at any moment leaves the
previous epoch's checkpoint intact; and it continues only the run that wrote it (same task, loss,
metric, model shapes, ...), so ``--resume`` on the wrong directory is an error, not a silent mix.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from metricloss.errors import InputError

from .atomic import replace_atomically
from .config import RunConfig
from .run import Run

CHECKPOINT = "checkpoint.pt"
_FORMAT = 2  # of the checkpoint; bumped when its layout changes (2: with a checksum)
_KEYS = ("config", "epoch", "model", "optimizer", "scheduler", "rng", "history", "checksum")


def checkpoint_state(run: Run, epoch: int) -> dict[str, Any]:
    """The checkpoint after ``epoch``: tensors and plain containers only.

    Under several processes every process must call it (it gathers their own random streams).
    """
    own = run.processes.gather_objects(_own_streams(run))
    return {
        "format": _FORMAT,
        "config": asdict(run.config),
        "epoch": epoch,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": _plain(run.scheduler.state_dict()) if run.scheduler is not None else None,
        "rng": {
            "torch": torch.get_rng_state(),
            # the training device's only: a resumed run may see another number of GPUs
            "cuda": torch.cuda.get_rng_state(run.device) if run.device.type == "cuda" else None,
            **{name: generator.get_state() for name, generator in run.generators.items()},
            # each process's own streams, under several processes (distributed.py)
            "processes": own if run.processes.size > 1 else None,
        },
        "history": list(run.history),
    }


def _own_streams(run: Run) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state(run.device) if run.device.type == "cuda" else None,
        **{name: run.generators[name].get_state() for name in Run.OWN if name in run.generators},
    }


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    state = {**state, "checksum": checksum(state)}
    replace_atomically(path, lambda temporary: torch.save(state, temporary))


def checksum(state: dict[str, Any]) -> str:
    """SHA-256 over every entry but the checksum: keys, tensors' dtypes, shapes and bytes, and the
    plain values' reprs, in a fixed order."""
    digest = hashlib.sha256()

    def visit(key: str, value: Any) -> None:
        if isinstance(value, torch.Tensor):
            tensor = value.detach().to("cpu").contiguous()
            digest.update(f"{key}:{tensor.dtype}:{tuple(tensor.shape)}:".encode())
            digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
        elif isinstance(value, dict):
            for name in sorted(value, key=str):
                visit(f"{key}/{name}", value[name])
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                visit(f"{key}/{index}", item)
        else:
            digest.update(f"{key}={value!r};".encode())
    visit("", {name: value for name, value in state.items() if name != "checksum"})
    return digest.hexdigest()


def resume_from(run: Run, path: Path) -> int:
    """The checkpoint's epoch, with the run restored to it; 0 when there is no checkpoint yet
    (so one command, with ``--resume``, both starts a run and continues it after a kill)."""
    # Process 0 reads the file (the only one that may see it, across machines) and sends it on.
    state = load_checkpoint(path) if run.processes.leader and path.exists() else None
    state = run.processes.from_leader(state)
    if state is None:
        return 0
    _check_compatible(path, state, run)
    if state["epoch"] > run.config.epochs:
        raise InputError(
            f"{path} is already at epoch {state['epoch']}, past the {run.config.epochs} epochs asked "
            f"for; ask for at least {state['epoch']} epochs, or choose another out directory"
        )
    _restore(run, state)
    return state["epoch"]


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by ``train``, read with ``torch.load(weights_only=True)``."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling raises many types; all mean the same to the user
        # torch's own message suggests weights_only=False, which is never the fix here; the
        # chained exception keeps the detail.
        raise InputError(
            f"cannot read the checkpoint {path} ({type(error).__name__}): it is damaged or was not "
            "written by metricloss's training; delete it (or choose another out directory) to start "
            "afresh."
        ) from error
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InputError(
            f"{path} is not a metricloss training checkpoint of format {_FORMAT} (found {found!r}); "
            "delete it or choose another out directory to start afresh"
        )
    missing = [key for key in _KEYS if key not in state]
    if missing:
        raise InputError(
            f"the checkpoint {path} lacks {', '.join(repr(k) for k in missing)}: it was not written whole by "
            "metricloss's training. Delete it (or choose another out directory) to start afresh."
        )
    if state.get("checksum") != checksum(state):
        raise InputError(
            f"the checkpoint {path} does not match its checksum: its contents were damaged after it "
            "was written. Restore it from a copy, or delete it (or choose another out directory) to "
            "start afresh."
        )
    return state


def _check_compatible(path: Path, state: dict[str, Any], run: Run) -> None:
    saved = state["config"]
    defaults = {f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not dataclasses.MISSING}
    differences = [
        f"{key} {saved.get(key, defaults.get(key))!r} there, {getattr(run.config, key)!r} here"
        for key in RunConfig.RESUMABLE if saved.get(key, defaults.get(key)) != getattr(run.config, key)
    ]
    differences += _shape_differences(state["model"], run.model.state_dict())
    if differences:
        raise InputError(
            f"cannot resume from {path}: it was written by a different run ({'; '.join(differences)}). "
            "Resume with the run's own settings, or choose another out directory (--out) to start afresh."
        )


def _shape_differences(saved: dict[str, torch.Tensor], current: dict[str, torch.Tensor]) -> list[str]:
    missing = [k for k in current if k not in saved]
    extra = [k for k in saved if k not in current]
    reshaped = [k for k in current if k in saved and saved[k].shape != current[k].shape]
    found = []
    if missing:
        found.append(f"model parameters {_few(missing)} are not in the checkpoint")
    if extra:
        found.append(f"the checkpoint has model parameters {_few(extra)} that this model lacks")
    for key in reshaped[:3]:
        found.append(f"model parameter {key!r} is {list(saved[key].shape)} there, "
                     f"{list(current[key].shape)} here")
    return found


def _few(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _restore(run: Run, state: dict[str, Any]) -> None:
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scheduler is not None and state["scheduler"] is not None:
        run.scheduler.load_state_dict(_retyped(run.scheduler.state_dict(), state["scheduler"]))
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    if run.device.type == "cuda" and rng["cuda"] is not None:
        torch.cuda.set_rng_state(rng["cuda"], run.device)
    for name, generator in run.generators.items():
        generator.set_state(rng[name])
    own = rng.get("processes")
    if own is not None:  # this process's own streams (the same number of processes: RESUMABLE)
        mine = own[run.processes.rank]
        torch.set_rng_state(mine["torch"])
        if run.device.type == "cuda" and mine["cuda"] is not None:
            torch.cuda.set_rng_state(mine["cuda"], run.device)
        for name in Run.OWN:
            if name in run.generators:
                run.generators[name].set_state(mine[name])
    run.history = list(state["history"])


def _plain(value: Any) -> Any:
    """Counters (MultiStepLR's milestones) as dicts: older torch's weights-only reader refuses them."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _retyped(fresh: Any, loaded: Any) -> Any:
    """``loaded`` with dicts turned back into Counters wherever a freshly built scheduler has one
    (a plain dict would raise KeyError for epochs that are not milestones)."""
    if isinstance(fresh, Counter) and isinstance(loaded, dict):
        return Counter(loaded)
    if isinstance(fresh, dict) and isinstance(loaded, dict):
        return {k: _retyped(fresh.get(k), v) for k, v in loaded.items()}
    if isinstance(fresh, list) and isinstance(loaded, list) and len(fresh) == len(loaded):
        return [_retyped(f, v) for f, v in zip(fresh, loaded)]
    return loaded
