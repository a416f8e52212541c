"""Solver traces as `semantics.Action`s, replayed through the reference semantics."""

from __future__ import annotations

from checker import model as m
from checker.encode import Step
from checker.results import Trace, TraceStep


class Mismatch(Exception):
    """The solver trace and the reference semantics disagree (a checker bug)."""


def replay(model: m.Model, prop: m.Property, steps: list[Step]) -> Trace:
    # provisional: until the reference semantics exists, the trace is returned unreplayed
    return Trace(prop.name, {}, tuple(TraceStep(s.label, dict(s.choices), {}) for s in steps), "")
