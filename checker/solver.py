"""The one Z3 solver factory, and queries that never misread `unknown`.

NOTE(solver-factory): every solver the checker creates comes from `make_solver`, which pins
both random seeds, sets a per-query wall-clock timeout and a resource limit (`rlimit`, counted
in Z3's own deterministic units), so the same query stops at the same point on every machine.
A query answers `Outcome.SAT`, `Outcome.UNSAT` or `Outcome.UNKNOWN` with Z3's
`reason_unknown()`; callers turn `UNKNOWN` into an `undecided` verdict, never into a finding.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import z3
from z3 import z3core as _core

SEED = 0
DEFAULT_RLIMIT = 400_000_000  # per query; ~ tens of seconds of work on a 2020s core
DEFAULT_QUERY_TIMEOUT = 60.0  # seconds per query when the caller gives no overall timeout


class Outcome(enum.Enum):
    SAT = "sat"
    UNSAT = "unsat"
    UNKNOWN = "unknown"


@dataclass
class Budget:
    """Wall-clock and resource budget shared by every query of one property check."""

    timeout: float | None  # seconds for the whole check, None = only the per-query caps
    rlimit: int = DEFAULT_RLIMIT
    started: float = field(default_factory=time.perf_counter)
    rlimit_used: int = 0
    queries: int = 0
    effort: int | None = None  # total rlimit of all queries (a deterministic cap), None = none

    def remaining(self) -> float | None:
        if self.timeout is None:
            return None
        return self.timeout - (time.perf_counter() - self.started)

    def expired(self) -> bool:
        left = self.remaining()
        return left is not None and left <= 0

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def query_ms(self) -> int:
        left = self.remaining()
        cap = DEFAULT_QUERY_TIMEOUT if left is None else max(0.001, min(left, 1e6))
        return max(1, int(cap * 1000))


def make_solver(budget: Budget, one_shot: bool = False, arith: bool = False) -> z3.Solver:
    """The one solver factory (NOTE(solver-factory)). `one_shot`: for a single `check` of
    what is asserted (no assumptions, no second query), which Z3's QF_BV tactic preprocesses
    as a whole (solving equations, propagating values and bounds) before bit-blasting; a
    solver asked again and again (BMC's base solver, minimisation) is the incremental
    SAT-based QF_FD solver, which keeps what it learned between queries. `arith`: a one-shot
    QF_LIA solver, for a bit-vector query translated to integers (NOTE(bv-as-int) in
    bvint.py)."""
    z3.set_param("smt.random_seed", SEED)
    z3.set_param("sat.random_seed", SEED)
    z3.set_param("sat.cardinality.solver", False)  # NOTE(cardinality-clauses)
    s = z3.SolverFor("QF_LIA" if arith else "QF_BV" if one_shot else "QF_FD")
    s.set("random_seed", SEED)
    s.set("rlimit", budget.rlimit)
    s.set("timeout", budget.query_ms())
    return s


def assert_all(s: z3.Solver, terms: list[z3.BoolRef]) -> None:
    """s.add(*terms) in one native call per term (NOTE(fast-terms) in encode.py): `add`
    coerces each term again, which dominated asking many small queries of long conjunctions.
    A term that is not a Boolean of the solver's context goes through `add`."""
    ctx, ref = s.ctx.ref(), s.solver
    for t in terms:
        if type(t) is z3.BoolRef and t.ctx is s.ctx:
            _core.Z3_solver_assert(ctx, ref, t.as_ast())
        else:
            s.add(t)


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    reason: str = ""  # Z3's reason_unknown() for UNKNOWN


def _rlimit_count(s: z3.Solver) -> int:
    st = s.statistics()
    for k in st.keys():  # noqa: SIM118 (z3 Statistics is not a mapping)
        if k == "rlimit count":
            return int(st.get_key_value(k))
    return 0


def check(s: z3.Solver, budget: Budget, *assumptions: z3.BoolRef,
          rlimit: int | None = None, seconds: float | None = None) -> Answer:
    """One query under the budget. `unknown` stays unknown (NOTE(solver-factory)).

    `rlimit` caps this one query below the budget's (a deterministic bound on its effort);
    `seconds` caps its time, for a query whose `unknown` only costs time (the same question
    is asked another way next), never one whose answer is a verdict."""
    if budget.expired():
        return Answer(Outcome.UNKNOWN, "timeout (overall budget)")
    cap = min(rlimit, budget.rlimit) if rlimit is not None else budget.rlimit
    if budget.effort is not None:
        left = budget.effort - budget.rlimit_used
        if left <= 0:
            return Answer(Outcome.UNKNOWN, "effort budget spent")
        cap = min(cap, left)
    ms = budget.query_ms()
    s.set("timeout", ms if seconds is None else min(ms, max(1, int(seconds * 1000))))
    s.set("rlimit", cap)
    before = _rlimit_count(s)
    r = s.check(*assumptions)
    budget.queries += 1
    budget.rlimit_used += max(0, _rlimit_count(s) - before)
    if r == z3.sat:
        return Answer(Outcome.SAT)
    if r == z3.unsat:
        return Answer(Outcome.UNSAT)
    return Answer(Outcome.UNKNOWN, s.reason_unknown() or "unknown")


@contextmanager
def goal(s: z3.Solver, formula: z3.BoolRef, name: str) -> Iterator[z3.BoolRef]:
    """A frame asserted through an activation literal: inside the block, queries that assume
    the yielded literal see `formula`; on exit the literal is retired (asserted false).
    Equivalent to push/assert/pop, without the incremental SAT solver's cost of a push."""
    act = z3.Bool(name)
    s.add(z3.Implies(act, formula))
    try:
        yield act
    finally:
        s.add(z3.Not(act))


def solver_stats(s: z3.Solver) -> dict[str, float | int]:
    """Conflicts, decisions, memory and rlimit of a solver, where Z3 reports them."""
    out: dict[str, float | int] = {}
    st = s.statistics()
    wanted = {
        "conflicts": "conflicts",
        "decisions": "decisions",
        "sat conflicts": "conflicts",
        "sat decisions": "decisions",
        "memory": "memory_mb",
        "max memory": "max_memory_mb",
        "rlimit count": "rlimit",
    }
    for k in st.keys():  # noqa: SIM118 (z3 Statistics is not a mapping)
        if k in wanted:
            v = st.get_key_value(k)
            name = wanted[k]
            out[name] = out.get(name, 0) + v if name in ("conflicts", "decisions") else v
    return out


@contextmanager
def fresh_context() -> Iterator[z3.Context]:
    """NOTE(fresh-context): each property check builds its terms in a new Z3 context, so that
    nothing a previous check created (term ids, caches) can steer the solver: the same check
    takes the same path whatever ran before it in the process. The z3 Python API builds
    constants in its main context, which is swapped for the duration of the block."""
    import z3.z3 as z3mod

    saved = z3mod._main_ctx
    ctx = z3.Context()
    z3mod._main_ctx = ctx
    try:
        yield ctx
    finally:
        z3mod._main_ctx = saved
