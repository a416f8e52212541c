"""The Z3 side of the checker: one solver factory, checks that never misread `unknown`.

NOTE(solver-factory): every solver the checker creates comes from `make_solver`, which pins
both random seeds, sets a per-query wall-clock timeout and a resource limit (`rlimit`, counted
in Z3's own deterministic units), so the same query stops at the same point on every machine.
A query answers `Outcome.SAT`, `Outcome.UNSAT` or `Outcome.UNKNOWN` with Z3's
`reason_unknown()`; callers turn `UNKNOWN` into an `undecided` verdict, never into a finding.

The engines (BMC with deepening, k-induction, minimisation, replay) are in the second half:
`verify_property` and `supports` are the public API (docs/smt.md).
"""

from __future__ import annotations

import enum
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import z3

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


def make_solver(budget: Budget) -> z3.Solver:
    """The one solver factory (NOTE(solver-factory))."""
    z3.set_param("smt.random_seed", SEED)
    z3.set_param("sat.random_seed", SEED)
    s = z3.SolverFor("QF_BV")
    s.set("random_seed", SEED)
    s.set("rlimit", budget.rlimit)
    s.set("timeout", budget.query_ms())
    return s


@dataclass(frozen=True)
class Answer:
    outcome: Outcome
    reason: str = ""  # Z3's reason_unknown() for UNKNOWN


def _rlimit_count(s: z3.Solver) -> int:
    st = s.statistics()
    for k in st.keys():
        if k == "rlimit count":
            return int(st.get_key_value(k))
    return 0


def check(s: z3.Solver, budget: Budget, *assumptions: z3.BoolRef) -> Answer:
    """One query under the budget. `unknown` stays unknown (NOTE(solver-factory))."""
    if budget.expired():
        return Answer(Outcome.UNKNOWN, "timeout (overall budget)")
    s.set("timeout", budget.query_ms())
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
def frame(s: z3.Solver) -> Iterator[z3.Solver]:
    """A solver frame as a `with` block: what is asserted inside is gone after it."""
    s.push()
    try:
        yield s
    finally:
        s.pop()


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
    for k in st.keys():
        if k in wanted:
            v = st.get_key_value(k)
            name = wanted[k]
            out[name] = out.get(name, 0) + v if name in ("conflicts", "decisions") else v
    return out


# ---- engines --------------------------------------------------------------------------------
# (imports kept here so that the solver factory above stays importable on its own)

import json  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402
from typing import Any, Callable  # noqa: E402

from checker import model as m  # noqa: E402
from checker.diagnostics import CheckerError, Diagnostic, Exit, Note  # noqa: E402
from checker.encode import Branch, Step, exactly_one, model_bool  # noqa: E402
from checker.encode_page import MAX_FRAMES, MAX_SLOTS, PageEncoding, page_level_size  # noqa: E402
from checker.encode_props import dma_tracked, holds, observed_failures, supported  # noqa: E402
from checker.results import PropertyResult, Scope, Trace, Verdict  # noqa: E402

DEFAULT_TIMEOUT = 300.0  # seconds per property when the caller sets none
MAX_DEPTH = 10_000  # unrolling bound when the caller sets none (the budget usually stops first)


