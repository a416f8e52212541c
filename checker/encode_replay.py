"""Solver traces as `semantics.Action`s, replayed through the reference semantics.

A solver trace is a list of `encode.Step`s (operation index, outcome, recorded choices). Each
becomes `semantics.Action(op_index, op, choices)` with the choices in the order and the form
the reference records them (frame numbers as ints, frame sets as extents), is applied with
`Semantics.apply` from `Semantics.initial()`, and the last state must violate the property
(`Semantics.violation`). Any step the reference refuses, a state where the property is
violated too early, or a final state where it holds is a `Mismatch`: the encoding and the
reference disagree, which is a checker bug.
"""

from __future__ import annotations

from typing import Any

from checker import model as m
from checker.encode import Step
from checker.results import Trace, TraceStep
from checker.semantics import Action, NotEnabled, Semantics


class Mismatch(Exception):
    """The solver trace and the reference semantics disagree (a checker bug)."""


def actions(sem: Semantics, steps: list[Step]) -> list[Action]:
    return [Action(s.op_index, sem.ops[s.op_index], tuple(s.choices)) for s in steps]


def _choices_json(sem: Semantics, action: Action) -> dict[str, Any]:
    data = sem.action_to_json(action)
    got = data.get("choices", {})
    return dict(got) if isinstance(got, dict) else {}


def replay(model: m.Model, prop: m.Property, steps: list[Step]) -> Trace:
    # placement `any`: every choice is checked to be allowed; a policy: to be the policy's
    policy = model.hypervisor.placement
    sem = Semantics(model, placement="exact" if policy is m.Placement.ANY else policy.value,
                    symmetry=False)
    state = sem.initial()
    out: list[TraceStep] = []
    if sem.violation(state, prop) is not None and steps:
        raise Mismatch("the initial state already violates the property")
    for n, action in enumerate(actions(sem, steps), 1):
        if action.op_index >= len(sem.ops) or sem.action_label(action) != steps[n - 1].label:
            raise Mismatch(f"step {n}: operation #{action.op_index} is not "
                           f"{steps[n - 1].label!r} in the reference")
        try:
            after = sem.apply(state, action)
        except NotEnabled as exc:
            raise Mismatch(f"step {n} ({steps[n - 1].label}, {dict(action.choices)}): "
                           f"{exc.reason}") from None
        if n < len(steps) and sem.violation(after, prop) is not None:
            raise Mismatch(f"the property is already violated after step {n}, "
                           "so the trace is not a shortest one")
        out.append(TraceStep(op=sem.action_label(action), choices=_choices_json(sem, action),
                             state=sem.state_to_json(after),
                             changes=tuple(sem.describe(state, action, after))))
        state = after
    witness = sem.violation(state, prop)
    if witness is None:
        raise Mismatch(f"after {len(steps)} steps the reference finds {prop.name} holding")
    return Trace(prop.name, sem.state_to_json(sem.initial()), tuple(out), witness)
