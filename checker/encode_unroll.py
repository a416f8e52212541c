"""Unrolling the transition relation: T(s_i, s_i+1) for every step, from one template.

`Unrolling(enc)` asks the encoding (page or extent level) for the branches of step 0 once
and builds T(s_0, s_1): one indicator per branch, exactly one true, each implying its guard,
and every next-state variable an `If` chain over the branches that write it
(NOTE(frame-rule) in encode.py). Step i is the same term with its variables renamed by one
native substitution; properties, lemmas and simple-path constraints are renamed the same way.
It also reads a model back as a list of `encode.Step`s (operation, outcome, choices).

NOTE(forward-propagation): BMC starts from one concrete initial state, and at real sizes most
of T is circuitry (an allocator policy's buddy search, NOTE(extent-buddies)) over state
variables whose values are then known: the whole state after a deterministic step (a create
under `top-down`), the scenario position after any step. `forward(i)` is T(s_i, s_i+1) for
the BMC solver with every state-i variable whose value is known replaced by that value and
simplified; top-level conjuncts that fix a variable (`x`, `not x`, `x == value`) are
substituted in turn until none is left. Branches whose guard becomes false drop out with their
circuits (so only the operations the scenario can reach at step i remain), and a next-state
variable that comes out as a value is known at state i + 1. Every value substituted is also
asserted (`x == value`), so the conjunction is equivalent to T(s_i, s_i+1) given what the
earlier steps fixed, and a model still assigns every variable that reading a trace back or
minimising it reads. The step case of k-induction starts from an arbitrary state and keeps
using `transition(i)`.
"""

from __future__ import annotations

from typing import Any

import z3

from checker import model as m
from checker.encode import Branch, Step, all_of, eq, exactly_one, implies, ite, model_bool
from checker.encode_extent import ExtentEncoding
from checker.encode_page import PageEncoding

Encoding = PageEncoding | ExtentEncoding


def holds(enc: Encoding, prop: m.Property, i: int) -> z3.BoolRef:
    """The property at state i, in the encoding's own terms."""
    if isinstance(enc, ExtentEncoding):
        from checker import encode_extent_props

        return encode_extent_props.holds(enc, prop, i)
    from checker import encode_props

    return encode_props.holds(enc, prop, i)


class Subst:
    """A simultaneous renaming of constants, applied with one native call per term (the
    Python `z3.substitute` re-checks every pair's sorts on each call, which dominates)."""

    def __init__(self, pairs: list[tuple[z3.ExprRef, z3.ExprRef]]) -> None:
        from z3 import z3core

        self._core = z3core
        self.n = len(pairs)
        self.keep = pairs  # the arrays hold raw pointers: keep the terms alive
        self.src = (z3.Ast * self.n)(*[a.as_ast() for a, _ in pairs])
        self.dst = (z3.Ast * self.n)(*[b.as_ast() for _, b in pairs])

    def __call__(self, e: z3.ExprRef) -> z3.ExprRef:
        if self.n == 0:
            return e
        ctx = e.ctx
        raw = self._core.Z3_substitute(ctx.ref(), e.as_ast(), self.n, self.src, self.dst)
        return z3.z3._to_expr_ref(raw, ctx)


def _unit(c: z3.ExprRef) -> tuple[z3.ExprRef, z3.ExprRef] | None:
    """(variable, value) if the conjunct c fixes a variable: x, not x, x == value."""
    def var(x: z3.ExprRef) -> bool:
        return bool(z3.is_const(x) and x.decl().kind() == z3.Z3_OP_UNINTERPRETED)

    def val(x: z3.ExprRef) -> bool:
        return bool(z3.is_bv_value(x) or z3.is_true(x) or z3.is_false(x))
    if var(c):
        return c, z3.BoolVal(True, c.ctx)
    if z3.is_not(c) and var(c.arg(0)):
        return c.arg(0), z3.BoolVal(False, c.ctx)
    if z3.is_eq(c):
        a, b = c.arg(0), c.arg(1)
        if var(a) and val(b):
            return a, b
        if var(b) and val(a):
            return b, a
    return None