class Unrolling:
    """T(i, i+1) for i = 0, 1, ...: one indicator per (step, branch) and the frame rule."""

    def __init__(self, enc: PageEncoding) -> None:
        self.enc = enc
        self.branches: list[list[Branch]] = []
        self.inds: list[list[z3.BoolRef]] = []
        self._trans: list[z3.BoolRef] = []
        self._holds: dict[int, z3.BoolRef] = {}

    def transition(self, i: int) -> z3.BoolRef:
        while len(self._trans) <= i:
            self._trans.append(self._build(len(self._trans)))
        return self._trans[i]

    def _build(self, i: int) -> z3.BoolRef:
        enc = self.enc
        brs = enc.branches(i)
        inds = [enc.table.get(("fire", b), i, z3.BoolSort()) for b in range(len(brs))]
        self.branches.append(brs)
        self.inds.append(inds)
        parts: list[z3.BoolRef] = [exactly_one(inds)]
        writers: dict[Any, list[tuple[z3.BoolRef, z3.ExprRef]]] = {}
        for ind, br in zip(inds, brs):
            parts.append(z3.Implies(ind, br.guard))
            for key, val in br.writes.items():
                writers.setdefault(key, []).append((ind, val))
        for key, _sort in enc._keys:
            val = enc.var(key, i)
            for ind, new in reversed(writers.pop(key, [])):
                val = z3.If(ind, new, val)
            parts.append(enc.var(key, i + 1) == val)
        if writers:
            raise AssertionError(f"branches write unknown state variables: {sorted(writers)}")
        return z3.And(parts)

    def moved(self, n: int) -> z3.ArithRef:
        terms: list[z3.ArithRef] = []
        for i in range(n):
            for ind, br in zip(self.inds[i], self.branches[i]):
                if not (isinstance(br.moved, int) and br.moved == 0):
                    terms.append(z3.If(ind, z3.IntVal(0) + br.moved, z3.IntVal(0)))
        return z3.Sum(terms) if terms else z3.IntVal(0)

    def distinct(self, i: int, j: int) -> z3.BoolRef:
        enc = self.enc
        return z3.Or([enc.var(k, i) != enc.var(k, j) for k, _s in enc._keys])

    def fired(self, mdl: z3.ModelRef, i: int) -> int:
        for b, ind in enumerate(self.inds[i]):
            if model_bool(mdl, ind):
                return b
        raise AssertionError(f"no branch fired at step {i}")

    def read(self, mdl: z3.ModelRef, n: int) -> list[Step]:
        out: list[Step] = []
        for i in range(n):
            br = self.branches[i][self.fired(mdl, i)]
            out.append(Step(br.op_index, br.label, br.outcome,
                            tuple((name, rd(mdl)) for name, rd in br.choices)))
        return out


def _lemma_candidates(enc: PageEncoding, i: int) -> list[z3.BoolRef]:
    """Structural facts of every reachable state; `_houdini` keeps the inductive ones."""
    out: list[z3.BoolRef] = [enc.scn.wellformed(enc.var(("pc",), i), enc.var(("count",), i))]
    for d, dom in enumerate(enc.model.domains):
        alive = enc.alive(d, i)
        dead = [z3.Not(enc.own(d, f, i)) for f in range(len(enc.frames))]
        dead += [z3.Not(enc.pop(d, s, i)) for s in range(enc.nslots[d])]
        if enc.has(("rambase", d)):
            dead.append(enc.var(("rambase", d), i) == 0)
        if enc.has(("direct", d)):
            dead.append(z3.Not(enc.var(("direct", d), i)))
        out.append(z3.Implies(z3.Not(alive), z3.And(dead) if dead else z3.BoolVal(True)))
        for s in range(enc.nslots[d]):
            out.append(z3.Implies(z3.Not(enc.pop(d, s, i)), enc.mp(d, s, i) == 0))
        owns = [(enc.own(d, f, i), 1) for f in range(len(enc.frames))]
        out.append(z3.PbLe(owns, _max_owned(enc, d)))
        for s in range(enc.nslots[d]):
            out.append(z3.Implies(enc.pop(d, s, i), enc.owned_by(d, enc.mp(d, s, i), i)))
        for f in range(len(enc.frames)):
            if f >= enc.nheap and not any(
                    r.base >> enc.shift <= enc.frames[f] < r.end >> enc.shift for r in dom.static_mem):
                out.append(z3.Not(enc.own(d, f, i)))
    for f in range(len(enc.frames)):
        if enc.nd > 1:
            out.append(z3.PbLe([(enc.own(d, f, i), 1) for d in range(enc.nd)], 1))
    if enc.track_id:
        nid = enc.var(("next_id",), i)
        out.append(z3.And(z3.UGE(nid, 1), z3.ULE(nid, enc.id_sat)))
    return out


def _max_owned(enc: PageEncoding, d: int) -> int:
    dom = enc.model.domains[d]
    if dom.static_mem:
        return sum(r.size >> enc.shift for r in dom.static_mem)
    n = dom.pages
    if dom.wants_direct_map:
        n = max(n, 1 << max(0, (dom.pages - 1).bit_length()))
    return n


def _houdini(enc: PageEncoding, run: Unrolling, budget: Budget) -> list[int] | None:
    """The largest subset of the candidates that holds initially and is preserved by T.

    Returns the indices kept, or None when a query was undecided (then no lemma is used).
    """
    c0, c1 = _lemma_candidates(enc, 0), _lemma_candidates(enc, 1)
    keep = list(range(len(c0)))
    s = make_solver(budget)
    s.add(enc.init(0))
    keep = [j for j in keep if check(s, budget, z3.Not(c0[j])).outcome is Outcome.UNSAT]
    s = make_solver(budget)
    s.add(run.transition(0))
    while keep:
        with frame(s):
            s.add([c0[j] for j in keep])
            s.add(z3.Not(z3.And([c1[j] for j in keep])))
            a = check(s, budget)
            if a.outcome is Outcome.UNSAT:
                return keep
            if a.outcome is Outcome.UNKNOWN:
                return None
            mdl = s.model()
            keep = [j for j in keep if model_bool(mdl, c1[j])]
    return keep


