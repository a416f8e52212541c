"""The Z3 engine: BMC with deepening, k-induction with Houdini lemmas, minimal traces, every
trace replayed through the reference semantics. `verify_property` and `supports` are the public
API (docs/smt.md); the solvers come from `checker.solver` (NOTE(solver-factory)).
"""

from __future__ import annotations

import gc
import json
import os
import tempfile
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import z3

from checker import bvint, slicing
from checker import extents as ex
from checker import model as m
from checker.diagnostics import CheckerError, Diagnostic, Exit, Note
from checker.encode import Step, and_, model_bool
from checker.encode_extent import ExtentEncoding
from checker.encode_extent import supported as extent_supported
from checker.encode_extent_policy import reference_bound
from checker.encode_invariant import supported as invariant_supported
from checker.encode_page import MAX_FRAMES, MAX_MAP_VARS, PageEncoding, page_level_size
from checker.encode_props import observed_failures, supported
from checker.encode_unroll import Encoding, Unrolling, holds
from checker.localize import hidden_domains
from checker.localize import prove as prove_localized
from checker.results import PropertyResult, Scope, Trace, Verdict
from checker.smt_branches import BranchChecks
from checker.smt_lowest import lowest_path
from checker.solver import (
    Answer,
    Budget,
    Outcome,
    assert_all,
    check,
    fresh_context,
    goal,
    make_solver,
    solver_stats,
)

LEMMA_DEPTH = 3  # compute lemmas once BMC has shown no violation shorter than this
EARLY_ROUNDS = 1  # lemma rounds of the early step case (NOTE(early-induction))
EARLY_SPEND = 700_000  # rlimit of the early step case's Houdini run, past it: no lemmas
EXTENT_WARNING = (
    "only behaviours in which each domain holds at most 4 extents of frames and 4 p2m runs, "
    "and multi-page requests take contiguous runs, were covered (docs/smt.md, "
    "NOTE(extent-bound)): a violation found is the shortest within that bound, and no "
    "violation is not a proof")
DEFAULT_TIMEOUT = 300.0  # seconds per property when the caller sets none
SCENARIO_BMC = 8  # at real size, BMC alone over scenarios of at most this many steps
# the whole effort of the joint BMC over a short scenario (all its depths) before the split one
# takes over: above that of any shipped property the joint query decides (44 M, domd-static)
JOINT_RLIMIT = 50_000_000
FEASIBLE_RLIMIT = 20_000_000  # per check that a prefix of the split BMC is taken by some run
INT_RLIMIT = 60_000_000  # per split BMC query as integers, before bit-vectors (NOTE(bv-as-int))
INT_SECONDS = 20.0  # and at most this long
INT_QUICK = 10_000_000  # the first, quick, try as integers (then BV_QUICK as bit-vectors)
BV_QUICK = 10_000_000
MAX_DEPTH = 10_000  # unrolling bound when the caller sets none (the budget usually stops first)


def encoding_for(model: m.Model) -> str | tuple[str, str]:
    """"page" (exact, small heaps), "extent" (real sizes, bounded), or ("none", why)."""
    frames, mapvars = page_level_size(model)
    if frames <= MAX_FRAMES and mapvars <= MAX_MAP_VARS:
        return "page"
    why = extent_supported(model)
    if why is True:
        return "extent"
    why_not = (f"{frames} frames are too many for the page-level encoding (at most "
               f"{MAX_FRAMES}) and {why}")
    return ("none", why_not)


def supports(model: m.Model, prop: m.Property) -> bool | str:
    """True if `verify_property` can decide `prop` on `model`, else the reason it cannot."""
    which = encoding_for(model)
    if isinstance(which, tuple):
        return which[1]
    if which == "extent" and prop.kind is m.PropertyKind.INVARIANT:
        return invariant_supported(model, prop, "extent")
    return supported(model, prop)


