"""The lowest run along one operation sequence, for the split BMC (NOTE(lowest-path)).

NOTE(lowest-path): a prefix that took the relaxed relation (NOTE(relaxed-policy) in smt.py)
is asked over the relaxed relation, and a symbolic guest choice before it (`balloon_out domd 1`
at any of 65536 IPAs) can make that query hard for both solvers even where every choice
leads to the violation. `lowest_path` builds a narrower exact query: step by step along the
sequence, each address objective of the step (the order `_minimise` uses, NOTE(minimal-trace))
is fixed at the lowest value the step allows from the state reached so far, given that the
property held before it (and, at the last step, that it fails after it). Fixed choices are
substituted, so the state after the step is known again and the allocator policy of the
next step folds to values (NOTE(forward-propagation)); the query is then cheap.

What it shows: the query is the exact relation with equalities added, so a model of it is an
exact violation (never only a candidate). It is also the lexicographically lowest violation
along the sequence: a violating run whose choice at step j (the earlier ones equal) were
lower would satisfy the narrower question the search asked at step j (the step from the
state reached, the property before it), whose lowest answer is the one fixed. An
unsatisfiable answer shows nothing (another choice may still violate), and the caller goes
on with the relaxed query.
"""

from __future__ import annotations

from collections.abc import Callable

import z3

from checker.encode import eq
from checker.encode_unroll import Subst, Unrolling
from checker.solver import Budget, Outcome, assert_all, check, make_solver

Known = dict[int, tuple[z3.ExprRef, z3.ExprRef]]


def lowest(terms: list[z3.BoolRef], objectives: list[z3.BitVecRef], budget: Budget,
           rlimit: int) -> list[z3.BitVecRef] | None:
    """The lexicographically lowest values of `objectives` (each bit from the most significant
    down) over the models of `terms`; None if there is none or its queries together need more
    than `rlimit`."""
    spent = budget.rlimit_used
    s = make_solver(budget)
    assert_all(s, terms)
    if check(s, budget, rlimit=rlimit).outcome is not Outcome.SAT:
        return None
    mdl = s.model()
    fixed: list[z3.BoolRef] = []
    out: list[z3.BitVecRef] = []
    for x in objectives:
        for bit in range(x.size() - 1, -1, -1):
            xb = z3.Extract(bit, bit, x)
            if mdl.eval(xb, model_completion=True).as_long() == 0:
                fixed.append(xb == 0)
                continue
            left = rlimit - (budget.rlimit_used - spent)
            a = check(s, budget, *fixed, xb == 0, rlimit=left) if left > 0 else None
            if a is None or a.outcome is Outcome.UNKNOWN:
                return None
            if a.outcome is Outcome.SAT:
                mdl = s.model()
                fixed.append(xb == 0)
            else:
                fixed.append(xb == 1)
        val = mdl.eval(x, model_completion=True)
        assert isinstance(val, z3.BitVecNumRef)
        out.append(val)
    return out


def lowest_path(run: Unrolling, budget: Budget, root: Known, pre: tuple[int, ...],
                p0: z3.BoolRef, goal: Callable[[Known, int], list[z3.BoolRef]],
                rlimit: int) -> tuple[list[z3.BoolRef], Known] | None:
    """The exact relation along the branches `pre` from the values `root` of state 0, with P
    (`p0`, over state 0) at every state but the last and each step's address objectives fixed
    at their lowest (NOTE(lowest-path)); `goal(known, k)` is what must hold at the last state k
    (the lowest values of the last step are taken under it). Returns the terms and the values
    known at the last state, or None where a step has no lowest value within `rlimit` (the
    effort of all its steps together)."""
    t = run.enc.table
    spent = budget.rlimit_used
    kn = root
    terms: list[z3.BoolRef] = []
    for j, b in enumerate(pre):
        p_j = run.split_at(kn, p0, j)
        f, after = run.forward_branch(kn, j, b)
        if z3.is_false(f) or z3.is_false(p_j):
            return None
        sub = Subst(list(kn.values()))
        objs: list[z3.BitVecRef] = []
        for kind, x0 in run.objectives(j, b):
            if kind != "bv":
                return None
            o = z3.simplify(sub(run.at_step(x0[0], j)))
            if not z3.is_bv_value(o):
                objs.append(o)
        if objs:
            last = goal(after, j + 1) if j == len(pre) - 1 else []
            left = rlimit - (budget.rlimit_used - spent)
            vals = lowest([p_j, f] + last, objs, budget, left) if left > 0 else None
            if vals is None:
                return None
            local = {t.get(key, j, srt).get_id() for key, srt in run.locals}
            fix: Known = {}
            for o, v in zip(objs, vals):
                if z3.is_const(o) and o.get_id() in local:
                    fix[o.get_id()] = (o, v)  # substituted: the step folds
                terms.append(eq(o, v))
            if fix:
                f, after = run.forward_branch({**kn, **fix}, j, b)
        terms += [p_j, f]
        kn = after
    return terms, kn