def propagate(f: z3.BoolRef) -> tuple[dict[int, tuple[z3.ExprRef, z3.ExprRef]], z3.BoolRef]:
    """Substitute the variables f's top-level conjuncts fix, simplify, repeat until none is
    left (NOTE(forward-propagation)). Returns the fixed variables (by term id) and the rest:
    f is equivalent to their equalities and the rest."""
    fixed: dict[int, tuple[z3.ExprRef, z3.ExprRef]] = {}
    while True:
        parts = f.children() if z3.is_and(f) else [f]
        new: dict[int, tuple[z3.ExprRef, z3.ExprRef]] = {}
        for c in parts:
            u = _unit(c)
            if u is not None and u[0].get_id() not in fixed:
                new.setdefault(u[0].get_id(), u)
        if not new:
            return fixed, f
        fixed.update(new)
        f = z3.simplify(Subst(list(new.values()))(f))


def _same_branch(a: Branch, b: Branch) -> bool:
    """The two branches are the same terms (z3 terms are hash-consed)."""
    return bool(a.guard.eq(b.guard) and a.writes.keys() == b.writes.keys()
                and all(v.eq(b.writes[k]) for k, v in a.writes.items()))


class Unrolling:
    """T(i, i+1) for i = 0, 1, ...: one indicator per (step, branch) and the frame rule.

    The relation is built once in Python as a template T(s_0, s_1) with the choices and
    indicators of step 0; step i is the template with every step variable renamed by
    `z3.substitute` (s_0 -> s_i, s_1 -> s_(i+1), step-0 choices -> step-i choices).
    """

    def __init__(self, enc: Encoding) -> None:
        self.enc = enc
        self.state = enc._keys
        self.branches = enc.branches(0)
        self.inds0 = [enc.table.get(("fire", b), 0, z3.BoolSort())
                      for b in range(len(self.branches))]
        self.template = self._build(self.branches, self.inds0)
        # NOTE(relaxed-policy): the same branches with the allocator policy relaxed; `relaxed`
        # holds the indices of the branches that differ (none: no relaxed template)
        self.relaxed: set[int] = set()
        self.relaxed_template: z3.BoolRef | None = None
        self._loose: list[Branch] = []
        if isinstance(enc, ExtentEncoding) and enc.policy is not None:
            enc.relax = True
            try:
                loose = enc.branches(0)
            finally:
                enc.relax = False
            if [(b.label, b.outcome) for b in loose] == \
                    [(b.label, b.outcome) for b in self.branches]:
                self.relaxed = {j for j, (a, b) in enumerate(zip(self.branches, loose))
                                if not _same_branch(a, b)}
                if self.relaxed:
                    self.relaxed_template = self._build(loose, self.inds0)
                    self._loose = loose
        # NOTE(bmc-split): T restricted to one branch, per (step, branch, relaxed)
        self._branch_trans: dict[tuple[int, int, bool], z3.BoolRef] = {}
        # forward_branch's answers by (step, branch, relaxed, values), each with the values'
        # terms (kept alive, so that their ids in the key are not reused)
        self._forward_branch: dict[Any, tuple[tuple[z3.BoolRef, dict[int, Any]], Any]] = {}
        self.locals = [(k, srt) for k, srt in enc.table.keys_at(0)
                       if k not in enc._sortof]
        self._trans: list[z3.BoolRef] = [self.template]
        self._maps: dict[int, list[tuple[z3.ExprRef, z3.ExprRef]]] = {}
        self._state_subs: dict[int, Subst] = {}
        self._distinct0: z3.BoolRef | None = None
        self._step_subs: dict[int, Subst] = {}
        # NOTE(forward-propagation): the values known at each state of the BMC unrolling
        self._known: list[dict[int, tuple[z3.ExprRef, z3.ExprRef]]] = [
            {v.get_id(): (v, x) for v, x in enc.initial_values(0)}]
        self._forward: list[z3.BoolRef] = []

    def _build(self, brs: list[Branch], inds: list[z3.BoolRef]) -> z3.BoolRef:
        enc = self.enc
        parts: list[z3.BoolRef] = [exactly_one(inds)]
        writers: dict[Any, list[tuple[z3.BoolRef, z3.ExprRef]]] = {}
        for ind, br in zip(inds, brs):
            parts.append(implies(ind, br.guard))
            for key, val in br.writes.items():
                writers.setdefault(key, []).append((ind, val))
        for key, _sort in self.state:
            ws = writers.pop(key, [])
            val = enc.var(key, 0)
            if len(ws) == len(brs) and ws:
                # written by every branch, exactly one of which fires: the last one's value
                # needs no condition (and the current value is never kept)
                val = ws.pop()[1]
            for ind, new in reversed(ws):
                val = ite(ind, new, val)
            parts.append(eq(enc.var(key, 1), val))
        if writers:
            raise AssertionError(f"branches write unknown state variables: {sorted(writers)}")
        return all_of(parts)

    def step_map(self, i: int) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
        """Renaming of the template's variables for step i -> i+1."""
        got = self._maps.get(i)
        if got is None:
            t = self.enc.table
            got = [(t.get(k, 0, srt), t.get(k, i, srt)) for k, srt in self.locals]
            got += [(t.get(k, 0, srt), t.get(k, i, srt)) for k, srt in self.state]
            got += [(t.get(k, 1, srt), t.get(k, i + 1, srt)) for k, srt in self.state]
            self._maps[i] = got
        return got

    def at(self, e0: z3.ExprRef, i: int) -> z3.ExprRef:
        """A formula over state 0 moved to state i."""
        if i == 0:
            return e0
        sub = self._state_subs.get(i)
        if sub is None:
            t = self.enc.table
            sub = self._state_subs[i] = Subst(
                [(t.get(k, 0, srt), t.get(k, i, srt)) for k, srt in self.state])
        return sub(e0)

    def transition(self, i: int) -> z3.BoolRef:
        while len(self._trans) <= i:
            j = len(self._trans)
            self._trans.append(self.at_step(self.template, j))
        return self._trans[i]

    def known(self, i: int) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
        """(variable, value) for the state-i variables the BMC unrolling has fixed
        (NOTE(forward-propagation)); state i must have been reached by `forward`."""
        return [(v, x) for v, x in self._known[i].values()]

    def forward(self, i: int) -> z3.BoolRef:
        """T(s_i, s_i+1) for BMC from the initial state, what is known propagated
        (NOTE(forward-propagation)). Steps are built in order; each once."""
        while len(self._forward) <= i:
            j = len(self._forward)
            known = self._known[j]
            f = z3.simplify(Subst([p for p in known.values()])(self.transition(j)))
            fixed, f = propagate(f)
            nxt = {self.enc.table.get(k, j + 1, srt).get_id() for k, srt in self.state}
            self._known.append({x: p for x, p in fixed.items() if x in nxt})
            self._forward.append(all_of([eq(v, x) for v, x in fixed.values()] + [f]))
        return self._forward[i]

    def branch(self, b: int, relaxed: bool = False) -> Branch:
        """Branch b of the relation, or of the relaxed one (NOTE(relaxed-policy))."""
        return self._loose[b] if relaxed and b in self.relaxed else self.branches[b]

    def branch_transition(self, i: int, b: int, relaxed: bool = False) -> z3.BoolRef:
        """T(s_i, s_i+1) given that branch b fires at step i: its guard and its writes (the
        other variables unchanged), built from that branch alone rather than by simplifying
        T with the indicators fixed, which walks every branch's terms."""
        got = self._branch_trans.get((i, b, relaxed))
        if got is None:
            br = (self._loose if relaxed else self.branches)[b]
            enc = self.enc
            parts = [br.guard] + [eq(enc.var(key, 1), br.writes.get(key, enc.var(key, 0)))
                                  for key, _sort in self.state]
            got = self._branch_trans[(i, b, relaxed)] = self.at_step(all_of(parts), i)
        return got

    def forward_branch(self, known: dict[int, tuple[z3.ExprRef, z3.ExprRef]], i: int,
                       b: int, relaxed: bool = False
                       ) -> tuple[z3.BoolRef, dict[int, tuple[z3.ExprRef, z3.ExprRef]]]:
        """T(s_i, s_i+1) restricted to branch b firing at step i, given the state-i values
        `known` (NOTE(bmc-split)): the formula (with every value it fixes asserted) and the
        values known at state i + 1. The formula is false when the branch cannot fire.
        `relaxed`: the relaxed relation (NOTE(relaxed-policy)). Memoised on the values: the
        split BMC reaches the same known values along different sequences."""
        key = (i, b, relaxed, frozenset((v, x.get_id()) for v, (_var, x) in known.items()))
        got = self._forward_branch.get(key)
        if got is None:
            got = self._forward_branch[key] = (self._forward_branch_of(known, i, b, relaxed),
                                               list(known.values()))
        f, after = got[0]
        return f, dict(after)

    def _forward_branch_of(self, known: dict[int, tuple[z3.ExprRef, z3.ExprRef]], i: int,
                           b: int, relaxed: bool
                           ) -> tuple[z3.BoolRef, dict[int, tuple[z3.ExprRef, z3.ExprRef]]]:
        pairs = list(known.values())
        pairs += [(self.ind(i, c), z3.BoolVal(c == b)) for c in range(len(self.branches))]
        f = z3.simplify(Subst(pairs)(self.branch_transition(i, b, relaxed)))
        fixed, f = propagate(f)
        nxt = {self.enc.table.get(k, i + 1, srt).get_id() for k, srt in self.state}
        after = {x: p for x, p in fixed.items() if x in nxt}
        eqs = [eq(v, x) for v, x in pairs[len(known):]] + [eq(v, x) for v, x in fixed.values()]
        return all_of(eqs + [f]), after

    def split_at(self, known: dict[int, tuple[z3.ExprRef, z3.ExprRef]], e0: z3.ExprRef,
                 i: int) -> z3.ExprRef:
        """A formula over state 0 moved to state i, the values `known` there substituted."""
        e = self.at(e0, i)
        return z3.simplify(Subst(list(known.values()))(e)) if known else e

    def forward_at(self, e0: z3.ExprRef, i: int) -> z3.ExprRef:
        """A formula over state 0 moved to state i of the BMC unrolling, the values known there
        substituted (NOTE(forward-propagation))."""
        e = self.at(e0, i)
        known = self._known[i]
        return z3.simplify(Subst(list(known.values()))(e)) if known else e

    def ind(self, i: int, b: int) -> z3.BoolRef:
        return self.enc.table.get(("fire", b), i, z3.BoolSort())

    def moved(self, n: int) -> z3.ArithRef:
        terms: list[z3.ArithRef] = []
        for i in range(n):
            for b, br in enumerate(self.branches):
                if not (isinstance(br.moved, int) and br.moved == 0):
                    terms.append(z3.If(self.ind(i, b), z3.IntVal(0) + br.moved, z3.IntVal(0)))
        return z3.Sum(terms) if terms else z3.IntVal(0)

    def distinct(self, i: int, j: int) -> z3.BoolRef:
        """States i and j differ (built once over states 0 and 1, then renamed)."""
        if self._distinct0 is None:
            enc = self.enc
            self._distinct0 = z3.Not(all_of([eq(enc.var(k, 0), enc.var(k, 1))
                                             for k, _s in self.state]))
        t = self.enc.table
        sub = Subst([(t.get(k, 0, srt), t.get(k, i, srt)) for k, srt in self.state]
                     + [(t.get(k, 1, srt), t.get(k, j, srt)) for k, srt in self.state])
        return sub(self._distinct0)

    def fired(self, mdl: z3.ModelRef, i: int) -> int:
        for b in range(len(self.branches)):
            if model_bool(mdl, self.ind(i, b)):
                return b
        raise AssertionError(f"no branch fired at step {i}")

    def objectives(self, i: int, b: int) -> list[tuple[str, list[z3.BoolRef]]]:
        """The address objectives of branch b (over step-0 variables; see `at_step`)."""
        return list(self.branches[b].addresses)

    def at_step(self, x0: z3.ExprRef, i: int) -> z3.ExprRef:
        """A term over the template's variables (states 0, 1, step-0 choices) at step i."""
        if i == 0:
            return x0
        sub = self._step_subs.get(i)
        if sub is None:
            sub = self._step_subs[i] = Subst(self.step_map(i))
        return sub(x0)

    def read(self, mdl: z3.ModelRef, n: int) -> list[Step]:
        out: list[Step] = []
        for i in range(n):
            br = self.branches[self.fired(mdl, i)]

            def ev(x: z3.ExprRef, i: int = i) -> z3.ExprRef:
                return mdl.eval(self.at_step(x, i), model_completion=True)

            out.append(Step(br.op_index, br.label, br.outcome,
                            tuple((name, rd(ev)) for name, rd in br.choices)))
        return out
