"""Symmetry reduction: declared groups checked for invariance, canonical states, orbit sizes."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

from checker.model import (
    Op,
    OpKind,
    Step,
)
from checker.semantics_state import StateBase
from checker.semantics_types import (
    D_GRANTS,
    DMA_BAD,
    DOM0,
    FAILED,
    SD0,
    State,
    View,
)


class Symmetry(StateBase):
    """Canonical representatives of states under the checked symmetry groups."""

    def _symmetric_groups(self) -> tuple[tuple[int, ...], ...]:
        """The declared symmetry groups under which the model is invariant (checked here)."""
        groups: dict[int, list[int]] = {}
        for d in self.model.domains:
            if d.symmetry_group is not None:
                groups.setdefault(d.symmetry_group, []).append(d.index)
        out: list[tuple[int, ...]] = []
        for members in groups.values():
            if len(members) >= 2 and self._invariant_under(members):
                out.append(tuple(members))
        return tuple(out)

    def _invariant_under(self, members: list[int]) -> bool:
        doms = self.model.domains
        first = doms[members[0]]

        def decl(d: int) -> tuple[Any, ...]:
            x = doms[d]
            return (x.memory, x.pages, x.direct_map, x.hook_id, x.rambase_mode, x.rambase,
                    x.swiotlb, x.backends, x.frontends, x.passthrough)

        if first.static_mem or any(decl(m) != decl(members[0]) for m in members):
            return False
        names = {doms[m].name for m in members}
        for p in self.model.properties:
            inside = [m in p.domains for m in members]
            if any(inside) and not all(inside):
                return False
            if p.expr is not None and _mentions(p.expr, names):
                return False
        if len(members) > 7 and any(op.kind is OpKind.GRANT for op in self.ops):
            return False  # canonical forms with grants between members are computed by brute force
        for other in members[1:]:
            swap = {members[0]: other, other: members[0]}

            def sig(op: Op, swap: dict[int, int] = swap) -> tuple[Any, ...]:
                peer = None if op.peer is None else swap.get(op.peer, op.peer)
                return (op.kind, swap.get(op.domain, op.domain), op.pages, peer, op.buffer)

            def plain(op: Op) -> tuple[Any, ...]:
                return (op.kind, op.domain, op.pages, op.peer, op.buffer)

            for st in self.stmts:
                alts = (st.op,) if isinstance(st, Step) else st.alternatives
                if {sig(o) for o in alts} != {plain(o) for o in alts}:
                    return False
                if isinstance(st, Step) and sig(st.op) != plain(st.op):
                    return False
            swap_names = {doms[members[0]].name: doms[other].name,
                          doms[other].name: doms[members[0]].name}
            for d in doms:
                fronts = {(f.kind, f.backend) for f in d.frontends}
                if {(k, swap_names.get(b, b)) for k, b in fronts} != fronts:
                    return False
        return True

    def _group_permutations(self) -> list[tuple[int, ...]]:
        """Every permutation of domain slots in the product of the reduced groups (small only)."""
        if not self.symmetric_groups:
            return []
        size = math.prod(math.factorial(len(g)) for g in self.symmetric_groups)
        if size > 5040:
            return []
        perms: list[tuple[int, ...]] = []
        for combo in itertools.product(*(itertools.permutations(g) for g in self.symmetric_groups)):
            p = list(range(self.ndom))
            for g, image in zip(self.symmetric_groups, combo):
                for src, dst in zip(g, image):
                    p[src] = dst
            perms.append(tuple(p))
        return perms

    def _permute(self, st: View, p: Sequence[int]) -> View:
        new = list(st)
        if st[FAILED]:
            new[FAILED] = tuple(sorted((op, p[d]) for op, d in st[FAILED]))
        if st[DMA_BAD] is not None:
            bad = st[DMA_BAD]
            new[DMA_BAD] = (p[bad[0]],) + tuple(bad[1:])
        for d in range(self.ndom):
            dom = st[DOM0 + d]
            if dom is not None and dom[D_GRANTS]:
                dom = dom[:D_GRANTS] + (tuple(sorted((i, m, p[f]) for i, m, f in dom[D_GRANTS])),)
            new[DOM0 + p[d]] = dom
        return tuple(new)

    def _entangled(self, st: View) -> bool:
        """Whether some grant names a member of a reduced group as its frontend."""
        for d in range(self.ndom):
            dom = st[DOM0 + d]
            if dom is not None and dom[D_GRANTS]:
                for g in dom[D_GRANTS]:
                    if g[2] in self._members:
                        return True
        return False

    def _member_key(self, state: State, d: int) -> tuple[Any, ...]:
        """What travels with domain d under a permutation: its component, flags, DMA record."""
        failed = self._vals[state[FAILED]]
        bad = self._vals[state[DMA_BAD]]
        flags = tuple(op for op, e in failed if e == d) if failed else ()
        mine = bad[1:] if bad is not None and bad[0] == d else ()
        return (state[SD0 + d], flags, mine)

    def _simple(self, state: State) -> bool:
        """No flag, DMA record or grant ties a group member to anything: sorting suffices."""
        key = (state[FAILED], state[DMA_BAD])
        loose = self._loose.get(key)
        if loose is None:
            failed, bad = self._vals[state[FAILED]], self._vals[state[DMA_BAD]]
            loose = self._loose[key] = not any(d in self._members for _, d in failed) and (
                bad is None or bad[0] not in self._members)
        return loose and (not self.has_grants or not self._entangled(self.view(state)))

    def canonical(self, state: State) -> State:
        """The representative of the state's orbit under the reduced symmetry groups.

        NOTE(canonical-order): members are ordered by the hash-consing ids of their components
        (plus the flags that travel with them); any fixed total order gives one representative
        per orbit, and this one costs a sort of a few ints.
        """
        if not self.symmetric_groups:
            return state
        if self._simple(state):
            new: list[int] | None = None
            for grp in self.symmetric_groups:
                ids = [state[SD0 + d] for d in grp]
                ranked = sorted(ids)
                if ranked != ids:
                    if new is None:
                        new = list(state)
                    for slot, i in zip(grp, ranked):
                        new[SD0 + slot] = i
            return state if new is None else tuple(new)
        view = self.view(state)
        if self.has_grants and self._entangled(view):
            return min(self.encode(self._permute(view, p)) for p in self._perms)
        p = list(range(self.ndom))
        for grp in self.symmetric_groups:
            ranked = sorted(grp, key=lambda d: self._member_key(state, d))
            for slot, d in zip(grp, ranked):
                p[d] = slot
        return self.encode(self._permute(view, p))

    def orbit_size(self, state: State) -> int:
        """How many states (before reduction) the canonical state stands for."""
        if not self.symmetric_groups:
            return 1
        if self.has_grants:
            view = self.view(state)
            if self._entangled(view):
                return len({self.encode(self._permute(view, p)) for p in self._perms})
        simple = self._simple(state)
        total = 1
        for grp in self.symmetric_groups:
            counts: dict[Any, int] = {}
            for d in grp:
                k = state[SD0 + d] if simple else self._member_key(state, d)
                counts[k] = counts.get(k, 0) + 1
            n = math.factorial(len(grp))
            for c in counts.values():
                n //= math.factorial(c)
            total *= n
        return total



def _mentions(expr: Any, names: set[str]) -> bool:
    """Whether an invariant expression names one of the given domains."""
    from checker.model import Attr, BinOp, Interval, Not, Quant, Var

    if isinstance(expr, Var):
        return expr.name in names
    if isinstance(expr, Attr):
        return _mentions(expr.obj, names)
    if isinstance(expr, BinOp):
        return _mentions(expr.left, names) or _mentions(expr.right, names)
    if isinstance(expr, Interval):
        return _mentions(expr.lo, names) or _mentions(expr.hi, names)
    if isinstance(expr, Not):
        return _mentions(expr.operand, names)
    if isinstance(expr, Quant):
        return (expr.of in names) or _mentions(expr.body, names)
    return False
