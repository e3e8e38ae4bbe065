"""Reads a `best_trial` pickle WITHOUT executing it, to compare it with the database.

The original system wrote `best_trial` as a pickled Optuna `FrozenTrial` and loaded it back
with `pickle.load`, which runs whatever code the file names. Here every global the pickle
asks for (`find_class`) is replaced by an inert placeholder class that only records the name
and the arguments it was called with: no module is imported, no real callable is ever
invoked, so `os.system`, `eval` or `subprocess.Popen` inside a hostile file stay names.
The placeholders are then read as data: a FrozenTrial's `_number`, `_trial_id`, `_values`,
`_params` and `_state`. Anything that does not look like that is reported as
"cannot verify safely", never loaded another way.

The reader is bounded so that a small crafted file can neither hang nor crash it: at most
MAX_PICKLE_BYTES bytes and MAX_OPCODES opcodes (counted by a pure-Python pre-scan with
`pickletools.genops` before anything is built), containers nested at most MAX_DEPTH deep, at
most MAX_NODES values walked when checking for plain data (shared references are walked once,
so a "billion laughs" of lists referencing lists costs nothing), and a wall-clock budget
(TIME_BUDGET_S) checked throughout. Every breach is an UnverifiablePickle with its reason.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import time
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "MAX_OPCODES",
    "MAX_PICKLE_BYTES",
    "PickleSummary",
    "UnverifiablePickle",
    "read_trial_pickle",
]

MAX_PICKLE_BYTES = 16 * 1024 * 1024
MAX_OPCODES = 1_000_000
MAX_DEPTH = 64
MAX_NODES = 200_000
TIME_BUDGET_S = 5.0
_FROZEN_TRIAL = "optuna.trial._frozen.FrozenTrial"
_TRIAL_STATE = "optuna.trial._state.TrialState"
_STATE_NAMES = {0: "RUNNING", 1: "COMPLETE", 2: "PRUNED", 3: "FAIL", 4: "WAITING"}


class UnverifiablePickle(Exception):
    """The pickle cannot be compared without running code it names; it is reported, not loaded."""


class PickleSummary(BaseModel):
    """What a FrozenTrial pickle claims, read as data."""

    model_config = ConfigDict(frozen=True)

    number: int
    trial_id: int
    value: float | None
    state: str | None
    params: dict[str, Any]
    globals_named: list[str]


class _Inert:
    """Base of the placeholder classes; records construction and state, runs nothing."""

    _qualified: str = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> _Inert:
        obj = object.__new__(cls)
        obj.__dict__["_args"] = args
        obj.__dict__["_state"] = None
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Placeholders accept any constructor arguments and do nothing with them."""

    def __setstate__(self, state: Any) -> None:
        self.__dict__["_state"] = state

    def __reduce__(self) -> Any:
        raise TypeError("placeholder objects are never pickled")


class _RecordingUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes) -> None:
        super().__init__(io.BytesIO(data))
        self.named: list[str] = []
        self._classes: dict[str, type[_Inert]] = {}

    def find_class(self, module: str, name: str) -> type[_Inert]:
        qualified = f"{module}.{name}"
        self.named.append(qualified)
        if qualified not in self._classes:
            self._classes[qualified] = type(
                "Inert", (_Inert,), {"_qualified": qualified, "__module__": __name__}
            )
        return self._classes[qualified]

    def persistent_load(self, pid: Any) -> Any:
        raise UnverifiablePickle("it uses persistent ids, which need the writer's code")


def _state_name(raw: Any) -> str | None:
    if isinstance(raw, _Inert) and raw._qualified == _TRIAL_STATE and raw.__dict__["_args"]:
        code = raw.__dict__["_args"][0]
        return _STATE_NAMES.get(code) if isinstance(code, int) else None
    return None


