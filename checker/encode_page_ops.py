"""The operations of docs/semantics.md as branches of the page-level transition relation.

Each function returns the branches of one operation at step i (success, and a recorded failure
when a declared property observes it). Choice variables are shared by all operations of a step
(only one fires): ("choice", "block") the block's PFN, ("choice", "off") a p2m slot, ("choice",
"m", n) the n-th frame balloon-in maps, ("choice", "take", f) frame f is in the chosen set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import z3

from checker import model as m
from checker.encode import Branch, all_of, any_of, model_bool, model_int

if TYPE_CHECKING:
    from checker.encode_page import PageEncoding


def op_branches(e: "PageEncoding", k: int, op: m.Op, label: str, i: int) -> list[Branch]:
    kind = op.kind
    if kind is m.OpKind.CREATE:
        return _create(e, k, op, label, i)
    if kind is m.OpKind.DESTROY:
        return _destroy(e, k, op, label, i)
    if kind is m.OpKind.BALLOON_OUT:
        return _balloon_out(e, k, op, label, i)
    if kind is m.OpKind.BALLOON_IN:
        return _balloon_in(e, k, op, label, i)
    raise NotImplementedError(kind.value)


def _count_free_at_least(e: "PageEncoding", n: int, i: int) -> z3.BoolRef:
    if n <= 0:
        return z3.BoolVal(True)
    if n > e.nheap:
        return z3.BoolVal(False)
    return z3.PbGe([(e.free(f, i), 1) for f in range(e.nheap)], n)


def _take_exactly(e: "PageEncoding", n: int, i: int, allowed: Any) -> z3.BoolRef:
    """The chosen frame set has n frames, each satisfying allowed(f); other frames untaken."""
    parts: list[z3.BoolRef] = [z3.Implies(e.take(f, i), allowed(f)) for f in range(e.nheap)]
    parts.append(z3.PbEq([(e.take(f, i), 1) for f in range(e.nheap)], n))
    return z3.And(parts)


def _failure(e: "PageEncoding", k: int, kind: m.OpKind, d: int, label: str, i: int,
             guard: z3.BoolRef) -> list[Branch]:
    if (kind, d) not in e.observed:
        return []
    return [Branch(k, label, "failed", guard, {("failed", kind.value, d): z3.BoolVal(True)})]


# ---- create ---------------------------------------------------------------------------------


def _create(e: "PageEncoding", k: int, op: m.Op, label: str, i: int) -> list[Branch]:
    d = op.domain
    dom = e.model.domains[d]
    base = z3.And(z3.Not(e.alive(d, i)), z3.Not(e.failed(m.OpKind.CREATE, d, i)))
    out: list[Branch] = []
    common: dict[tuple[Any, ...], z3.ExprRef] = {("alive", d): z3.BoolVal(True)}
    goes_direct: z3.BoolRef
    if e.track_id:
        nid = e.var(("next_id",), i)
        common[("next_id",)] = z3.If(z3.ULT(nid, e.id_sat), nid + 1, nid)
    if dom.direct_map is m.DirectMap.HOOK:
        goes_direct = (e.var(("next_id",), i) == dom.hook_id) if dom.hook_id is not None else \
            z3.BoolVal(False)
        common[("direct", d)] = goes_direct
    elif dom.direct_map is m.DirectMap.NONE:
        goes_direct = z3.BoolVal(False)
    else:
        goes_direct = z3.BoolVal(True)

    if dom.static_mem:
        w = dict(common)
        for f, p in enumerate(e.frames):
            w[("own", d, f)] = z3.BoolVal(any(r.base >> e.shift <= p < r.end >> e.shift
                                              for r in dom.static_mem))
        if e.nslots[d]:
            for s in range(e.nslots[d]):
                ipa = e.slots[d][s]
                assert ipa is not None
                w[("pop", d, s)] = goes_direct
                w[("map", d, s)] = z3.If(goes_direct, ipa, e.pfn(0))
        out.append(Branch(k, label, "ok", base, w))
        return out

    # direct from the heap: one naturally aligned buddy block
    if not z3.is_false(goes_direct):
        order = max(0, (dom.pages - 1).bit_length())
        size = 1 << order
        cands: list[int] = []
        if order <= e.model.hypervisor.max_order:
            heap = set(e.heap_pfns)
            for p in e.heap_pfns:
                if p % size == 0 and all(p + o in heap for o in range(size)):
                    cands.append(p)
        blk = e.choice("block", i, z3.BitVecSort(e.W))
        frees = {b: all_of(e.free(e.index[b + o], i) for o in range(size)) for b in cands}
        pick = any_of(z3.And(blk == b, frees[b]) for b in cands)
        w = dict(common)
        hi = z3.Extract(e.W - 1, order, blk) if order < e.W else None
        for f, p in enumerate(e.frames):
            if f < e.nheap and hi is not None and cands:
                w[("own", d, f)] = hi == (p >> order)
            else:
                w[("own", d, f)] = z3.BoolVal(False)
        for s in range(e.nslots[d]):
            w[("pop", d, s)] = z3.BoolVal(True)
            w[("map", d, s)] = blk + s
        if ("rambase", d) in e._sortof:
            w[("rambase", d)] = blk
        out.append(Branch(k, label, "ok", z3.And(base, goes_direct, pick), w,
                          choices=[("block", _bv(blk))], addresses=[blk]))
        nofree = z3.Not(any_of(frees.values()))
        out += _failure(e, k, m.OpKind.CREATE, d, label, i, z3.And(base, goes_direct, nofree))
    # not direct: any `pages` free frames
    if not z3.is_true(goes_direct):
        w = dict(common)
        for f in range(len(e.frames)):
            w[("own", d, f)] = e.take(f, i) if f < e.nheap else z3.BoolVal(False)
        for s in range(e.nslots[d]):
            w[("pop", d, s)] = z3.BoolVal(False)
            w[("map", d, s)] = e.pfn(0)
        if ("rambase", d) in e._sortof:
            w[("rambase", d)] = e.pfn(e._const_rambase(dom))
        ok = z3.And(base, z3.Not(goes_direct),
                    _take_exactly(e, dom.pages, i, lambda f: e.free(f, i)))
        out.append(Branch(k, label, "ok", ok, w, choices=[("frames", e._frames_reader(i))],
                          addresses=_take_addresses(e, i)))
        short = z3.Not(_count_free_at_least(e, dom.pages, i))
        out += _failure(e, k, m.OpKind.CREATE, d, label, i,
                        z3.And(base, z3.Not(goes_direct), short))
    return out


def _take_addresses(e: "PageEncoding", i: int) -> list[z3.ExprRef]:
    """Lowest addresses first: prefer taking each frame in ascending order (lexicographic)."""
    return [z3.If(e.take(f, i), z3.BitVecVal(0, 1), z3.BitVecVal(1, 1)) for f in range(e.nheap)]


def _bv(x: z3.ExprRef) -> Any:
    def read(mdl: z3.ModelRef) -> int:
        return model_int(mdl, x)
    return read


# ---- destroy --------------------------------------------------------------------------------


def _destroy(e: "PageEncoding", k: int, op: m.Op, label: str, i: int) -> list[Branch]:
    d = op.domain
    w: dict[tuple[Any, ...], z3.ExprRef] = {("alive", d): z3.BoolVal(False)}
    if e.has(("direct", d)):
        w[("direct", d)] = z3.BoolVal(False)
    if e.has(("rambase", d)):
        w[("rambase", d)] = e.pfn(0)
    for f in range(len(e.frames)):
        w[("own", d, f)] = z3.BoolVal(False)
    for s in range(e.nslots[d]):
        w[("pop", d, s)] = z3.BoolVal(False)
        w[("map", d, s)] = e.pfn(0)
    return [Branch(k, label, "ok", e.alive(d, i), w)]


# ---- balloon out / in -----------------------------------------------------------------------


def _runs(e: "PageEncoding", d: int, n: int) -> list[int]:
    """Slot indices that start a run of n slots with consecutive IPAs."""
    ns = e.nslots[d]
    starts = []
    for s in range(0, ns - n + 1):
        ok = True
        for t in range(s, s + n - 1):
            a, b = e.slots[d][t], e.slots[d][t + 1]
            if a is not None and b is not None:
                if z3.simplify(b - a).as_long() != 1:  # type: ignore[union-attr]
                    ok = False
                    break
        if ok:
            starts.append(s)
    return starts


def _slot_hits(e: "PageEncoding", d: int, n: int, off: z3.BitVecRef) -> list[list[z3.BoolRef]]:
    """hits[s][t]: slot s is the t-th slot of the run starting at `off`."""
    ns = e.nslots[d]
    return [[off == s - t if s - t >= 0 else z3.BoolVal(False) for t in range(n)] for s in range(ns)]


def _balloon_out(e: "PageEncoding", k: int, op: m.Op, label: str, i: int) -> list[Branch]:
    d, n = op.domain, op.pages
    dom = e.model.domains[d]
    out: list[Branch] = []
    alive = e.alive(d, i)
    if e.nslots[d]:
        off = e.choice("off", i, z3.BitVecSort(e.W))
        starts = _runs(e, d, n)
        at = any_of(z3.And(off == s, all_of(e.pop(d, s + t, i) for t in range(n))) for s in starts)
        hits = _slot_hits(e, d, n, off)
        w: dict[tuple[Any, ...], z3.ExprRef] = {}
        for s in range(e.nslots[d]):
            hit = any_of(hits[s])
            w[("pop", d, s)] = z3.And(e.pop(d, s, i), z3.Not(hit))
            w[("map", d, s)] = z3.If(hit, e.pfn(0), e.mp(d, s, i))
        if e.model.hypervisor.balloon is not m.BalloonMode.KEEP_OWNED:
            freed = [_select(e, d, off + t, i) for t in range(n)]
            for f, p in enumerate(e.frames):
                w[("own", d, f)] = z3.And(e.own(d, f, i), z3.Not(any_of(x == p for x in freed)))
        ipa = _select_ipa(e, d, off, i)
        out.append(Branch(k, label, "ok", z3.And(alive, e.direct(d, i), at), w,
                          choices=[("ipa", _bv(ipa))], addresses=[off], moved=n))
    if not e.nslots[d] or dom.direct_map is m.DirectMap.HOOK:
        w2: dict[tuple[Any, ...], z3.ExprRef] = {}
        for f in range(len(e.frames)):
            w2[("own", d, f)] = z3.And(e.own(d, f, i), z3.Not(e.take(f, i))) if f < e.nheap \
                else e.own(d, f, i)
        ok = z3.And(alive, z3.Not(e.direct(d, i)), _take_exactly(e, n, i, lambda f: e.own(d, f, i)))
        out.append(Branch(k, label, "ok", ok, w2, choices=[("frames", e._frames_reader(i))],
                          addresses=_take_addresses(e, i), moved=n))
    return out


def _select(e: "PageEncoding", d: int, idx: z3.BitVecRef, i: int) -> z3.BitVecRef:
    """The machine PFN of slot `idx` (0 when out of range)."""
    acc: z3.BitVecRef = e.pfn(0)
    for s in range(e.nslots[d]):
        acc = z3.If(idx == s, e.mp(d, s, i), acc)
    return acc


def _select_ipa(e: "PageEncoding", d: int, idx: z3.BitVecRef, i: int) -> z3.BitVecRef:
    if all(x is None for x in e.slots[d]):
        return e.rambase(d, i) + idx
    acc: z3.BitVecRef = e.pfn(0)
    for s in range(e.nslots[d]):
        acc = z3.If(idx == s, e.slot_ipa(d, s, i), acc)
    return acc


def _balloon_in(e: "PageEncoding", k: int, op: m.Op, label: str, i: int) -> list[Branch]:
    d, n = op.domain, op.pages
    dom = e.model.domains[d]
    mode = e.model.hypervisor.balloon
    out: list[Branch] = []
    alive = e.alive(d, i)
    if e.nslots[d]:
        off = e.choice("off", i, z3.BitVecSort(e.W))
        starts = _runs(e, d, n)
        at = any_of(z3.And(off == s, all_of(z3.Not(e.pop(d, s + t, i)) for t in range(n)))
                    for s in starts)
        hits = _slot_hits(e, d, n, off)
        ipa = _select_ipa(e, d, off, i)
        ipas = [_select_ipa(e, d, off + t, i) for t in range(n)]
        guard = z3.And(alive, e.direct(d, i), at)
        if mode is m.BalloonMode.RELEASE_ANY:
            ms = [e.choice(f"m{t}", i, z3.BitVecSort(e.W)) for t in range(n)]
            ok_frames = all_of(e.is_free_pfn(x, i) for x in ms)
            order = all_of(z3.ULT(ms[t], ms[t + 1]) for t in range(n - 1))
            targets = ms
            w = _map_run(e, d, hits, targets, i)
            for f, p in enumerate(e.frames):
                w[("own", d, f)] = z3.Or(e.own(d, f, i), any_of(x == p for x in ms))
            out.append(Branch(k, label, "ok", z3.And(guard, ok_frames, order), w,
                              choices=[("ipa", _bv(ipa)), ("frames", _bvs(ms))],
                              addresses=[off, *ms], moved=n))
            out += _failure(e, k, m.OpKind.BALLOON_IN, d, label, i,
                            z3.And(guard, z3.Not(_count_free_at_least(e, n, i))))
        elif mode is m.BalloonMode.RELEASE_SAME:
            ok_frames = all_of(e.is_free_pfn(x, i) for x in ipas)
            w = _map_run(e, d, hits, ipas, i)
            for f, p in enumerate(e.frames):
                w[("own", d, f)] = z3.Or(e.own(d, f, i), any_of(x == p for x in ipas))
            out.append(Branch(k, label, "ok", z3.And(guard, ok_frames), w,
                              choices=[("ipa", _bv(ipa))], addresses=[off], moved=n))
            out += _failure(e, k, m.OpKind.BALLOON_IN, d, label, i,
                            z3.And(guard, z3.Not(ok_frames)))
        else:  # keep_owned: frame == IPA, still owned; always succeeds
            w = _map_run(e, d, hits, ipas, i)
            out.append(Branch(k, label, "ok", guard, w, choices=[("ipa", _bv(ipa))],
                              addresses=[off], moved=n))
    if not e.nslots[d] or dom.direct_map is m.DirectMap.HOOK:
        room = z3.PbLe([(e.own(d, f, i), 1) for f in range(len(e.frames))], dom.pages - n) \
            if dom.pages - n >= 0 else z3.BoolVal(False)
        guard = z3.And(alive, z3.Not(e.direct(d, i)), room)
        w2: dict[tuple[Any, ...], z3.ExprRef] = {}
        for f in range(e.nheap):
            w2[("own", d, f)] = z3.Or(e.own(d, f, i), e.take(f, i))
        ok = z3.And(guard, _take_exactly(e, n, i, lambda f: e.free(f, i)))
        out.append(Branch(k, label, "ok", ok, w2, choices=[("frames", e._frames_reader(i))],
                          addresses=_take_addresses(e, i), moved=n))
        out += _failure(e, k, m.OpKind.BALLOON_IN, d, label, i,
                        z3.And(guard, z3.Not(_count_free_at_least(e, n, i))))
    return out


def _map_run(e: "PageEncoding", d: int, hits: list[list[z3.BoolRef]], targets: list[Any],
             i: int) -> dict[tuple[Any, ...], z3.ExprRef]:
    w: dict[tuple[Any, ...], z3.ExprRef] = {}
    for s in range(e.nslots[d]):
        hit = any_of(hits[s])
        val: z3.ExprRef = e.mp(d, s, i)
        for t, x in enumerate(targets):
            val = z3.If(hits[s][t], x, val)
        w[("pop", d, s)] = z3.Or(e.pop(d, s, i), hit)
        w[("map", d, s)] = val
    return w


def _bvs(xs: list[z3.ExprRef]) -> Any:
    def read(mdl: z3.ModelRef) -> tuple[int, ...]:
        return tuple(model_int(mdl, x) for x in xs)
    return read


__all__ = ["op_branches", "model_bool"]
