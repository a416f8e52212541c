"""Unrolling the transition relation: T(s_i, s_i+1) for every step, from one template.

`Unrolling(enc)` asks the encoding (page or extent level) for the branches of step 0 once
and builds T(s_0, s_1): one indicator per branch, exactly one true, each implying its guard,
and every next-state variable an `If` chain over the branches that write it
(NOTE(frame-rule) in encode.py). Step i is the same term with its variables renamed by one
native substitution; properties, lemmas and simple-path constraints are renamed the same way.
It also reads a model back as a list of `encode.Step`s (operation, outcome, choices).
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
        self.locals = [(k, srt) for k, srt in enc.table.keys_at(0)
                       if k not in enc._sortof]
        self._trans: list[z3.BoolRef] = [self.template]
        self._maps: dict[int, list[tuple[z3.ExprRef, z3.ExprRef]]] = {}
        self._state_subs: dict[int, Subst] = {}
        self._distinct0: z3.BoolRef | None = None
        self._step_subs: dict[int, Subst] = {}

    def _build(self, brs: list[Branch], inds: list[z3.BoolRef]) -> z3.BoolRef:
        enc = self.enc
        parts: list[z3.BoolRef] = [exactly_one(inds)]
        writers: dict[Any, list[tuple[z3.BoolRef, z3.ExprRef]]] = {}
        for ind, br in zip(inds, brs):
            parts.append(implies(ind, br.guard))
            for key, val in br.writes.items():
                writers.setdefault(key, []).append((ind, val))
        for key, _sort in self.state:
            val = enc.var(key, 0)
            for ind, new in reversed(writers.pop(key, [])):
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