def _minimise(s: z3.Solver, run: Unrolling, n: int, budget: Budget,
              act: z3.BoolRef) -> tuple[z3.ModelRef, bool]:
    """Among the traces of length n in `s` (already sat): fewest pages moved, lowest addresses.

    NOTE(minimal-trace): a lexicographic search with the same solver, no Optimize: (1) descend
    on the number of pages moved by balloon and grant operations (ask for strictly fewer until
    unsat); (2) fix the operation sequence; (3) step by step, for each choice of the operation
    that fired, in the order the operation records them, take the lowest address some trace of
    this length and cost allows: for a one-hot choice (a block, an IPA) binary search for the
    lowest index that can be set; for a frame set, the lexicographically smallest set, one
    member at a time, each by binary search. Returns the model and whether the search finished
    (a budget stop leaves a valid, maybe non-minimal, trace).
    """
    mdl = s.model()
    cost = run.moved(n)
    best = _int_of(mdl, cost)
    while best > 0:
        a = check(s, budget, act, cost < best)
        if a.outcome is Outcome.UNKNOWN:
            return mdl, False
        if a.outcome is Outcome.UNSAT:
            break
        mdl = s.model()
        best = _int_of(mdl, cost)
    fixed: list[z3.BoolRef] = [act, cost == best]
    fired = [run.fired(mdl, i) for i in range(n)]
    fixed += [run.ind(i, b) for i, b in enumerate(fired)]

    def sat(*extra: z3.BoolRef) -> bool | None:
        nonlocal mdl
        a = check(s, budget, *fixed, *extra)
        if a.outcome is Outcome.UNKNOWN:
            return None
        if a.outcome is Outcome.SAT:
            mdl = s.model()
            return True
        return False

    def lowest(bits: list[z3.BoolRef], lo: int) -> int | None:
        """The smallest j >= lo such that bits[j] can be true (the current model has one)."""
        hi = next(j for j in range(lo, len(bits)) if model_bool(mdl, bits[j]))
        while lo < hi:
            mid = (lo + hi) // 2
            got = sat(z3.Or(bits[lo:mid + 1]))
            if got is None:
                return None
            if got:
                hi = next(j for j in range(lo, mid + 1) if model_bool(mdl, bits[j]))
            else:
                fixed.extend(z3.Not(b) for b in bits[lo:mid + 1])
                lo = mid + 1
        return lo

    for i in range(n):
        for kind, bits0 in run.objectives(i, fired[i]):
            if kind == "bv":
                x = run.at_step(bits0[0], i)
                for bit in range(x.size() - 1, -1, -1):
                    xb = z3.Extract(bit, bit, x)
                    if _int_of(mdl, xb) == 0:
                        fixed.append(xb == 0)
                        continue
                    got = sat(xb == 0)
                    if got is None:
                        return mdl, False
                    fixed.append(xb == 0 if got else xb == 1)
                continue
            bits = [run.at_step(b, i) for b in bits0]
            size = sum(1 for b in bits if model_bool(mdl, b))
            start = 0
            for _ in range(size if kind == "set" else min(size, 1)):
                j = lowest(bits, start)
                if j is None:
                    return mdl, False
                fixed.extend(z3.Not(b) for b in bits[start:j])
                fixed.append(bits[j])
                start = j + 1
            if kind == "set":
                fixed.extend(z3.Not(b) for b in bits[start:])
    return mdl, True


def _int_of(mdl: z3.ModelRef, e: z3.ExprRef) -> int:
    v = mdl.eval(e, model_completion=True)
    return int(v.as_long())


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
                    timeout: float | None, effort: int | None = None) -> PropertyResult:
    """Decide `prop` with BMC (shortest counterexamples) and k-induction (docs/smt.md).
    `effort` caps the solver work of the whole check (Z3's rlimit, summed over its queries):
    unlike `timeout` it does not depend on the machine's speed."""
    try:
        with fresh_context():
            return _verify(model, prop, depth, timeout, effort)
    finally:
        # NOTE(fresh-context): free this check's terms now, not during the next check
        gc.collect()


def _verify(model: m.Model, prop: m.Property, depth: int | None,
            timeout: float | None, effort: int | None = None) -> PropertyResult:
    budget = Budget(timeout if timeout is not None else DEFAULT_TIMEOUT, effort=effort)
    why = supports(model, prop)
    if why is not True:
        return _result(prop, Verdict.UNDECIDED, "none", Scope(0, False, "exact"), budget,
                       {"reason": why}, warnings=[str(why)])
    enc: Encoding
    if encoding_for(model) == "page":
        enc = PageEncoding(model, observed_failures(model))
    else:
        enc = ExtentEncoding(model, observed_failures(model))
    run = Unrolling(enc)
    return _engine(model, prop, enc, run, budget, MAX_DEPTH if depth is None else depth)