def supports(model: m.Model, prop: m.Property) -> bool | str:
    """True if `verify_property` can decide `prop` on `model`, else the reason it cannot."""
    frames, slots = page_level_size(model)
    if frames > MAX_FRAMES or slots > MAX_SLOTS:
        return (f"the page-level encoding handles at most {MAX_FRAMES} frames and {MAX_SLOTS} "
                f"p2m pages; this model has {frames} frames and {slots} pages")
    for _j, op in _ops(model):
        if op.kind not in (m.OpKind.CREATE, m.OpKind.DESTROY, m.OpKind.BALLOON_OUT,
                           m.OpKind.BALLOON_IN):
            return f"the symbolic engine does not encode `{op.kind.value}` yet"
    return supported(model, prop)


def _ops(model: m.Model) -> list[tuple[int, m.Op]]:
    from checker.encode import flatten_ops

    return flatten_ops(model.scenario)


def _minimise(s: z3.Solver, run: Unrolling, n: int, budget: Budget) -> tuple[z3.ModelRef, bool]:
    """Among the traces of length n in `s` (already sat): fewest pages moved, lowest addresses.

    NOTE(minimal-trace): a lexicographic search with the same solver, no Optimize: (1) descend
    on the number of pages moved by balloon and grant operations (ask for strictly fewer until
    unsat), (2) fix the operation sequence, (3) for each step in order, each address-valued
    choice of the operation that fired, from its most significant bit down, keep a bit at 0 if
    some trace allows it. Bits already 0 in the current model need no query. Returns the model
    and whether the search finished (a budget stop leaves a valid, maybe non-minimal, trace).
    """
    mdl = s.model()
    cost = run.moved(n)
    best = mdl.eval(cost, model_completion=True).as_long()  # type: ignore[attr-defined]
    while best > 0:
        a = check(s, budget, cost < best)
        if a.outcome is not Outcome.SAT:
            if a.outcome is Outcome.UNKNOWN:
                return mdl, False
            break
        mdl = s.model()
        best = mdl.eval(cost, model_completion=True).as_long()  # type: ignore[attr-defined]
    fixed: list[z3.BoolRef] = [cost == best]
    for i in range(n):
        fixed.append(run.inds[i][run.fired(mdl, i)])
    for i in range(n):
        br = run.branches[i][run.fired(mdl, i)]
        for x in br.addresses:
            w = x.size()  # type: ignore[attr-defined]
            for bit in range(w - 1, -1, -1):
                xb = z3.Extract(bit, bit, x)
                if mdl.eval(xb, model_completion=True).as_long() == 0:  # type: ignore[attr-defined]
                    fixed.append(xb == 0)
                    continue
                a = check(s, budget, *fixed, xb == 0)
                if a.outcome is Outcome.SAT:
                    mdl = s.model()
                    fixed.append(xb == 0)
                elif a.outcome is Outcome.UNSAT:
                    fixed.append(xb == 1)
                else:
                    return mdl, False
    return mdl, True


def _result(prop: m.Property, verdict: Verdict, method: str, scope: Scope, budget: Budget,
            stats: dict[str, Any], trace: Trace | None = None,
            warnings: list[str] | None = None) -> PropertyResult:
    stats = dict(stats)
    stats.update(seconds=round(budget.elapsed(), 3), rlimit_used=budget.rlimit_used,
                 queries=budget.queries)
    return PropertyResult(property=prop.name, verdict=verdict, engine="smt", method=method,
                          scope=scope, trace=trace, seconds=budget.elapsed(),
                          warnings=warnings or [], stats=stats)


