"""The operations of docs/semantics.md over the extent-level state (checker/encode_extent.py).

Each function returns the branches of one operation: success (within NOTE(extent-bound)) and,
when something observes it or it uses up a domain id, failure. Failure conditions are exact
(a failure the encoding reports is a failure of the reference). Choice variables of step i:
("choice", "blk") the block's frame, ("choice", "ipa") an IPA frame, ("choice", "m") the first
frame a balloon takes or gives back, ("choice", "cs", e) / ("choice", "cl", e) the extents a
create takes; they become the `semantics.Action` choices block, ipa and frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import z3

from checker import model as m
from checker.encode import Branch, any_of, read_int
from checker.encode_extent import EXTENTS, RUNS, disjoint, frames_of, inside, within
from checker.encode_page_ops import label

if TYPE_CHECKING:
    from checker.encode_extent import ExtentEncoding

Writes = dict[tuple[Any, ...], z3.ExprRef]


class Vals:
    """Next-state values being built: writes so far, else the current variables."""

    def __init__(self, e: ExtentEncoding, i: int) -> None:
        self.e, self.i = e, i
        self.w: Writes = {}

    def __getitem__(self, key: tuple[Any, ...]) -> Any:
        return self.w.get(key, self.e.var(key, self.i))

    def __setitem__(self, key: tuple[Any, ...], value: Any) -> None:
        self.w[key] = value

    def ext(self, d: int, e: int) -> tuple[Any, Any]:
        return self[("os", d, e)], self[("ol", d, e)]

    def run(self, d: int, r: int) -> tuple[Any, Any, Any]:
        return self[("ri", d, r)], self[("rm", d, r)], self[("rc", d, r)]


def _first(empty: list[z3.BoolRef]) -> list[z3.BoolRef]:
    out: list[z3.BoolRef] = []
    for j, em in enumerate(empty):
        out.append(z3.And(em, *[z3.Not(x) for x in empty[:j]]))
    return out


def add_extent(v: Vals, d: int, s: Any, n: Any) -> z3.BoolRef:
    """Put [s, s + n) in d's first unused extent slot; the guard that one exists."""
    empty = [v.ext(d, e)[1] == 0 for e in range(EXTENTS)]
    first = _first(empty)
    olds = [v.ext(d, e) for e in range(EXTENTS)]
    for e in range(EXTENTS):
        v[("os", d, e)] = z3.If(first[e], s, olds[e][0])
        v[("ol", d, e)] = z3.If(first[e], n, olds[e][1])
    return any_of(empty)


def remove_frames(v: Vals, d: int, x: Any, n: Any) -> z3.BoolRef:
    """Take [x, x + n) out of d's owned extents; the guard that one extent holds it all and,
    if the extent splits in two, that a slot is free for the upper part."""
    olds = [v.ext(d, e) for e in range(EXTENTS)]
    cont = [z3.And(ol != 0, within(x, n, os_, ol)) for os_, ol in olds]
    left = [x - os_ for os_, _ol in olds]
    right = [os_ + ol - (x + n) for os_, ol in olds]
    both = [z3.And(cont[e], left[e] != 0, right[e] != 0) for e in range(EXTENTS)]
    need = any_of(both)
    up_s, up_n = x + n, v.e.bv(0)
    for e in range(EXTENTS):
        up_n = z3.If(cont[e], right[e], up_n)
    empty = [z3.And(olds[e][1] == 0) for e in range(EXTENTS)]
    first = _first(empty)
    for e in range(EXTENTS):
        os_, ol = olds[e]
        keep_left = left[e] != 0
        new_s = z3.If(cont[e], z3.If(keep_left, os_, x + n), z3.If(z3.And(need, first[e]), up_s, os_))
        new_n = z3.If(cont[e], z3.If(keep_left, left[e], right[e]),
                      z3.If(z3.And(need, first[e]), up_n, ol))
        v[("os", d, e)], v[("ol", d, e)] = new_s, new_n
    return z3.And(any_of(cont), z3.Or(z3.Not(need), any_of(empty)))