def _engine(model: m.Model, prop: m.Property, enc: Encoding, run: Unrolling,
            budget: Budget, bound: int) -> PropertyResult:
    """Deepening BMC interleaved with k-induction over simple paths.

    At depth k: the base query asks for a violation in exactly k steps from the initial state
    (unsat at every smaller depth has been shown, so a model is a shortest trace); the step
    query asks for k + 1 steps along distinct states where the property holds k + 1 times and
    then fails (unsat: proved by (k+1)-induction). BMC alone runs first up to LEMMA_DEPTH, so
    short counterexamples cost no induction query, but for the early 1-induction step case
    right after the base case at depth 0 (NOTE(early-induction)). Inductive structural lemmas
    (`BranchChecks.houdini`, NOTE(houdini-branches) in smt_branches.py) are computed the first
    time a step query is satisfiable, then assumed at every state of the step query.
    """

    placement = enc.placement
    extent = isinstance(enc, ExtentEncoding)
    frames = enc.heap_total if isinstance(enc, ExtentEncoding) else len(enc.frames)
    stats: dict[str, Any] = {"encoding": "extent" if extent else "page", "lemmas": 0,
                             "frames": frames}
    # NOTE(cut): the extent-level encoding is exact as long as no `cut` state (a step the
    # bound leaves out, NOTE(extent-bound)) is reachable, so it checks P and not cut. The first
    # reachable cut (depth c) makes it an under-approximation from that depth on: `bounded`, P
    # alone over the paths that stay within the bound, `holds` at best, with scope depth c - 1
    # (every behaviour of at most c - 1 steps is covered exactly), and a violation found at
    # depth c or more is the shortest within the bound only (`cmd_verify._disagree` knows).
    bounded = False
    prop0 = holds(enc, prop, 0)
    cut0 = enc.cut(0) if isinstance(enc, ExtentEncoding) else None
    exact0 = prop0 if cut0 is None else z3.And(prop0, z3.Not(cut0))
    warnings: list[str] = []
    longest = enc.scn.longest()

    def P(i: int) -> z3.BoolRef:
        return run.at(prop0 if bounded else exact0, i)

    def PB(i: int) -> z3.BoolRef:
        """P at state i of the BMC unrolling (NOTE(forward-propagation) in encode_unroll.py)."""
        return run.forward_at(prop0 if bounded else exact0, i)

    base, step = make_solver(budget), make_solver(budget)
    base.add(enc.init(0))
    checks = BranchChecks(enc, run, budget)
    cand_ids: list[int] = []  # lemma candidates of the stages so far
    alone: set[int] = set()  # candidates Houdini checks one by one
    lemma_ids: list[int] = []
    lemma0: z3.BoolRef | None = None
    stage = 0  # lemma stages computed so far (see PageEncoding.lemma_candidates)
    induction_unknown = ""
    k = 0
    based = -1  # deepest depth whose base query is done

    def cut_met(mdl: z3.ModelRef, k: int) -> bool:
        """NOTE(cut): whether `mdl` (a model of a depth-k query) is the first cut met; from it
        on the search is `bounded`, with a warning naming the operation."""
        nonlocal bounded
        if cut0 is None or bounded or not model_bool(mdl, run.at(cut0, k)):
            return False
        label = run.read(mdl, k)[-1].label
        bounded = True
        stats["cut_depth"] = k
        warnings.append(f"at depth {k}, `{label}` can take a shape the extent-level encoding "
                        f"leaves out; from there on, {EXTENT_WARNING}")
        return True

    def base_query(k: int, rlimit: int | None = None) -> PropertyResult | None:
        nonlocal based, bounded
        stats["k_reached"] = k
        if k > 0:
            base.add(run.forward(k - 1))
        while True:
            if bounded:
                assert cut0 is not None
                base.add(z3.Not(run.forward_at(cut0, k)))
            with goal(base, z3.Not(PB(k)), f"goal.base.{k}") as act:
                a = check(base, budget, act, rlimit=rlimit)
                if a.outcome is Outcome.SAT and cut_met(base.model(), k):
                    continue
                if a.outcome is Outcome.SAT:
                    mdl, minimal = _minimise(base, run, k, budget, act)
                    steps = run.read(mdl, k)
                    stats.update(solver_stats(base))
                    stats["minimal"] = minimal
                    trace = replay(model, prop, steps, raw=partial(_raw, enc, run, mdl, k, steps))
                    return _result(prop, Verdict.VIOLATED, "bmc", Scope(k, False, placement),
                                   budget, stats, trace, warnings=list(warnings))
                if a.outcome is Outcome.UNKNOWN:
                    stats.update(solver_stats(base))
                    return _result(prop, Verdict.UNDECIDED, "bmc", Scope(max(k - 1, 0), False,
                                   placement), budget, stats,
                                   warnings=warnings + [f"solver gave up at depth {k}: {a.reason}"])
            break
        base.add(PB(k))
        based = k
        if longest is not None and k >= longest:
            # NOTE(scenario-bound): no run is longer, so the step case for k + 1 has no path
            stats["scenario_bound"] = longest
            return proved(longest + 1, base)
        return None

    def add_step(k: int) -> None:
        """The step case with k + 1 transitions over a simple path (without its goal)."""
        step.add(P(k))
        step.add(run.transition(k))
        step.add([run.distinct(j, k + 1) for j in range(k + 1)])
        if lemma0 is not None:
            step.add(run.at(lemma0, k + 1))

    asked = [0]  # step queries so far: each goal needs a fresh activation literal

    cti: list[z3.ModelRef] = []  # the model of the last satisfiable step query

    def step_query(k: int) -> Answer:
        asked[0] += 1
        with goal(step, z3.Not(P(k + 1)), f"goal.step.{k}.{asked[0]}") as act:
            a = check(step, budget, act)
            cti[:] = [step.model()] if a.outcome is Outcome.SAT else []
            return a

    def proved(k: int, solver: z3.Solver | None) -> PropertyResult:
        if solver is not None:
            stats.update(solver_stats(solver))
        stats["k"] = k
        if bounded:
            # exhaustive only below the first cut (NOTE(cut))
            return _result(prop, Verdict.HOLDS, f"k-induction(k={k})",
                           Scope(stats["cut_depth"] - 1, False, placement), budget, stats,
                           warnings=list(warnings))
        return _result(prop, Verdict.PROVED, f"k-induction(k={k})",
                       Scope(None, True, placement), budget, stats)

    def split_bmc(longest: int, refuted: int) -> PropertyResult:
        """NOTE(bmc-split): BMC over a loop-free scenario one operation sequence at a time.
        Each node of the tree of sequences (a prefix, one branch per step) has its own
        forward-propagated transition (`Unrolling.forward_branch`), and each query is a fresh
        one-shot solver over one prefix (sliced first, NOTE(cone-of-influence)); a branch
        whose guard simplifies to false is dropped with its subtree, and so is a prefix the
        solver shows infeasible within FEASIBLE_RLIMIT. Depth k
        asks, for every prefix of length k in order, for a violation at state k given that P
        held before (the same queries as the joint BMC, case by case): the union of the
        answers is the joint answer, a violation found at depth k is a shortest one, and the
        prefixes after the first violating one are asked only for a trace that moves fewer
        pages (NOTE(minimal-trace)). Over a known state the allocator policies fold to values,
        which the joint unrolling cannot do once two sequences reach different states. Depths
        below `refuted`, where the joint query already found no violation, are not asked
        again (their levels are still built).

        NOTE(relaxed-policy): where the free heap before an allocation under a policy is not
        known (a guest chose an address symbolically before it), the policy's circuit does not fold,
        and that node takes the relaxed relation instead: the allocation as under placement
        `any`, within the same extent slots, and a cut wherever the policy's buddies could
        outnumber them (`encode_extent_policy.policy_over`). The relaxed relation allows every
        step the exact one does, so an unsatisfiable query over a relaxed node shows there is no
        violation (and no cut) down that prefix; a satisfiable one is only a candidate, and
        counts once the exact relation along the same prefix (`confirm`) is satisfiable too:
        then the trace is read and minimised from the exact relation. A relaxed query is
        first asked only with the quick stages; where they leave it open or give a
        candidate, the exact lowest run along the prefix is asked before anything else
        (NOTE(lowest-path) in smt_lowest.py): a model of it is an exact violation, the lowest
        along the prefix. An exact query the
        budget cannot decide leaves the verdict undecided, as in the joint BMC. A relaxed cut
        of the policy (`Branch.policy_cut`) is first asked against the free heap of the last
        state along the prefix that is known (NOTE(reference-heap)): where every state the
        prefix reaches keeps that heap free and gains few enough frames, the policy's buddies
        fit the slots, the cut cannot fire, and its child is dropped without the count of
        buddies over a symbolic heap (`policy_over`), which is hard for both solvers."""
        nonlocal bounded
        assert isinstance(enc, ExtentEncoding)
        Known = dict[int, tuple[z3.ExprRef, z3.ExprRef]]
        root: Known = {v.get_id(): (v, x) for v, x in enc.initial_values(0)}
        nstate = len(run.state)

        def known_free(known: Known, k: int) -> ex.Extents | None:
            """The free heap at state k, where `known` has every heap extent as a value."""
            owned: list[tuple[int, int]] = []
            for d in enc.heap_doms:
                for x in range(enc.nx[d]):
                    got = [known.get(v.get_id()) for v in enc.ext(d, x, k)]
                    if not all(g is not None and z3.is_bv_value(g[1]) for g in got):
                        return None
                    s0, n0 = (g[1].as_long() for g in got if g is not None)
                    owned.append((s0, n0))
            return ex.difference(enc.heap, ex.normalize(owned))

        memo = slicing.Memo()  # variables per term id (slicing.conjuncts)
        start = slicing.conjuncts(enc.init(0), memo)
        # (branches, the relation along them as conjuncts, with P at every state but the
        # last, the values known at the last state, whether a step took the relaxed relation,
        # the free heap of the last state along them whose extents are all known, whether
        # that is the last state's)
        Node = tuple[tuple[int, ...], list[slicing.Conjunct], Known, bool, ex.Extents | None,
                     bool]
        root_free = known_free(root, 0)
        level: list[Node] = [((), start, root, False, root_free, root_free is not None)]
        Path = tuple[list[slicing.Conjunct], Known, ex.Extents | None]
        exact_paths: dict[tuple[int, ...], Path] = {(): (start, root, root_free)}

        def P0() -> z3.BoolRef:
            return prop0 if bounded else exact0

        bounds: dict[tuple[ex.Extents, int, int], z3.BoolRef | None] = {}

        def unreachable_cut(parts: list[slicing.Conjunct], p_k: z3.BoolRef, known: Known,
                            k: int, ref: ex.Extents | None, b: int, relaxed: bool
                            ) -> z3.BoolRef | None:
            """For a policy cut (branch b at step k, of the relaxed relation or not): the
            condition under which it cannot fire (NOTE(reference-heap)) at state k; true if
            the prefix always meets it, None if there is none."""
            pc = run.branch(b, relaxed).policy_cut
            if pc is None or ref is None:
                return None
            key = (ref, *pc)
            if key not in bounds:
                bounds[key] = reference_bound(enc, ref, *pc)
            cond = bounds[key]
            if cond is None:
                return None
            cond_k = run.split_at(known, cond, k)
            a = ask([c.term for c in parts] + [p_k, z3.Not(cond_k)], rlimit=FEASIBLE_RLIMIT)[0]
            return z3.BoolVal(True) if a.outcome is Outcome.UNSAT else cond_k

        def exact_path(pre: tuple[int, ...]) -> Path:
            got = exact_paths.get(pre)
            if got is None:
                parts, kn, ref = exact_path(pre[:-1])
                j = len(pre) - 1
                f, after = run.forward_branch(kn, j, pre[-1])
                p_j = run.split_at(kn, P0(), j)
                fits = None if len(kn) == nstate else \
                    unreachable_cut(parts, p_j, kn, j, ref, pre[-1], False)
                if fits is not None:  # the policy's cut, where the state is not known
                    f = z3.BoolVal(False) if z3.is_true(fits) else and_([f, z3.Not(fits)])
                now = known_free(after, j + 1)
                got = exact_paths[pre] = (parts + slicing.conjuncts(and_([p_j, f]), memo),
                                          after, ref if now is None else now)
            return got

        def tally(s1: z3.Solver) -> None:
            for key, val in solver_stats(s1).items():  # the split's totals (peaks for memory)
                stats[key] = max(stats.get(key, 0), val) if "memory" in key else \
                    stats.get(key, 0) + val

        shared = bvint.Translation()

        def ask(terms: list[z3.BoolRef], rlimit: int | None = None, part: str = "all"
                ) -> tuple[Answer, z3.ModelRef | None]:
            """One query, and its model if satisfiable: as integer arithmetic first
            (NOTE(bv-as-int)), its model lifted to the bit-vector variables and checked to
            satisfy every term; as bit-vectors where the integers are not decided. Without
            an rlimit of its own, in stages: integers and bit-vectors each with a small
            effort (INT_QUICK, BV_QUICK: each solver settles quickly most queries the other
            is slow on), then integers with INT_RLIMIT, then bit-vectors with the rest. `part`
            "quick" asks only the stages with a small effort, "slow" only the others."""
            ids: set[int] = set()
            for t in terms:
                ids |= slicing.variables(t, memo)
            try:
                lia: list[z3.BoolRef] | None = bvint.translate(terms, shared, ids)[0]
            except bvint.Unsupported:
                lia = None
            stages: list[tuple[bool, int | None]]
            if rlimit is not None:
                stages = [(True, min(rlimit, INT_RLIMIT)), (False, rlimit)]
            elif lia is not None:
                stages = [(True, INT_QUICK), (False, BV_QUICK), (True, INT_RLIMIT), (False, None)]
                stages = {"quick": stages[:2], "slow": stages[2:]}.get(part, stages)
            else:
                stages = [(False, BV_QUICK)] if part == "quick" else [(False, None)]
            for as_int, effort in stages:
                if not as_int:
                    a, mdl = ask_bv(terms, effort)
                elif lia is not None:
                    a, mdl = ask_int(terms, lia, ids, effort or INT_RLIMIT)
                else:
                    continue
                if a.outcome is not Outcome.UNKNOWN:
                    return a, mdl
            return a, mdl

        def ask_int(terms: list[z3.BoolRef], lia: list[z3.BoolRef], ids: set[int],
                    effort: int) -> tuple[Answer, z3.ModelRef | None]:
            s2 = make_solver(budget, one_shot=True, arith=True)
            assert_all(s2, lia)
            # Z3's arithmetic does not always stop at its rlimit: a time cap too (its
            # unknown only hands the query on)
            a = check(s2, budget, rlimit=effort, seconds=INT_SECONDS)
            tally(s2)
            if a.outcome is Outcome.UNSAT:
                stats["int_unsat"] = stats.get("int_unsat", 0) + 1
                return a, None
            if a.outcome is Outcome.SAT:
                stats["int_sat"] = stats.get("int_sat", 0) + 1
                mdl = shared.lift(s2.model(), ids)
                if not all(z3.is_true(mdl.eval(t, model_completion=True)) for t in terms):
                    raise _internal(f"internal error checking {prop.name}: a model of the "
                                    "query as integers is not a model of the bit-vector "
                                    "query", "the query", {"query": [t.sexpr() for t in terms]})
                return a, mdl
            return a, None

        def ask_bv(terms: list[z3.BoolRef], effort: int | None
                   ) -> tuple[Answer, z3.ModelRef | None]:
            s1 = make_solver(budget, one_shot=True)
            assert_all(s1, terms)
            a = check(s1, budget, rlimit=effort)
            tally(s1)
            return a, s1.model() if a.outcome is Outcome.SAT else None

        def ask_goal(parts: list[slicing.Conjunct], goal_terms: list[z3.BoolRef],
                     part: str = "all"
                     ) -> tuple[Answer, z3.ModelRef | None, list[z3.BoolRef]]:
            """Whether the relation `parts` and the goal can hold together: first over the
            goal's cone of influence (NOTE(cone-of-influence)), where unsatisfiable is the
            answer, then over everything (with the stages `part` of `ask`). Returns the
            answer, its model and the query."""
            goal_parts = slicing.conjuncts(and_(goal_terms), memo)
            whole = [c.term for c in parts] + [c.term for c in goal_parts]
            sliced = slicing.cone(parts, goal_parts)
            # the slice with every stage (only its unsat counts), asked once: "slow" follows
            # a "quick" call that asked it
            if part != "slow" and len(sliced) < len(whole):
                a, mdl = ask(sliced)
                if a.outcome is Outcome.UNSAT:
                    stats["sliced_unsat"] = stats.get("sliced_unsat", 0) + 1
                    return a, mdl, whole
            a, mdl = ask(whole, part=part)
            return a, mdl, whole

        def violation(known: Known, k: int) -> list[z3.BoolRef]:
            """The goal at state k: P broken (or, not yet bounded, a cut)."""
            out: list[z3.BoolRef] = []
            if bounded:
                assert cut0 is not None
                out.append(z3.Not(run.split_at(known, cut0, k)))
            out.append(z3.Not(run.split_at(known, P0(), k)))
            return out

        def confirm(pre: tuple[int, ...], k: int, extra: list[z3.BoolRef], hint: z3.ModelRef
                    ) -> tuple[Answer, z3.ModelRef | None, list[z3.BoolRef], bool]:
            """The exact query along `pre` at depth k: first with the choices of the steps
            that did not take the relaxed relation fixed as in the candidate `hint` (a model
            of the relaxed query), then without. The flag: whether the choices were fixed (a
            trace minimised from that query is the lowest only among those choices)."""
            parts, kn, _ref = exact_path(pre)
            goal_terms = violation(kn, k) + extra
            fix: list[z3.BoolRef] = []
            t = enc.table
            for j, b in enumerate(pre):
                if b in run.relaxed:
                    continue
                for key, srt in run.locals:
                    if key[0] == "choice":
                        v = t.get(key, j, srt)
                        val = hint.eval(v, model_completion=False)
                        if z3.is_bv_value(val) or z3.is_true(val) or z3.is_false(val):
                            fix.append(v == val)
            if fix:
                a, mdl, q = ask_goal(parts, goal_terms + fix)
                if a.outcome is not Outcome.UNSAT:
                    return a, mdl, q, True
            return (*ask_goal(parts, goal_terms), False)

        def lowest_goal(pre: tuple[int, ...], k: int, extra: list[z3.BoolRef]
                        ) -> tuple[Answer, z3.ModelRef | None, list[z3.BoolRef]]:
            """The goal at depth k over the exact relation along `pre`, each step's address
            choices at their lowest (NOTE(lowest-path) in smt_lowest.py): satisfiable only
            with an exact violation, the lowest along `pre`."""
            got = lowest_path(run, budget, root, pre, P0(), violation, FEASIBLE_RLIMIT)
            if got is None:
                return Answer(Outcome.UNKNOWN, "no lowest run"), None, []
            terms, kn = got
            q = [c.term for c in start] + terms + violation(kn, k) + extra
            a, mdl = ask(q, rlimit=FEASIBLE_RLIMIT)
            if a.outcome is Outcome.SAT:
                stats["lowest_paths"] = stats.get("lowest_paths", 0) + 1
            return a, mdl, q

        for k in range(longest + 1):
            stats["k_reached"] = k
            gave_up = ""
            best: tuple[int, list[z3.BoolRef], bool] | None = None  # (pages moved, query, fixed)
            # the joint query showed no violation at depths below `refuted`
            for pre, parts, known, loose, _ref, _now in level if k >= refuted else []:
                while True:
                    extra = [] if best is None else [run.moved(k) < best[0]]
                    goal_k = violation(known, k) + extra
                    exact, fixed = not loose, False
                    a, mdl, q = ask_goal(parts, goal_k, "quick" if loose else "all")
                    if loose and a.outcome is not Outcome.UNSAT:
                        # NOTE(lowest-path): a relaxed candidate, or a relaxed query the quick
                        # stages left open: the exact lowest run along the prefix first
                        low = lowest_goal(pre, k, extra)
                        if low[0].outcome is Outcome.SAT:
                            (a, mdl, q), exact = low, True
                        elif a.outcome is Outcome.UNKNOWN:
                            a, mdl, q = ask_goal(parts, goal_k, "slow")
                    if a.outcome is Outcome.SAT and not exact:
                        stats["relaxed_candidates"] = stats.get("relaxed_candidates", 0) + 1
                        assert mdl is not None
                        a, mdl, q, fixed = confirm(pre, k, extra, mdl)
                        if a.outcome is Outcome.UNSAT:
                            stats["relaxed_spurious"] = stats.get("relaxed_spurious", 0) + 1
                    if a.outcome is Outcome.SAT and cut_met(mdl, k):
                        exact_paths.clear()
                        exact_paths[()] = (start, root, root_free)
                        continue
                    if a.outcome is Outcome.SAT:
                        best = (_int_of(mdl, run.moved(k)), q, fixed)
                    elif a.outcome is Outcome.UNKNOWN:
                        gave_up = a.reason
                    break
            if best is not None:
                src = make_solver(budget)
                act = z3.Bool(f"goal.split.min.{k}")
                src.add(z3.Implies(act, and_(best[1])))
                a = check(src, budget, act)
                assert a.outcome is Outcome.SAT or a.outcome is Outcome.UNKNOWN
                if a.outcome is Outcome.UNKNOWN:
                    gave_up = gave_up or a.reason
                else:
                    mdl, minimal = _minimise(src, run, k, budget, act)
                    steps = run.read(mdl, k)
                    stats["minimal"] = minimal and not gave_up and not best[2]
                    trace = replay(model, prop, steps,
                                   raw=partial(_raw, enc, run, mdl, k, steps))
                    return _result(prop, Verdict.VIOLATED, "bmc",
                                   Scope(k, False, placement), budget, stats, trace,
                                   warnings=list(warnings))
            if gave_up:
                return _result(prop, Verdict.UNDECIDED, "bmc", Scope(max(k - 1, 0), False,
                               placement), budget, stats,
                               warnings=warnings + [f"solver gave up at depth {k}: {gave_up}"])
            if k == longest:
                break
            nxt: list[Node] = []
            for pre, parts, known, loose, ref, heap_known in level:
                p_k = run.split_at(known, P0(), k)
                for b in range(len(run.branches)):
                    f, after = run.forward_branch(known, k, b)
                    if z3.is_false(f):
                        continue
                    # relaxed where the exact step did not fold to values because the free
                    # heap it allocates from is not known (over a known heap the policy folds)
                    relax = b in run.relaxed and len(after) < nstate and not heap_known
                    if relax:
                        stats["relaxed_steps"] = stats.get("relaxed_steps", 0) + 1
                        f, after = run.forward_branch(known, k, b, relaxed=True)
                        fits = unreachable_cut(parts, p_k, known, k, ref, b, True)
                        if fits is not None and z3.is_true(fits):
                            stats["reference_cuts"] = stats.get("reference_cuts", 0) + 1
                            continue
                        if fits is not None:  # implied by the cut's own guard
                            f = and_([f, z3.Not(fits)])
                    child = parts + slicing.conjuncts(and_([p_k, f]), memo)
                    # a prefix no run takes is dropped with its subtree; one the solver cannot
                    # settle cheaply stays (its queries cover it). At the last depth the
                    # prefix's own query is the only one left, and settles it as well.
                    if k + 1 < longest and ask([c.term for c in child],
                                               rlimit=FEASIBLE_RLIMIT)[0].outcome \
                            is Outcome.UNSAT:
                        continue
                    now = known_free(after, k + 1)
                    nxt.append((pre + (b,), child, after, loose or relax,
                                ref if now is None else now, now is not None))
            level = nxt
        stats["scenario_bound"] = longest
        return proved(longest + 1, None)

    def localized(r: PropertyResult) -> PropertyResult:
        """NOTE(localization) in localize.py: a `holds` bounded by a cut, proved over every
        run of the scenario where the property does not read the frames of the domains whose
        slot cuts bound it; otherwise `r` (with what was tried in its stats)."""
        if r.verdict is not Verdict.HOLDS or not bounded or not isinstance(enc, ExtentEncoding) \
                or longest is None or budget.expired():
            return r
        doms = hidden_domains(enc, run, slicing.variables(exact0, slicing.Memo()))
        if not doms:
            return r
        tried: dict[str, Any] = {}
        names = [enc.doms[d].name for d in doms]
        if not prove_localized(enc, run, exact0, doms, longest, budget, tried):
            r.stats.update(tried, localized=names)
            return r
        got = {k: v for k, v in stats.items() if k != "cut_depth"}
        got.update(tried, localized=names, scenario_bound=longest, k=longest + 1)
        return _result(prop, Verdict.PROVED,
                       f"localization({','.join(names)})+k-induction(k={longest + 1})",
                       Scope(None, True, placement), budget, got)

    stage1 = checks.add(enc.lemma_candidates(0, 1))

    def use_lemmas(ids: list[int], k: int, t0: float, spend: int | None = None) -> None:
        """Assume the inductive subset Houdini keeps of `ids` in the step query."""
        nonlocal lemma_ids, lemma0
        kept = checks.houdini(ids, alone, spend=spend)
        lemma_ids = kept or []
        lemma0 = and_([checks.formulas[j] for j in lemma_ids])
        stats["lemmas"] = len(lemma_ids)
        stats["lemma_seconds"] = round(stats.get("lemma_seconds", 0) +
                                       time.perf_counter() - t0, 3)
        step.add([run.at(lemma0, i) for i in range(k + 2)])

    def strengthen(k: int) -> None:
        """The next stage of lemmas (Houdini), assumed from then on in the step query."""
        nonlocal stage
        stage += 1
        t0 = time.perf_counter()
        new = stage1 if stage == 1 else checks.add(enc.lemma_candidates(0, stage))
        cand_ids.extend(new)
        if stage > 1:
            alone.update(new)
        stats["lemma_stage"] = stage
        use_lemmas(cand_ids, k, t0)

    # NOTE(early-induction): BMC alone up to LEMMA_DEPTH, so that short counterexamples cost
    # no induction query, but for the 1-induction step case right after the base case at
    # depth 0: without lemmas, then (at most EARLY_ROUNDS times) with the inductive subset of
    # the stage-1 candidates its models' first states break (those states are unreachable;
    # few candidates make a cheap Houdini run). Many properties are proved there, before any
    # deeper BMC query; the others go on as before.
    early: Answer | None = None
    early_bounded = False
    if extent and longest is not None and longest <= SCENARIO_BMC:
        # NOTE(scenario-bound): a short scenario at real size: BMC over every run (with what
        # the concrete initial state fixes propagated, NOTE(forward-propagation)) is both the
        # proof and the shortest counterexample, and never bit-blasts the relation over an
        # arbitrary state as the step case does. One query over all operation sequences
        # first; where the solver gives up on it, the same BMC split by sequence
        # (NOTE(bmc-split)), which keeps the deeper of the two scopes when it gives up too.
        spent = budget.rlimit_used
        for j in range(longest + 1):
            joint = base_query(j, max(1, JOINT_RLIMIT - (budget.rlimit_used - spent)))
            if joint is None:
                continue
            if joint.verdict is not Verdict.UNDECIDED or budget.expired():
                return localized(joint)
            # every depth below j (below the first cut, if one was met) has no violation
            refuted = stats["cut_depth"] if bounded else j
            bounded = False
            warnings.clear()
            for key in ("cut_depth", "minimal"):
                stats.pop(key, None)
            stats["joint_gave_up_at"] = j
            # NOTE(joint-reset): the joint solver's state (its bit-blasted relation and what it
            # learned, gigabytes at real size) is not needed again; kept, it made every query
            # of the split search about three times slower (domd.m11 no_frame_shared: 528 s
            # after the joint query against 150 s alone)
            base.reset()
            split = split_bmc(longest, refuted)
            if split.verdict is Verdict.UNDECIDED and \
                    (split.scope.depth or 0) < (joint.scope.depth or 0):
                return joint
            return localized(split)
    for j in range(min(LEMMA_DEPTH, bound) + 1):
        got = base_query(j)
        if got is not None:
            return got
        if j == 0 and bound > 0:
            add_step(0)
            early = step_query(0)
            early_bounded = bounded
            chosen: set[int] = set()
            for _round in range(EARLY_ROUNDS):
                if early.outcome is not Outcome.SAT:
                    break
                broken = {c for c in stage1
                          if c not in chosen and not model_bool(cti[0], checks.formulas[c])}
                if not broken:
                    break
                chosen |= broken
                use_lemmas(sorted(chosen), 0, time.perf_counter(), EARLY_SPEND)
                early = step_query(0)
            if early.outcome is Outcome.UNSAT:
                return proved(1, step)
    while True:
        if k > based:
            got = base_query(k)
            if got is not None:
                return got
        if k > 0 or early is None:
            add_step(k)
        while True:
            if early is not None and early_bounded == bounded:
                a, early = early, None  # the step case without lemmas, already asked
            elif early is not None:
                early = None  # asked for P and not cut; since then a cut was found
                a = step_query(k)
            else:
                a = step_query(k)
            if a.outcome is Outcome.SAT and stage < 2:
                strengthen(k)
                continue
            break
        if a.outcome is Outcome.UNSAT:
            return proved(k + 1, step)
        if a.outcome is Outcome.UNKNOWN:
            induction_unknown = a.reason
        if k >= bound:
            stats.update(solver_stats(base))
            warn = [f"k-induction did not close up to k={k + 1}" +
                    (f" ({induction_unknown})" if induction_unknown else "")]
            warn += warnings
            depth = min(based, stats["cut_depth"] - 1) if bounded else based
            return _result(prop, Verdict.HOLDS, "bmc", Scope(depth, False, placement), budget,
                           stats, warnings=warn)
        if budget.expired():
            stats.update(solver_stats(base))
            return _result(prop, Verdict.UNDECIDED, "bmc", Scope(based, False, placement),
                           budget, stats,
                           warnings=warnings + [f"time budget spent after depth {based}"])
        k += 1


def _raw(enc: Encoding, run: Unrolling, mdl: z3.ModelRef, n: int,
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


def _internal(message: str, saved: str, raw: dict[str, Any]) -> CheckerError:
    """An internal error (exit 4), with what it concerns saved as JSON for the bug report."""
    path = _save_raw(raw)
    return CheckerError([Diagnostic(message, None, (
        Note(f"{saved} saved to {path}; please attach it to a bug report"),))], Exit.INTERNAL)


def _mismatch(prop: m.Property, message: str, raw: dict[str, Any]) -> CheckerError:
    return _internal(f"the symbolic counterexample for {prop.name} does not replay: {message}",
                     "raw solver trace", raw)


def replay(model: m.Model, prop: m.Property, steps: list[Step], *,
           raw: Callable[[], dict[str, Any]]) -> Trace:
    """Replay a solver trace through `checker.semantics`; a mismatch is a checker bug (the raw
    solver trace, built by `raw` only then, is saved for the report)."""
    from checker import encode_replay as smt_replay

    try:
        return smt_replay.replay(model, prop, steps)
    except smt_replay.Mismatch as exc:
        raise _mismatch(prop, str(exc), raw()) from None
