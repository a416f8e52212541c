"""Houdini: the inductive structural lemmas of the Z3 engine's step case (checker/smt.py,
docs/smt.md), checked one branch of the transition relation at a time.

NOTE(houdini-branches): T(s, s') holds iff exactly one branch b fires: guard_b(s) and s' is
s with the variables b writes replaced by `writes_b(s)` (NOTE(frame-rule) in encode.py). So
"F(s) and T(s, s') imply G(s')" holds iff, for every branch b, F(s) and guard_b(s) imply
G(writes_b(s)), and each such query is over state 0 alone: the next state is substituted
functionally. A variable the branch does not write is the very same variable at s_0, so a
formula over untouched variables is preserved by syntax and needs no query, and a
cardinality bound over untouched frames is refuted by propagation, where with fresh
next-state variables and frame equalities the SAT solver would face a pigeonhole problem.

Every candidate is asserted in a branch's solver behind its own activation literal (only
once some query assumes it), so a query assumes exactly the candidates it names.
"""

from __future__ import annotations

from collections.abc import Sequence

import z3

from checker.encode import and_, implies, model_bool, neg
from checker.encode_unroll import Encoding, Subst, Unrolling
from checker.solver import Answer, Budget, Outcome, check, make_solver

HOUDINI_RLIMIT = 3_000_000  # per candidate query (~1 s): past it the candidate is dropped


class BranchChecks:
    """Formulas over state 0, each checked against every branch (NOTE(houdini-branches))."""

    def __init__(self, enc: Encoding, run: Unrolling, budget: Budget) -> None:
        self.run = run
        self.budget = budget
        t = enc.table
        self._init = Subst(enc.initial_values(0))
        self._subs = [Subst([(t.get(key, 0, srt), br.writes[key]) for key, srt in run.state
                             if key in br.writes])
                      for br in run.branches]
        self._solvers: list[z3.Solver | None] = [None] * len(run.branches)
        self._asserted: list[set[int]] = [set() for _ in run.branches]
        self.formulas: list[z3.BoolRef] = []
        self._acts: list[z3.BoolRef] = []
        self._nxt: list[dict[int, z3.BoolRef]] = [{} for _ in run.branches]

    def add(self, formulas: Sequence[z3.BoolRef]) -> list[int]:
        """Register formulas over state 0; returns their ids."""
        ids = []
        for f in formulas:
            j = len(self.formulas)
            self.formulas.append(f)
            self._acts.append(z3.Bool(f"branchcheck.{j}"))
            ids.append(j)
        return ids

    def nxt(self, b: int, j: int) -> z3.BoolRef:
        """Formula j after branch b."""
        got = self._nxt[b].get(j)
        if got is None:
            got = self._nxt[b][j] = self._subs[b](self.formulas[j])
        return got

    def initially(self, j: int) -> bool:
        """Formula j holds in the (concrete) initial state."""
        return bool(z3.is_true(z3.simplify(self._init(self.formulas[j]))))

    def changed(self, b: int, j: int) -> bool:
        """Branch b may change the value of formula j (else it is preserved by syntax)."""
        return not self.nxt(b, j).eq(self.formulas[j])

    def _solver(self, b: int, assumed: Sequence[int]) -> z3.Solver:
        """Branch b's solver, with each formula in `assumed` behind its activation literal."""
        s = self._solvers[b]
        if s is None:
            s = self._solvers[b] = make_solver(self.budget)
            s.add(self.run.branches[b].guard)
        done = self._asserted[b]
        new = [j for j in assumed if j not in done]
        if new:
            s.add(and_([implies(self._acts[j], self.formulas[j]) for j in new]))
            done.update(new)
        return s

    def _query(self, b: int, assumed: Sequence[int], goal: Sequence[int],
               rlimit: int | None) -> tuple[Answer, z3.Solver]:
        s = self._solver(b, assumed)
        bad = neg(and_([self.nxt(b, j) for j in goal]))
        a = check(s, self.budget, *[self._acts[x] for x in assumed], bad, rlimit=rlimit)
        return a, s

    def houdini(self, ids: Sequence[int], alone: set[int],
                rlimit: int = HOUDINI_RLIMIT, spend: int | None = None) -> list[int] | None:
        """The largest subset of `ids` that holds initially and is preserved by T.

        In rounds, each remaining candidate is checked against each branch: one query for all
        the candidates a branch may change (one each when it fails), candidates in `alone`
        always one by one. A model drops every candidate it falsifies; a round with no drop
        leaves an inductive conjunction. A query past `rlimit` drops its candidate too (never
        assumed unproved). None when the budget ran out, or, with a `spend`, when the queries used
        more than `spend` resource units or took more than three rounds' worth of queries
        (then no lemma is used).
        """
        keep = {j for j in ids if self.initially(j)}
        limit = None if spend is None else self.budget.rlimit_used + spend
        asked = None if spend is None else self.budget.queries + 3 * len(self._subs)
        changed = True
        while changed:
            changed = False
            for b in range(len(self._subs)):
                if limit is not None and (self.budget.rlimit_used > limit or
                                          asked is not None and self.budget.queries > asked):
                    return None
                def nxt(x: int, b: int = b) -> z3.BoolRef:
                    return self.nxt(b, x)
                todo = [j for j in sorted(keep) if self.changed(b, j) and j not in alone]
                hard = [j for j in sorted(keep) if self.changed(b, j) and j in alone]
                for j in hard:
                    if j not in keep:
                        continue
                    a, s = self._query(b, sorted(keep), [j], rlimit)
                    if a.outcome is Outcome.UNSAT:
                        continue
                    if a.outcome is Outcome.UNKNOWN and self.budget.expired():
                        return None
                    keep -= ({x for x in keep if not model_bool(s.model(), nxt(x))}
                             if a.outcome is Outcome.SAT else {j})
                    changed = True
                if not todo:
                    continue
                a, s = self._query(b, sorted(keep), todo, rlimit)
                if a.outcome is Outcome.UNSAT:
                    continue
                if a.outcome is Outcome.SAT:
                    mdl = s.model()
                    keep -= {x for x in keep if not model_bool(mdl, nxt(x))}
                    changed = True
                    continue
                if self.budget.expired():
                    return None
                for j in todo:
                    if j not in keep:
                        continue
                    a, s = self._query(b, sorted(keep), [j], rlimit)
                    if a.outcome is Outcome.UNKNOWN:
                        if self.budget.expired():
                            return None
                        keep.discard(j)
                        changed = True
                    elif a.outcome is Outcome.SAT:
                        mdl = s.model()
                        keep -= {x for x in keep if not model_bool(mdl, nxt(x))}
                        changed = True
        return sorted(keep)