def op_branches(e: ExtentEncoding, k: int, op: m.Op, i: int) -> list[Branch]:
    lab = label(e.model, op)
    kind = op.kind
    if kind is m.OpKind.CREATE:
        return _create(e, k, op, lab, i)
    if kind is m.OpKind.DESTROY:
        return _destroy(e, k, op, lab, i)
    if kind is m.OpKind.BALLOON_OUT:
        return _balloon_out(e, k, op, lab, i)
    if kind is m.OpKind.BALLOON_IN:
        return _balloon_in(e, k, op, lab, i)
    raise NotImplementedError(kind.value)


def _failure(e: ExtentEncoding, k: int, kind: m.OpKind, d: int, lab: str, guard: z3.BoolRef,
             i: int, choices: list[tuple[str, Any]] | None = None) -> list[Branch]:
    observed = (kind, d) in e.observed
    w: Writes = {}
    if observed:
        w[("failed", kind.value, d)] = z3.BoolVal(True)
    if kind is m.OpKind.CREATE and e.track_id:
        nid = e.var(("next_id",), i)
        w[("next_id",)] = z3.If(z3.ULT(nid, e.id_cap), nid + 1, nid)
        guard = z3.And(guard, z3.Or(z3.BoolVal(observed), z3.ULT(nid, e.id_cap)))
    elif not observed:
        return []
    return [Branch(k, lab, "failed", guard, w, choices=choices or [])]


def _bv_obj(x: Any) -> tuple[str, list[Any]]:
    return ("bv", [x])


# ---- create / destroy -----------------------------------------------------------------------


