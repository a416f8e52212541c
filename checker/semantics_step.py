"""The step function: memoised effects per operation (NOTE(memo)), successors and apply."""

from __future__ import annotations

from collections.abc import Iterator
from operator import itemgetter
from typing import Any

from checker import extents as ex
from checker import placement as pl
from checker.model import (
    DirectMap,
    Op,
    OpKind,
)
from checker.semantics_fastpath import AllocFastPath
from checker.semantics_types import (
    COUNT,
    D_OWNED,
    DMA_BAD,
    DOM0,
    FAILED,
    FREE,
    MEMO_LIMIT,
    NEXT_ID,
    PC,
    SD0,
    Action,
    Effect,
    NotEnabled,
    State,
    View,
)


class Stepping(AllocFastPath):
    """Successors of a state and the replay of one action."""

    def _reads(self, op: Op) -> tuple[int, ...]:
        """The view slots an operation's outcome depends on (all it may change among them)."""
        doms = tuple(range(DOM0, DOM0 + self.ndom))
        k = op.kind
        d = DOM0 + op.domain
        # candidates also look at the 1:1 domains (hints: their holes, their fixed rambase)
        hints = tuple(
            DOM0 + i for i, info in enumerate(self.doms)
            if info.direct_decl is not DirectMap.NONE and not info.static and DOM0 + i != d
        ) if self.placement == pl.CANDIDATES else ()
        if k is OpKind.CREATE:
            return (NEXT_ID, FAILED, FREE, d) + hints
        # Releasing frames changes the (derived) free heap but does not depend on it.
        if k is OpKind.DESTROY:
            return doms if self.has_grants else (d,)
        if k is OpKind.BALLOON_OUT:
            return doms if self.has_grants else (d,)  # NOTE(granted-pages)
        if k is OpKind.BALLOON_IN:
            return (FAILED, FREE, d) + hints
        if k is OpKind.GRANT:
            return doms  # the backend may balloon out first (NOTE(granted-pages))
        if k is OpKind.UNMAP:
            return (d,)
        return (DMA_BAD, d)

    def _init_memo(self) -> None:
        self._ids = {None: 0}
        self._vals = [None]
        self._memo = {}
        self._free_memo = {}
        self._heap_id = self._intern(self.heap)
        self._tgt = {}
        self._reads_of = tuple(self._reads(op) for op in self.ops)
        self._needs_free = tuple(FREE in r for r in self._reads_of)
        # the state slots behind the view slots read (FREE is not stored: see _free_id)
        self._getters = tuple(
            itemgetter(*[(i - 1 if i >= DOM0 else i) for i in r if i != FREE])
            for r in self._reads_of
        )
        self._fmemo = {}
        self._dead_only = tuple(
            SD0 + op.domain if op.kind is OpKind.CREATE else 0 for op in self.ops
        )
        self._alive_only = tuple(
            0 if op.kind is OpKind.CREATE else SD0 + op.domain for op in self.ops
        )
        self.self_check = False  # tests: check each computed effect against the derived heap
        # NOTE(alloc-fast-path): a balloon_in that takes any free frames (a domain that is not
        # 1:1, or release_any) has choices that depend on the free heap only and a result that
        # depends on the domain and the frames taken only; memoising the two halves apart
        # keeps the tables small where one table keyed by both would miss nearly every time.
        self._fast_bin = tuple(
            op.kind is OpKind.BALLOON_IN and not self.doms[op.domain].static
            and self.placement != pl.CANDIDATES
            for op in self.ops
        )
        self._fast_create = tuple(
            op.kind is OpKind.CREATE and not self.doms[op.domain].static
            and self.doms[op.domain].direct_decl in (DirectMap.NONE, DirectMap.HOOK)
            and self.placement != pl.CANDIDATES
            for op in self.ops
        )
        self._born = {}
        self._tpl = {}
        self._fits_memo = {}
        self._opts = {}
        self._grow = {}

    def _effects(self, state: State, oi: int) -> list[Effect]:
        """Every outcome of op `oi` in `state` as (action, changed state slots)."""
        view = self.view(state)
        op = self.ops[oi]
        reads = self._reads_of[oi]
        out: list[Effect] = []
        for choices, nv in self._dispatch[op.kind](self, view, list(view), op, None):
            patch: list[tuple[int, int]] = []
            if nv[NEXT_ID] != view[NEXT_ID]:
                patch.append((NEXT_ID, nv[NEXT_ID]))
            for i in (FAILED, DMA_BAD, *range(DOM0, len(nv))):
                if nv[i] is view[i]:
                    continue
                if i not in reads:
                    raise AssertionError(f"{self._labels[oi]} changed a slot it does not read")
                v = self._intern(nv[i])
                if v != state[i - 1 if i >= DOM0 else i]:
                    patch.append((i - 1 if i >= DOM0 else i, v))
            if self.self_check:
                self._check_free(nv)
            out.append((Action(oi, op, choices), tuple(patch)))
        return out

    def _check_free(self, nv: View) -> None:
        free = self.heap
        for dom in nv[DOM0:]:
            if dom is not None:
                free = ex.difference(free, dom[D_OWNED])
        if free != nv[FREE]:
            raise AssertionError(f"free heap {nv[FREE]} is not heap minus owned {free}")

    def successors(self, state: State) -> Iterator[tuple[Action, State]]:
        """Every enabled action and its successor, in a deterministic order."""
        memo = self._memo
        getters = self._getters
        needs_free = self._needs_free
        dead_only = self._dead_only
        alive_only = self._alive_only
        pc, count = state[PC], state[COUNT]
        fast_bin = self._fast_bin
        fast_create = self._fast_create
        tpls = self._tpl
        fits_memo = self._fits_memo
        free = -1
        for oi in self._avail[pc]:
            # cheap enabling tests first: no memo entry for "not alive" / "already alive"
            slot = dead_only[oi]
            if slot and state[slot]:
                continue
            slot = alive_only[oi]
            if slot and not state[slot]:
                continue
            if fast_bin[oi]:
                d_slot = alive_only[oi]
                dom_id = state[d_slot]
                try:
                    tpl = tpls[(oi, dom_id)]
                except KeyError:
                    tpl = self._template(oi, dom_id)
                if tpl is not None:
                    same, ipas = tpl
                    if not ipas:
                        continue  # no ballooned-out IPA run
                    if free < 0:
                        free = self._free_id(state)
                    n = self.ops[oi].pages
                    opts = [] if same else self._options(free, n)
                    if same or opts:
                        where = self._tgt.get((pc, count, oi))
                        if where is None:
                            where = self._tgt[(pc, count, oi)] = self._target(pc, count, oi)
                        npc, ncount = where
                        moved = npc != pc or ncount != count
                        grow = self._grow
                        for ipa in ipas:
                            if same:
                                fits = fits_memo.get((free, ipa, n))
                                if fits is None:
                                    fits = self._fits(free, ipa, n)
                                if not fits:
                                    continue  # an unobserved failure: not enabled
                                got = grow.get((oi, dom_id, ipa, -1))
                                if got is None:
                                    got = self._grown(oi, dom_id, ipa, -1, ((ipa, n),), True)
                                if moved:
                                    new = list(state)
                                    new[d_slot] = got[1]
                                    new[PC] = npc
                                    new[COUNT] = ncount
                                    yield got[0], tuple(new)
                                else:
                                    yield got[0], state[:d_slot] + (got[1],) + state[d_slot + 1:]
                                continue
                            for fs_id, fs in opts:
                                got = grow.get((oi, dom_id, ipa, fs_id))
                                if got is None:
                                    got = self._grown(oi, dom_id, ipa, fs_id, fs, same)
                                if moved:
                                    new = list(state)
                                    new[d_slot] = got[1]
                                    new[PC] = npc
                                    new[COUNT] = ncount
                                    yield got[0], tuple(new)
                                else:
                                    yield got[0], state[:d_slot] + (got[1],) + state[d_slot + 1:]
                        continue
                    # no free frames: the failure goes through the general path
            elif fast_create[oi]:
                nid = state[NEXT_ID]
                made = self._create_template(oi, nid, state[FAILED])
                if made is None:
                    continue  # its failure is already recorded
                if made:
                    if free < 0:
                        free = self._free_id(state)
                    opts = self._options(free, self.doms[self.ops[oi].domain].pages)
                    if opts:
                        where = self._tgt.get((pc, count, oi))
                        if where is None:
                            where = self._tgt[(pc, count, oi)] = self._target(pc, count, oi)
                        npc, ncount = where
                        moved = npc != pc or ncount != count
                        d_slot = dead_only[oi]
                        born = self._born
                        next_id = min(nid + 1, self.id_cap) if self.track_ids else 0
                        for fs_id, fs in opts:
                            got = born.get((oi, nid, fs_id))
                            if got is None:
                                got = self._newborn(oi, nid, fs_id, fs)
                            new = list(state)
                            new[d_slot] = got[1]
                            new[NEXT_ID] = next_id
                            new[PC] = npc
                            new[COUNT] = ncount
                            yield got[0], tuple(new)
                        continue
            if needs_free[oi]:
                if free < 0:
                    free = self._free_id(state)
                key: tuple[Any, ...] = (oi, free, getters[oi](state))
            else:
                key = (oi, getters[oi](state))
            eff = memo.get(key)
            if eff is None:
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                eff = memo[key] = self._effects(state, oi)
            if not eff:
                continue
            where = self._tgt.get((pc, count, oi))
            if where is None:
                where = self._tgt[(pc, count, oi)] = self._target(pc, count, oi)
            npc, ncount = where
            moved = npc != pc or ncount != count
            for action, patch in eff:
                new = list(state)
                for slot, value in patch:
                    new[slot] = value
                if moved:
                    new[PC] = npc
                    new[COUNT] = ncount
                yield action, tuple(new)

    def apply(self, state: State, action: Action) -> State:
        """Re-execute a recorded action; NotEnabled if it or one of its choices is not allowed."""
        oi = action.op_index
        if not 0 <= oi < len(self.ops):
            raise NotEnabled(f"no scenario operation #{oi}")
        if oi not in self._avail[state[PC]]:
            raise NotEnabled(f"'{self._labels[oi]}' is not next in the scenario")
        rec = dict(action.choices)
        if len(rec) != len(action.choices):
            raise NotEnabled("a choice is given twice")
        view = self.view(state)
        base = list(view)
        base[PC], base[COUNT] = self._target(state[PC], state[COUNT], oi)
        op = self.ops[oi]
        results = list(self._dispatch[op.kind](self, view, base, op, rec))
        if not results:
            raise NotEnabled(f"'{self._labels[oi]}' is not enabled")
        for choices, nxt in results:
            if choices == tuple(action.choices):
                return self.encode(nxt)
        got = ", ".join(n for n, _ in results[0][0]) or "none"
        raise NotEnabled(f"'{self._labels[oi]}': the choices given do not match (expected: {got})")