def verify_property(model: m.Model, prop: m.Property, *, depth: int | None,
                    timeout: float | None) -> PropertyResult:
    """Decide `prop` with BMC (shortest counterexamples) and k-induction (docs/smt.md)."""
    budget = Budget(timeout if timeout is not None else DEFAULT_TIMEOUT)
    why = supports(model, prop)
    if why is not True:
        return _result(prop, Verdict.UNDECIDED, "none", Scope(0, False, "exact"), budget,
                       {"reason": why}, warnings=[str(why)])
    enc = PageEncoding(model, observed_failures(model), dma_tracked(model))
    run = Unrolling(enc)
    placement = enc.placement
    stats: dict[str, Any] = {"encoding": "page", "frames": len(enc.frames)}
    lemmas = _houdini(enc, run, budget)
    stats["lemmas"] = len(lemmas) if lemmas is not None else 0

    def lem(i: int) -> list[z3.BoolRef]:
        if not lemmas:
            return []
        c = _lemma_candidates(enc, i)
        return [c[j] for j in lemmas]

    base, step = make_solver(budget), make_solver(budget)
    base.add(enc.init(0))
    base.add(lem(0))
    step.add(lem(0))
    induction_unknown = ""
    bound = MAX_DEPTH if depth is None else depth
    k = 0
    while True:
        stats["k_reached"] = k
        if k > 0:
            t = run.transition(k - 1)
            base.add(t)
            base.add(lem(k))
        with frame(base):
            base.add(z3.Not(holds(enc, prop, k)))
            a = check(base, budget)
            if a.outcome is Outcome.SAT:
                mdl, minimal = _minimise(base, run, k, budget)
                steps = run.read(mdl, k)
                stats.update(solver_stats(base))
                stats["minimal"] = minimal
                trace = replay(model, prop, steps, raw=_raw(enc, run, mdl, k, steps))
                return _result(prop, Verdict.VIOLATED, "bmc", Scope(k, False, placement),
                               budget, stats, trace)
            if a.outcome is Outcome.UNKNOWN:
                stats.update(solver_stats(base))
                return _result(prop, Verdict.UNDECIDED, "bmc", Scope(max(k - 1, 0), False,
                               placement), budget, stats,
                               warnings=[f"solver gave up at depth {k}: {a.reason}"])
        base.add(holds(enc, prop, k))
        # step case with k + 1 transitions over a simple path
        step.add(holds(enc, prop, k))
        step.add(run.transition(k))
        step.add(lem(k + 1))
        step.add([run.distinct(j, k + 1) for j in range(k + 1)])
        with frame(step):
            step.add(z3.Not(holds(enc, prop, k + 1)))
            a = check(step, budget)
            if a.outcome is Outcome.UNSAT:
                stats.update(solver_stats(step))
                stats["k"] = k + 1
                return _result(prop, Verdict.PROVED, f"k-induction(k={k + 1})",
                               Scope(None, True, placement), budget, stats)
            if a.outcome is Outcome.UNKNOWN:
                induction_unknown = a.reason
        if k >= bound:
            stats.update(solver_stats(base))
            warn = [f"k-induction did not close up to k={k + 1}" +
                    (f" ({induction_unknown})" if induction_unknown else "")]
            return _result(prop, Verdict.HOLDS, "bmc", Scope(k, False, placement), budget,
                           stats, warnings=warn)
        if budget.expired():
            stats.update(solver_stats(base))
            return _result(prop, Verdict.UNDECIDED, "bmc", Scope(k, False, placement), budget,
                           stats, warnings=[f"time budget spent after depth {k}"])
        k += 1


def _raw(enc: PageEncoding, run: Unrolling, mdl: z3.ModelRef, n: int,
         steps: list[Step]) -> dict[str, Any]:
    return {
        "model": enc.model.path,
        "steps": [{"op_index": s.op_index, "op": s.label, "outcome": s.outcome,
                   "choices": {k: v for k, v in s.choices}} for s in steps],
        "states": [enc.read_state(mdl, i) for i in range(n + 1)],
    }


def _save_raw(raw: dict[str, Any]) -> str:
    fd, path = tempfile.mkstemp(prefix="memory11-smt-trace-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(raw, fh, indent=1, default=str)
    return path


def _mismatch(prop: m.Property, message: str, raw: dict[str, Any]) -> CheckerError:
    path = _save_raw(raw)
    return CheckerError([Diagnostic(
        f"the symbolic counterexample for {prop.name} does not replay: {message}", None,
        (Note(f"raw solver trace saved to {path}; please attach it to a bug report"),))],
        Exit.INTERNAL)


ReplayFn = Callable[[m.Model, m.Property, list[Step], dict[str, Any]], Trace]


def replay(model: m.Model, prop: m.Property, steps: list[Step], *, raw: dict[str, Any]) -> Trace:
    """Replay a solver trace through `checker.semantics`; a mismatch is a checker bug."""
    from checker import encode_replay as smt_replay

    try:
        return smt_replay.replay(model, prop, steps)
    except smt_replay.Mismatch as exc:
        raise _mismatch(prop, str(exc), raw) from None