def _create(e: ExtentEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d = op.domain
    dom = e.doms[d]
    base = z3.And(z3.Not(e.alive(d, i)), z3.Not(e.failed(m.OpKind.CREATE, d, i)))
    common: Writes = {("alive", d): z3.BoolVal(True)}
    if e.track_id:
        nid = e.var(("next_id",), i)
        common[("next_id",)] = z3.If(z3.ULT(nid, e.id_cap), nid + 1, nid)
    if dom.decl is m.DirectMap.HOOK:
        goes = (e.var(("next_id",), i) == dom.hook_id) if dom.hook_id is not None else \
            z3.BoolVal(False)
        common[("direct", d)] = goes
    else:
        goes = z3.BoolVal(dom.decl is not m.DirectMap.NONE)
    out: list[Branch] = []
    if dom.may_direct:
        size = 1 << dom.order
        blk = e.choice(("blk",), i)
        ok = dom.order <= e.model.hypervisor.max_order
        aligned = z3.Extract(dom.order - 1, 0, blk) == 0 if dom.order > 0 else z3.BoolVal(True)
        pick = z3.And(z3.BoolVal(ok), aligned, e.free_range(blk, e.bv(size), i))
        w = dict(common)
        for x in range(EXTENTS):
            w[("os", d, x)] = blk if x == 0 else e.bv(0)
            w[("ol", d, x)] = e.bv(size) if x == 0 else e.bv(0)
        rb = blk if e.rb_varies(d) else e.bv(dom.rambase)
        if e.rb_varies(d):
            w[("rb", d)] = blk
        for r in range(RUNS):
            w[("ri", d, r)] = rb if r == 0 else e.bv(0)
            w[("rm", d, r)] = blk if r == 0 else e.bv(0)
            w[("rc", d, r)] = e.bv(dom.pages) if r == 0 else e.bv(0)
        out.append(Branch(k, lab, "ok", z3.And(base, goes, pick), w,
                          choices=[("block", read_int(blk))], addresses=[_bv_obj(blk)]))
        # exact "no free aligned block": try the first aligned base after every start of a
        # maximal free interval (heap extent starts, ends of owned extents)
        starts = [e.bv(lo) for lo, _c in e.heap]
        starts += [os_ + ol for x in range(e.nd) for os_, ol in
                   (e.ext(x, y, i) for y in range(EXTENTS))]
        mask = e.bv(~(size - 1) & ((1 << 64) - 1))
        fits = any_of(e.free_range((g + (size - 1)) & mask, e.bv(size), i) for g in starts) \
            if ok else z3.BoolVal(False)
        out += _failure(e, k, m.OpKind.CREATE, d, lab, z3.And(base, goes, z3.Not(fits)), i)
    if dom.may_plain:
        parts = [e.choice(("cs", x), i) for x in range(EXTENTS)], \
            [e.choice(("cl", x), i) for x in range(EXTENTS)]
        cs, cl = parts
        guard = [z3.Sum(cl) == dom.pages]
        for x in range(EXTENTS):
            guard.append(z3.ULE(cl[x], e.bv(dom.pages)))
            guard.append(z3.Or(cl[x] == 0, e.free_range(cs[x], cl[x], i)))
            guard.append(z3.Implies(cl[x] == 0, cs[x] == 0))
            for y in range(x + 1, EXTENTS):
                guard.append(z3.Or(cl[y] == 0, z3.ULT(cs[x] + cl[x], cs[y])))
        w = dict(common)
        for x in range(EXTENTS):
            w[("os", d, x)] = cs[x]
            w[("ol", d, x)] = cl[x]
        if dom.may_direct:
            for r in range(RUNS):
                for key in ("ri", "rm", "rc"):
                    w[(key, d, r)] = e.bv(0)
        if e.rb_varies(d):
            w[("rb", d)] = e.bv(0)
        out.append(Branch(k, lab, "ok", z3.And(base, z3.Not(goes), *guard), w,
                          choices=[("frames", frames_of(list(zip(cs, cl))))],
                          addresses=[_bv_obj(c) for c in cs]))
        short = z3.ULT(e.free_total(i), e.bv(dom.pages))
        out += _failure(e, k, m.OpKind.CREATE, d, lab, z3.And(base, z3.Not(goes), short), i)
    return out


def _destroy(e: ExtentEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d = op.domain
    w: Writes = {("alive", d): z3.BoolVal(False)}
    if e.has(("direct", d)):
        w[("direct", d)] = z3.BoolVal(False)
    if e.rb_varies(d):
        w[("rb", d)] = e.bv(0)
    for x in range(EXTENTS):
        w[("os", d, x)] = e.bv(0)
        w[("ol", d, x)] = e.bv(0)
    if e.doms[d].may_direct:
        for r in range(RUNS):
            for key in ("ri", "rm", "rc"):
                w[(key, d, r)] = e.bv(0)
    return [Branch(k, lab, "ok", e.alive(d, i), w)]


# ---- balloon out / in -----------------------------------------------------------------------


def _balloon_out(e: ExtentEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d, n = op.domain, op.pages
    dom = e.doms[d]
    N = e.bv(n)
    out: list[Branch] = []
    alive = e.alive(d, i)
    if dom.may_direct:
        ipa = e.choice(("ipa",), i)
        v = Vals(e, i)
        runs = [e.run(d, r, i) for r in range(RUNS)]
        cont = [z3.And(rc != 0, within(ipa, N, ri, rc)) for ri, _rm, rc in runs]
        left = [ipa - ri for ri, _rm, _rc in runs]
        right = [ri + rc - (ipa + N) for ri, _rm, rc in runs]
        need = any_of(z3.And(cont[r], left[r] != 0, right[r] != 0) for r in range(RUNS))
        up_i, up_m, up_c = ipa + N, e.bv(0), e.bv(0)
        mfn = e.bv(0)
        for r, (ri, rm, rc) in enumerate(runs):
            up_m = z3.If(cont[r], rm + (ipa + N - ri), up_m)
            up_c = z3.If(cont[r], right[r], up_c)
            mfn = z3.If(cont[r], rm + (ipa - ri), mfn)
        empty = [rc == 0 for _ri, _rm, rc in runs]
        first = _first(empty)
        for r, (ri, rm, rc) in enumerate(runs):
            kl = left[r] != 0
            put = z3.And(need, first[r])
            v[("ri", d, r)] = z3.If(cont[r], z3.If(kl, ri, ipa + N), z3.If(put, up_i, ri))
            v[("rm", d, r)] = z3.If(cont[r], z3.If(kl, rm, rm + (ipa + N - ri)),
                                    z3.If(put, up_m, rm))
            v[("rc", d, r)] = z3.If(cont[r], z3.If(kl, left[r], right[r]), z3.If(put, up_c, rc))
        guard = [alive, e.direct(d, i), any_of(cont), z3.Or(z3.Not(need), any_of(empty))]
        if e.model.hypervisor.balloon is not m.BalloonMode.KEEP_OWNED:
            guard.append(remove_frames(v, d, mfn, N))
        out.append(Branch(k, lab, "ok", z3.And(guard), v.w, choices=[("ipa", read_int(ipa))],
                          addresses=[_bv_obj(ipa)], moved=n))
    if dom.may_plain:
        x = e.choice(("m",), i)
        v = Vals(e, i)
        ok = remove_frames(v, d, x, N)
        out.append(Branch(k, lab, "ok", z3.And(alive, z3.Not(e.direct(d, i)), ok), v.w,
                          choices=[("frames", frames_of([(x, N)]))],
                          addresses=[_bv_obj(x)], moved=n))
    return out


def _balloon_in(e: ExtentEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d, n = op.domain, op.pages
    dom = e.doms[d]
    N = e.bv(n)
    mode = e.model.hypervisor.balloon
    out: list[Branch] = []
    alive = e.alive(d, i)
    if dom.may_direct:
        ipa = e.choice(("ipa",), i)
        rb = e.rambase(d, i)
        # a run of n ballooned-out IPAs: inside the RAM range, no p2m run over it
        hole = z3.And(within(ipa, N, rb, e.bv(dom.pages)),
                      z3.Not(e.populated_overlap(d, ipa, N, i)))
        guard = z3.And(alive, e.direct(d, i), hole)
        runs = [e.run(d, r, i) for r in range(RUNS)]
        empty = [rc == 0 for _ri, _rm, rc in runs]
        first = _first(empty)

        def add_run(v: Vals, mfn: Any) -> z3.BoolRef:
            for r, (ri, rm, rc) in enumerate(runs):
                v[("ri", d, r)] = z3.If(first[r], ipa, ri)
                v[("rm", d, r)] = z3.If(first[r], mfn, rm)
                v[("rc", d, r)] = z3.If(first[r], N, rc)
            return any_of(empty)
        ipa_choice = ("ipa", read_int(ipa))
        if mode is m.BalloonMode.RELEASE_ANY:
            x = e.choice(("m",), i)
            v = Vals(e, i)
            ok = z3.And(e.free_range(x, N, i), add_run(v, x), add_extent(v, d, x, N))
            out.append(Branch(k, lab, "ok", z3.And(guard, ok), v.w,
                              choices=[ipa_choice, ("frames", frames_of([(x, N)]))],
                              addresses=[_bv_obj(ipa), _bv_obj(x)], moved=n))
            out += _failure(e, k, m.OpKind.BALLOON_IN, d, lab,
                            z3.And(guard, z3.ULT(e.free_total(i), N)), i, choices=[ipa_choice])
        elif mode is m.BalloonMode.RELEASE_SAME:
            v = Vals(e, i)
            free = e.free_range(ipa, N, i)
            ok = z3.And(free, add_run(v, ipa), add_extent(v, d, ipa, N))
            out.append(Branch(k, lab, "ok", z3.And(guard, ok), v.w, choices=[ipa_choice],
                              addresses=[_bv_obj(ipa)], moved=n))
            out += _failure(e, k, m.OpKind.BALLOON_IN, d, lab, z3.And(guard, z3.Not(free)), i,
                            choices=[ipa_choice])
        else:
            v = Vals(e, i)
            mine = e.owned_cover(d, ipa, N, i) == N
            ok = z3.And(mine, add_run(v, ipa))
            out.append(Branch(k, lab, "ok", z3.And(guard, ok), v.w, choices=[ipa_choice],
                              addresses=[_bv_obj(ipa)], moved=n))
            out += _failure(e, k, m.OpKind.BALLOON_IN, d, lab, z3.And(guard, z3.Not(mine)), i,
                            choices=[ipa_choice])
    if dom.may_plain:
        x = e.choice(("m",), i)
        room = z3.ULE(e.owned_total(d, i) + N, e.bv(dom.pages))
        guard2 = z3.And(alive, z3.Not(e.direct(d, i)), room)
        v = Vals(e, i)
        ok = z3.And(e.free_range(x, N, i), add_extent(v, d, x, N))
        out.append(Branch(k, lab, "ok", z3.And(guard2, ok), v.w,
                          choices=[("frames", frames_of([(x, N)]))],
                          addresses=[_bv_obj(x)], moved=n))
        out += _failure(e, k, m.OpKind.BALLOON_IN, d, lab,
                        z3.And(guard2, z3.ULT(e.free_total(i), N)), i)
    return out


__all__ = ["disjoint", "inside", "op_branches"]