def _plain(value: Any, deadline: float) -> bool:
    """True when value is plain data (numbers, strings, None, lists/tuples of them), walked
    iteratively: bounded depth and node count, each shared container visited once."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    seen: set[int] = set()
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            raise UnverifiablePickle(f"it holds more than {MAX_NODES} values")
        if nodes % 4096 == 0 and time.monotonic() > deadline:
            raise UnverifiablePickle(f"checking it took longer than {TIME_BUDGET_S} s")
        if isinstance(item, bool | int | float | str) or item is None:
            continue
        if isinstance(item, list | tuple):
            if depth >= MAX_DEPTH:
                raise UnverifiablePickle(f"its values nest deeper than {MAX_DEPTH} levels")
            if id(item) in seen:
                continue
            seen.add(id(item))
            stack.extend((v, depth + 1) for v in item)
            continue
        return False
    return True


def _prescan(data: bytes, deadline: float) -> None:
    """Counts opcodes and container nesting without building anything (pure Python)."""
    depth = 0
    try:
        for count, (op, _arg, _pos) in enumerate(pickletools.genops(data), start=1):
            if count > MAX_OPCODES:
                raise UnverifiablePickle(f"it has more than {MAX_OPCODES} opcodes")
            if count % 4096 == 0 and time.monotonic() > deadline:
                raise UnverifiablePickle(f"reading it took longer than {TIME_BUDGET_S} s")
            if op.name in ("MARK", "EMPTY_LIST", "EMPTY_DICT", "EMPTY_TUPLE", "EMPTY_SET"):
                depth += 1 if op.name == "MARK" else 0
            elif op.name in ("TUPLE", "LIST", "DICT", "FROZENSET", "OBJ", "INST", "POP_MARK"):
                depth = max(0, depth - 1)
            if depth > MAX_DEPTH:
                raise UnverifiablePickle(f"it nests deeper than {MAX_DEPTH} levels")
    except UnverifiablePickle:
        raise
    except Exception as e:  # truncated or malformed opcode stream
        raise UnverifiablePickle(f"it is not a readable pickle ({type(e).__name__}: {e})") from e


def read_trial_pickle(data: bytes) -> PickleSummary:
    """Summarises a FrozenTrial pickle without executing any of it.

    Raises:
        UnverifiablePickle: too large, not a pickle, not a FrozenTrial, or holding values that
            are not plain data; the caller reports "cannot verify safely".
    """
    if len(data) > MAX_PICKLE_BYTES:
        raise UnverifiablePickle(f"it is {len(data)} bytes, over the {MAX_PICKLE_BYTES} limit")
    deadline = time.monotonic() + TIME_BUDGET_S
    _prescan(data, deadline)
    unpickler = _RecordingUnpickler(data)
    try:
        obj = unpickler.load()
    except UnverifiablePickle:
        raise
    except BaseException as e:  # any malformed stream (RecursionError, MemoryError included)
        if isinstance(e, KeyboardInterrupt | SystemExit):
            raise
        raise UnverifiablePickle(f"it is not a readable pickle ({type(e).__name__}: {e})") from e
    try:
        return _summary(obj, unpickler, deadline)
    except UnverifiablePickle:
        raise
    except Exception as e:  # e.g. a placeholder state that is not what it claims
        raise UnverifiablePickle(f"its contents are not a plain FrozenTrial ({e})") from e


def _summary(obj: Any, unpickler: _RecordingUnpickler, deadline: float) -> PickleSummary:
    if not isinstance(obj, _Inert) or obj._qualified != _FROZEN_TRIAL:
        kind = obj._qualified if isinstance(obj, _Inert) else type(obj).__name__
        raise UnverifiablePickle(f"it holds {kind}, not an Optuna FrozenTrial")
    state = obj.__dict__["_state"]
    if not isinstance(state, dict):
        raise UnverifiablePickle("its FrozenTrial has no readable attribute state")
    number, trial_id = state.get("_number"), state.get("_trial_id")
    values = state.get("_values")
    params = state.get("_params", {})
    if not isinstance(number, int) or not isinstance(trial_id, int):
        raise UnverifiablePickle("its FrozenTrial lacks an integer number and trial_id")
    if values is not None and not (isinstance(values, list) and _plain(values, deadline)):
        raise UnverifiablePickle("its FrozenTrial values are not plain numbers")
    if not isinstance(params, dict) or not all(_plain(v, deadline) for v in params.values()):
        raise UnverifiablePickle("its FrozenTrial params are not plain values")
    return PickleSummary(
        number=number,
        trial_id=trial_id,
        value=float(values[0]) if values else None,
        state=_state_name(state.get("state", state.get("_state"))),
        params=dict(params),
        globals_named=sorted(set(unpickler.named)),
    )
