"""Proofs that do not read an ordinary domain's frames (NOTE(localization)).

NOTE(localization): under placement `any` an ordinary domain's create may take any n free
frames, in more runs than its extent slots hold (NOTE(extent-bound)), so the encoding cuts it
(`Branch.slots_of`) and a property that holds is only `holds` below the cut. Many properties
never read that domain's frames (a 1:1 domain's `ipa_eq_pa`), and its frames reach them only
through the other domains' allocations: a frame the other domains cannot take while it is
held. `prove` checks such a property over an abstraction that keeps nothing of those frames.

The abstraction. H is the set of the hidden domains' extent variables at every state, and the
choices their operations write into them. Every theory atom of the initial condition and of
the transition relation (a bit-vector comparison or equality, reached from the root through
Boolean connectives only) that reads a variable of H is replaced by a fresh Boolean, one per
distinct atom; the hidden domains' slot cuts are left out.

Why every run of the reference semantics has a run of the abstraction with the same values
on every variable outside H (so an unsatisfiable query over it is a proof). Take a run in
which a hidden domain d holds a set of frames F in more runs than its slots. The encoding with
enough slots for F (the same construction, with a larger `nx[d]`) follows the run exactly, and
differs from this one only in how many copies of each slot-indexed subformula over d's extents
it has; every such copy reads d's extents only inside atoms of H, which the abstraction frees.
A formula built by connectives over free atoms and other atoms takes, for given values of the
other atoms, every value it can take with any number of copies of those free atoms, so each
step of the run (its guard, and every write outside H, each an equality atom or a Boolean
connective) is matched by a choice of the fresh Booleans. The cut that the bounded encoding
puts at d's create is left out: the run's step is d's create that succeeds, whose branch writes
nothing outside H but what the cut's real step writes (d alive, the next domain id), and whose
guard is d not alive and not failed and atoms over its choices (all in H): enabled whenever the
cut is. Every other cut stays, so a reachable one makes the query satisfiable (no proof).

A satisfiable query is no counterexample (the abstraction allows more than the semantics), so
`prove` answers only `proved` or nothing; the caller keeps its own verdict then.
"""

from __future__ import annotations

from typing import Any

import z3

from checker import slicing
from checker.encode_extent import ExtentEncoding
from checker.encode_unroll import Unrolling
from checker.solver import Budget, Outcome, check, goal, make_solver

_CONNECTIVES = {z3.Z3_OP_AND, z3.Z3_OP_OR, z3.Z3_OP_NOT, z3.Z3_OP_IMPLIES, z3.Z3_OP_XOR,
                z3.Z3_OP_IFF, z3.Z3_OP_ITE, z3.Z3_OP_PB_AT_MOST, z3.Z3_OP_PB_AT_LEAST,
                z3.Z3_OP_PB_LE, z3.Z3_OP_PB_GE, z3.Z3_OP_PB_EQ}


def _connective(t: z3.ExprRef) -> bool:
    """A Boolean connective over Boolean arguments (an if-then-else: its branches Boolean)."""
    kind = t.decl().kind()
    kids = t.children()
    if kind == z3.Z3_OP_ITE:
        return bool(z3.is_bool(kids[1]))
    if kind in (z3.Z3_OP_EQ, z3.Z3_OP_DISTINCT):
        return bool(kids) and bool(z3.is_bool(kids[0]))
    return kind in _CONNECTIVES and all(bool(z3.is_bool(c)) for c in kids)


def hidden_domains(enc: ExtentEncoding, run: Unrolling, reads: frozenset[int]) -> list[int]:
    """The domains the abstraction can hide for a property whose formula (with the cut) reads
    the variables `reads` at state 0: ordinary heap domains that never map 1:1, with a slot cut
    in the relation, none of whose extent variables the property reads."""
    out: list[int] = []
    for d in enc.heap_doms:
        if enc.doms[d].may_direct or not any(br.slots_of == d for br in run.branches):
            continue
        own = {v.get_id() for x in range(enc.nx[d]) for v in enc.ext(d, x, 0)}
        if not own & reads:
            out.append(d)
    return out


class Abstraction:
    """The atoms over the hidden variables replaced by fresh Booleans, one per atom."""

    def __init__(self, hidden: set[int]) -> None:
        self.hidden = hidden
        self.memo = slicing.Memo()
        self.fresh: dict[int, tuple[z3.ExprRef, z3.BoolRef]] = {}  # atom id -> (atom, bool)

    def _reads(self, t: z3.ExprRef) -> bool:
        return not self.hidden.isdisjoint(slicing.variables(t, self.memo))

    def __call__(self, f: z3.BoolRef) -> z3.BoolRef:
        pairs: dict[int, tuple[z3.ExprRef, z3.BoolRef]] = {}
        seen: set[int] = set()
        stack: list[z3.ExprRef] = [f]
        while stack:
            t = stack.pop()
            if t.get_id() in seen:
                continue
            seen.add(t.get_id())
            if not self._reads(t):
                continue
            if _connective(t):
                stack.extend(t.children())
            else:
                got = self.fresh.get(t.get_id())
                if got is None:
                    got = self.fresh[t.get_id()] = (t, z3.FreshBool("free_atom"))
                pairs[t.get_id()] = got
        return z3.substitute(f, *pairs.values()) if pairs else f


def hidden_variables(enc: ExtentEncoding, run: Unrolling, doms: list[int], steps: int
                     ) -> set[int]:
    """Ids of the hidden domains' extent variables at states 0..steps and of the choices
    their branches write into them at steps 0..steps-1."""
    memo = slicing.Memo()
    written: set[int] = set()
    for br in run.branches:
        for key, val in br.writes.items():
            if key[0] in ("os", "ol") and key[1] in doms:
                written |= slicing.variables(val, memo)
    t = enc.table
    choices = [c for c in (t.get(key, 0, srt) for key, srt in run.locals)
               if c.get_id() in written]
    out: set[int] = set()
    for d in doms:
        for x in range(enc.nx[d]):
            for i in range(steps + 1):
                out.update(v.get_id() for v in enc.ext(d, x, i))
    for i in range(steps):
        out.update(run.at_step(c, i).get_id() for c in choices)
    return out


def prove(enc: ExtentEncoding, run: Unrolling, exact0: z3.BoolRef, doms: list[int],
          longest: int, budget: Budget, stats: dict[str, Any]) -> bool:
    """Whether BMC over the abstraction that hides `doms`, over every run of the loop-free
    scenario (at most `longest` steps, NOTE(scenario-bound)), shows `exact0` (the property and
    no cut) at every state. False: satisfiable somewhere (no counterexample, NOTE above), or
    not decided within the budget."""
    loc = Abstraction(hidden_variables(enc, run, doms, longest))
    s = make_solver(budget)
    s.add(loc(enc.init(0)))
    for k in range(longest + 1):
        if k > 0:
            s.add(loc(run.transition(k - 1)))
            s.add(*[z3.Not(run.ind(k - 1, b)) for b, br in enumerate(run.branches)
                    if br.slots_of in doms])
        p_k = loc(run.at(exact0, k))
        with goal(s, z3.Not(p_k), f"goal.localized.{k}") as act:
            a = check(s, budget, act)
        stats["localized_depth"] = k
        if a.outcome is not Outcome.UNSAT:
            stats["localized_stop"] = "satisfiable" if a.outcome is Outcome.SAT else a.reason
            return False
        s.add(p_k)
    stats["free_atoms"] = len(loc.fresh)
    return True


__all__ = ["Abstraction", "hidden_domains", "hidden_variables", "prove"]
