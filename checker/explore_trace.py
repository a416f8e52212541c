"""Traces of the explicit engine, rebuilt from what the search stores (NOTE(compact-store) in
explore.py): the successor positions along the parent chain, re-enumerated from the true initial
state, through the canonical chain under symmetry reduction (NOTE(symmetry)); then the reported
`results.Trace`, each step with its choices, its state and what it changed.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from checker.diagnostics import CheckerError, Diagnostic, Exit
from checker.model import Property
from checker.results import Trace, TraceStep

if TYPE_CHECKING:
    from checker.explore import SemanticsLike

__all__ = ["action_choices", "concrete_path", "matching_step", "path_positions", "rebuild"]


def path_positions(i: int, parent: array[int], via: array[int]) -> list[int]:
    """The successor positions leading from the initial state to state `i`."""
    steps: list[int] = []
    while i > 0:
        steps.append(via[i])
        i = parent[i]
    steps.reverse()
    return steps


def _nth(it: Iterator[tuple[Any, Any]], k: int) -> tuple[Any, Any]:
    for n, pair in enumerate(it):
        if n == k:
            return pair
    raise CheckerError(
        [Diagnostic("the semantics' successor order is not deterministic (trace rebuild failed)")],
        Exit.INTERNAL,
    )


def concrete_path(
    sem: SemanticsLike,
    positions: list[int],
    key0: Any,
    canon: Callable[[Any], Any] | None,
) -> list[tuple[Any, Any, Any]]:
    """(before, action, after) for each step, from the true initial state (NOTE(symmetry))."""
    state = sem.initial()
    steps: list[tuple[Any, Any, Any]] = []
    if canon is None:
        for k in positions:
            a, t = _nth(sem.successors(state), k)
            steps.append((state, a, t))
            state = t
        return steps
    c = key0
    for k in positions:
        _a, t = _nth(sem.successors(c), k)
        c = canon(t)
        a, u = matching_step(sem, state, canon, c,
                             "symmetry reduction is unsound: no concrete step matches the trace")
        steps.append((state, a, u))
        state = u
    return steps


def matching_step(sem: SemanticsLike, state: Any, key: Callable[[Any], Any], target: Any,
                  why: str) -> tuple[Any, Any]:
    """The first successor (action, state) of `state` whose key is `target`; none is an
    internal error, `why`."""
    for a, u in sem.successors(state):
        if key(u) == target:
            return a, u
    raise CheckerError([Diagnostic(why)], Exit.INTERNAL)


def action_choices(sem: SemanticsLike, action: Any) -> dict[str, Any]:
    """The choices recorded in an action, as JSON (the action's JSON minus its operation)."""
    data = sem.action_to_json(action)
    if isinstance(data, dict):
        if isinstance(data.get("choices"), dict):
            return dict(data["choices"])
        return {k: v for k, v in data.items() if k not in ("op", "op_index", "label")}
    return {"value": data}


def _changes(sem: SemanticsLike, before: Any, action: Any, after: Any) -> tuple[str, ...]:
    text = sem.describe(before, action, after)
    if isinstance(text, str):
        return tuple(line for line in text.splitlines() if line.strip())
    return tuple(str(line) for line in text)


def rebuild(
    sem: SemanticsLike, prop: Property, steps: list[tuple[Any, Any, Any]]
) -> tuple[Trace, list[Any]]:
    final = steps[-1][2] if steps else sem.initial()
    witness = sem.violation(final, prop)
    if witness is None:
        raise CheckerError(
            [Diagnostic(f"the rebuilt trace for {prop.name} does not violate it (symmetry?)")],
            Exit.INTERNAL,
        )
    trace = Trace(
        property=prop.name,
        initial=sem.state_to_json(sem.initial()),
        steps=tuple(
            TraceStep(
                op=sem.action_label(a),
                choices=action_choices(sem, a),
                state=sem.state_to_json(t),
                changes=_changes(sem, s, a, t),
            )
            for s, a, t in steps
        ),
        witness=witness,
    )
    return trace, [sem.action_to_json(a) for _s, a, _t in steps]
