"""Verdicts and results as data. Engines return these; `checker.report` renders them."""

from __future__ import annotations

import builtins
import enum
from dataclasses import dataclass, field
from typing import Any


class Verdict(enum.Enum):
    """Ordered from strongest to weakest claim of safety; VIOLATED is a definite finding."""

    PROVED = "proved"  # exhaustive search or inductive proof
    HOLDS = "holds"  # no violation within the stated scope
    UNDECIDED = "undecided"  # a bound/budget/timeout stopped the engine, or the solver said unknown
    VIOLATED = "violated"


@dataclass(frozen=True)
class Scope:
    depth: int | None  # the bound explored, None when unbounded
    exhaustive: bool  # True only if every reachable state (or every path) was covered
    placement: str  # "exact" | "candidates" | "symbolic" | a policy name

    def to_json(self) -> dict[str, Any]:
        return {"depth": self.depth, "exhaustive": self.exhaustive, "placement": self.placement}


@dataclass(frozen=True)
class TraceStep:
    """One step of a counterexample: the operation, the choices made, and the state after it.

    `state` is the JSON form of the state (checker.semantics.state_to_json); `changes` are
    human-readable lines describing what the step did (blocks allocated, mappings added...).
    """

    op: str  # e.g. "create domd"
    choices: dict[str, Any]
    state: dict[str, Any]
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trace:
    property: str
    initial: dict[str, Any]
    steps: tuple[TraceStep, ...]
    witness: str  # which page, its IPA and PA, which region it hit

    def __len__(self) -> int:
        return len(self.steps)


@dataclass
class PropertyResult:
    property: str
    verdict: Verdict
    engine: str  # "explicit" | "smt"
    method: str  # "bfs", "bmc", "k-induction(k=2)", ...
    scope: Scope
    trace: Trace | None = None
    counterexample: str | None = None  # path of the written ITF file
    states: int = 0
    transitions: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)  # depth reached, peak memory, z3 stats...

    @builtins.property
    def trace_length(self) -> int | None:
        return len(self.trace) if self.trace is not None else None


@dataclass
class VerifyReport:
    model: str
    model_sha256: str
    checker_version: str
    results: list[PropertyResult]
