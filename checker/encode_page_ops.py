"""The operations of docs/semantics.md (checker/semantics.py) as branches of the page-level
transition relation: one function per operation, each returning its success branch(es) and,
when something observes it, its failure branch.

Choice variables of step i (all Booleans, shared by the operations of the step since only one
fires): ("blk", d, b) the block of a 1:1 create, ("off", d, s) the first p2m slot of a balloon
run, ("take", f) the frame set a create / balloon takes or gives back, ("rank", t, f) the t-th
frame of a multi-page 1:1 balloon-in. Each becomes the `semantics.Action` choice of the same
name: block -> "block" (a frame number), off -> "ipa" (the IPA of the slot), take -> "frames"
(extents), exactly as the reference records them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import z3

from checker import extents as ex
from checker import model as m
from checker.encode import (
    Branch,
    all_of,
    and_,
    any_of,
    exactly_one,
    implies,
    ite,
    neg,
    or_,
    pb_eq,
    pb_ge,
    pb_le,
)
from checker.encode_page_policy import policy_block, policy_frames

if TYPE_CHECKING:
    from checker.encode_page import PageEncoding

Writes = dict[tuple[Any, ...], z3.ExprRef]


def T() -> z3.BoolRef:
    return z3.BoolVal(True)


def F() -> z3.BoolRef:
    return z3.BoolVal(False)


def label(model: m.Model, op: m.Op) -> str:
    """The operation's label, as `semantics.Semantics.op_labels` spells it."""
    name = model.domains[op.domain].name
    if op.kind in (m.OpKind.BALLOON_OUT, m.OpKind.BALLOON_IN):
        return f"{op.kind.value} {name} {op.pages}"
    if op.kind is m.OpKind.GRANT:
        peer = model.domains[op.peer].name if op.peer is not None else "?"
        return f"grant {name} -> {peer}"
    if op.kind is m.OpKind.DMA:
        return f"dma {name} {op.buffer}"
    return f"{op.kind.value} {name}"


def op_branches(e: PageEncoding, k: int, op: m.Op, i: int) -> list[Branch]:
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
    from checker import encode_page_grants as grants

    if kind is m.OpKind.GRANT:
        return grants.grant(e, k, op, lab, i)
    if kind is m.OpKind.UNMAP:
        return grants.unmap(e, k, op, lab, i)
    return grants.dma(e, k, op, lab, i)


# ---- helpers ---------------------------------------------------------------------------------


def _at_least(bits: list[z3.BoolRef], n: int) -> z3.BoolRef:
    if n <= 0:
        return T()
    if n > len(bits):
        return F()
    return pb_ge([(b, 1) for b in bits], n)


def _take_exactly(e: PageEncoding, fs: list[int], n: int, allowed: Any, i: int) -> z3.BoolRef:
    """The chosen set is n frames of `fs`, each satisfying allowed(f); no other frame."""
    parts: list[z3.BoolRef] = [implies(e.take(f, i), allowed(f)) for f in fs]
    inside = set(fs)
    others = [e.take(f, i) for f in range(len(e.frames)) if f not in inside]
    parts += [neg(b) for b in others]
    parts.append(pb_eq([(e.take(f, i), 1) for f in fs], n) if fs else z3.BoolVal(n == 0))
    return and_(parts)


def _allocate(e: PageEncoding, d: int | None, fs: list[int], n: int, allowed: Any,
              i: int) -> z3.BoolRef:
    """n frames from the pool: any n (placement any) or the allocator policy's n."""
    if e.policy() is m.Placement.ANY:
        return _take_exactly(e, fs, n, allowed, i)
    pool_d = d if d is not None and e.doms[d].static else None
    pol = policy_frames(e, pool_d, n, i)
    enough = _at_least([allowed(f) for f in fs], n)
    return and_(enough, *[e.take(f, i) == pol.get(f, F()) for f in range(len(e.frames))])


def _set_objective(e: PageEncoding, fs: list[int], i: int) -> tuple[str, list[z3.BoolRef]]:
    return ("set", [e.take(f, i) for f in sorted(fs, key=lambda f: e.frames[f])])


def _failure(e: PageEncoding, k: int, kind: m.OpKind, d: int, lab: str, guard: z3.BoolRef,
             i: int, choices: list[tuple[str, Any]] | None = None,
             objectives: list[tuple[str, list[z3.BoolRef]]] | None = None) -> list[Branch]:
    """A failed operation: a step only if it records something (docs/semantics.md)."""
    observed = (kind, d) in e.observed
    w: Writes = {}
    if observed:
        w[("failed", kind.value, d)] = T()
    if kind is m.OpKind.CREATE and e.track_id:
        # NOTE(domid-rover) in semantics.py: a failed create still uses up a domain id
        nid = e.var(("next_id",), i)
        w[("next_id",)] = ite(z3.ULT(nid, e.id_cap), nid + 1, nid)
        moves = z3.ULT(nid, e.id_cap)
        guard = and_(guard, or_(T() if observed else F(), moves))
    elif not observed:
        return []
    return [Branch(k, lab, "failed", guard, w, choices=choices or [],
                   addresses=objectives or [])]


def _rb_writes(e: PageEncoding, d: int, value: dict[int, z3.BoolRef]) -> Writes:
    """rambase one-hot writes: candidate c is set iff value[c] (missing = false)."""
    cands = e.rb_cands[d]
    if len(cands) <= 1:
        return {}
    return {("rb", d, c): value.get(c, F()) for c in cands}


def _clear_maps(e: PageEncoding, d: int) -> Writes:
    return {("map", d, s, f): F() for s in range(e.nslots[d]) for f in e.slot_frames[d][s]}


def _ipa_reader(e: PageEncoding, d: int, offs: dict[int, z3.BoolRef], i: int) -> Any:
    """The IPA (a frame number) of the chosen first slot."""
    cands = e.rb_cands[d]

    def read(ev: Any) -> int:
        s = next(s for s, b in offs.items() if z3.is_true(ev(b)))
        c = e.slot_ipa_const(d, s)
        if c is not None:
            return c
        base = next(r for r in cands if z3.is_true(ev(e.rb_is(d, r, i))))
        return base + s
    return read


def _onehot_reader(bits: dict[int, z3.BoolRef]) -> Any:
    def read(ev: Any) -> int:
        return next(v for v, b in bits.items() if z3.is_true(ev(b)))
    return read


# ---- create ---------------------------------------------------------------------------------


def _create(e: PageEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d = op.domain
    dom = e.doms[d]
    base = and_(neg(e.alive(d, i)), neg(e.failed(m.OpKind.CREATE, d, i)))
    common: Writes = {("alive", d): T()}
    if e.track_id:
        nid = e.var(("next_id",), i)
        common[("next_id",)] = ite(z3.ULT(nid, e.id_cap), nid + 1, nid)
        if e.keep_ids:
            common[("id", d)] = nid
    if dom.decl is m.DirectMap.HOOK:
        goes = (e.var(("next_id",), i) == dom.hook_id) if dom.hook_id is not None else F()
        common[("direct", d)] = goes
    else:
        goes = F() if dom.decl is m.DirectMap.NONE else T()
    out: list[Branch] = []

    if dom.static:
        w = dict(common)
        statics = {e.index[p] for p in dom.static}
        for f in range(len(e.frames)):
            w[("own", d, f)] = z3.BoolVal(f in statics)
        for s in range(e.nslots[d]):
            mine = e.index[dom.static[s]]
            for f in e.slot_frames[d][s]:
                w[("map", d, s, f)] = goes if f == mine else F()
        rb_direct = dom.rambase if dom.rambase_mode is m.RambaseMode.FIXED else dom.static[0]
        vals: dict[int, z3.BoolRef] = {}
        if dom.may_direct:
            vals[rb_direct] = goes
        if dom.may_plain:
            vals[dom.rambase] = or_(vals.get(dom.rambase, F()), neg(goes))
        w.update(_rb_writes(e, d, vals))
        out.append(Branch(k, lab, "ok", base, w))
        return out

    if dom.may_direct:
        blocks = e.blocks[d]
        size = 1 << dom.order
        blk = {b: e.choice(("blk", d, b), i) for b in blocks}
        allfree = {b: all_of(e.free(e.index[b + o], i) for o in range(size)) for b in blocks}
        pick = and_(exactly_one(list(blk.values())),
                      all_of(implies(blk[b], allfree[b]) for b in blocks))
        if e.policy() is not m.Placement.ANY:
            pol = policy_block(e, dom.order, i)
            pick = and_(pick, *[blk[b] == pol.get(b, F()) for b in blocks])
        w = dict(common)
        for f in range(len(e.frames)):
            start = (e.frames[f] >> dom.order) << dom.order
            w[("own", d, f)] = blk.get(start, F()) if f < e.nheap else F()
        for s in range(e.nslots[d]):
            for f in e.slot_frames[d][s]:
                w[("map", d, s, f)] = blk.get(e.frames[f] - s, F()) if s < dom.pages else F()
        if e._direct_rb(dom):
            w.update(_rb_writes(e, d, dict(blk)))
        else:
            w.update(_rb_writes(e, d, {dom.rambase: T()}))
        obj = [("onehot", [blk[b] for b in blocks])]
        if blocks:
            out.append(Branch(k, lab, "ok", and_(base, goes, pick), w,
                              choices=[("block", _onehot_reader(blk))],
                              addresses=obj))
        none_free = neg(any_of(allfree.values()))
        out += _failure(e, k, m.OpKind.CREATE, d, lab, and_(base, goes, none_free), i)
    if dom.may_plain:
        heap = list(range(e.nheap))
        w = dict(common)
        for f in range(len(e.frames)):
            w[("own", d, f)] = e.take(f, i) if f < e.nheap else F()
        w.update(_clear_maps(e, d))
        w.update(_rb_writes(e, d, {dom.rambase: T()}))
        ok = and_(base, neg(goes),
                    _allocate(e, None, heap, dom.pages, lambda f: e.free(f, i), i))
        out.append(Branch(k, lab, "ok", ok, w, choices=[("frames", e.frames_reader(heap, i))],
                          addresses=[_set_objective(e, heap, i)]))
        short = neg(_at_least([e.free(f, i) for f in heap], dom.pages))
        out += _failure(e, k, m.OpKind.CREATE, d, lab, and_(base, neg(goes), short), i)
    return out


# ---- destroy --------------------------------------------------------------------------------


def _destroy(e: PageEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d = op.domain
    w: Writes = {("alive", d): F()}
    if e.has(("id", d)):
        w[("id", d)] = z3.BitVecVal(0, e.var(("id", d), i).size())
    if e.has(("direct", d)):
        w[("direct", d)] = F()
    w.update(_rb_writes(e, d, {}))
    for f in range(len(e.frames)):
        w[("own", d, f)] = F()
    w.update(_clear_maps(e, d))
    # its grant mappings go, and every grant mapping of its pages in other backends
    for s in range(e.ngslots[d]):
        w.update({("gm", d, s, f): F() for f in range(len(e.frames))})
        w.update({("gf", d, s, x): F() for x in e.frontends[d]})
    for b in range(e.nd):
        if b == d or d not in e.frontends[b]:
            continue
        for s in range(e.ngslots[b]):
            gone = e.var(("gf", b, s, d), i)
            for f in range(len(e.frames)):
                w[("gm", b, s, f)] = and_(e.gm(b, s, f, i), neg(gone))
            for x in e.frontends[b]:
                w[("gf", b, s, x)] = and_(e.var(("gf", b, s, x), i), neg(gone))
    return [Branch(k, lab, "ok", e.alive(d, i), w)]


# ---- balloon out / in -----------------------------------------------------------------------


def _starts(e: PageEncoding, d: int, n: int) -> list[int]:
    """Slots that start a run of n slots with consecutive IPAs."""
    dom = e.doms[d]
    out = []
    for s in range(e.nslots[d] - n + 1):
        if dom.static and any(dom.static[t + 1] != dom.static[t] + 1 for t in range(s, s + n - 1)):
            continue
        out.append(s)
    return out


def _hits(e: PageEncoding, d: int, n: int, offs: dict[int, z3.BoolRef]) -> list[list[z3.BoolRef]]:
    """hits[s][t]: slot s is the t-th slot of the chosen run."""
    return [[offs.get(s - t, F()) for t in range(n)] for s in range(e.nslots[d])]


def busy_free(e: PageEncoding, d: int, s: int, i: int) -> z3.BoolRef:
    """Slot s of 1:1 domain d is populated by a frame no backend has grant-mapped: a page
    it may balloon out (NOTE(granted-pages) in the reference)."""
    if not any(d in fr for fr in e.frontends):
        return e.pop(d, s, i)
    return any_of(and_(e.mp(d, s, f, i), neg(e.granted(d, f, i))) for f in e.slot_frames[d][s])


def _balloon_out(e: PageEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d, n = op.domain, op.pages
    dom = e.doms[d]
    out: list[Branch] = []
    alive = e.alive(d, i)
    if e.nslots[d]:
        starts = _starts(e, d, n)
        offs = {s: e.choice(("off", d, s), i) for s in starts}
        ok = and_(exactly_one(list(offs.values())),
                  all_of(implies(offs[s], all_of(busy_free(e, d, s + t, i) for t in range(n)))
                         for s in starts))
        hits = _hits(e, d, n, offs)
        hit = [any_of(h) for h in hits]
        w: Writes = {}
        for s in range(e.nslots[d]):
            for f in e.slot_frames[d][s]:
                w[("map", d, s, f)] = and_(e.mp(d, s, f, i), neg(hit[s]))
        if e.model.hypervisor.balloon is not m.BalloonMode.KEEP_OWNED:
            for f in range(len(e.frames)):
                gone = any_of(and_(hit[s], e.mp(d, s, f, i))
                              for s in range(e.nslots[d]) if e.has(("map", d, s, f)))
                if not z3.is_false(gone):
                    w[("own", d, f)] = and_(e.own(d, f, i), neg(gone))
        if starts:
            out.append(Branch(k, lab, "ok", and_(alive, e.direct(d, i), ok), w,
                              choices=[("ipa", _ipa_reader(e, d, offs, i))],
                              addresses=[("onehot", [offs[s] for s in starts])],
                              moved=n))
    if dom.may_plain:
        fs = e.pool_frames(d)
        w2: Writes = {("own", d, f): and_(e.own(d, f, i), neg(e.take(f, i))) for f in fs}
        ok2 = and_(alive, neg(e.direct(d, i)),
                   _take_exactly(e, fs, n, lambda f: and_(e.own(d, f, i),
                                                          neg(e.granted(d, f, i))), i))
        out.append(Branch(k, lab, "ok", ok2, w2, choices=[("frames", e.frames_reader(fs, i))],
                          addresses=[_set_objective(e, fs, i)],
                          moved=n))
    return out


def _balloon_in(e: PageEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d, n = op.domain, op.pages
    dom = e.doms[d]
    mode = e.model.hypervisor.balloon
    out: list[Branch] = []
    alive = e.alive(d, i)
    fs = e.pool_frames(d)
    if e.nslots[d]:
        starts = _starts(e, d, n)
        offs = {s: e.choice(("off", d, s), i) for s in starts}
        at = and_(exactly_one(list(offs.values())),
                  all_of(implies(offs[s], all_of(and_(neg(e.pop(d, s + t, i)),
                                                      neg(e.gpop(d, s + t, i)))
                                                 for t in range(n))) for s in starts))
        hits = _hits(e, d, n, offs)
        guard = and_(alive, e.direct(d, i), at)
        ipa = ("ipa", _ipa_reader(e, d, offs, i))
        off_obj = ("onehot", [offs[s] for s in starts])
        if not starts:
            pass
        elif mode is m.BalloonMode.RELEASE_ANY:
            ranks = [[e.take(f, i) if n == 1 else e.choice(("rank", t, f), i) for f in fs]
                     for t in range(n)]
            parts = [_allocate(e, d, fs, n, lambda f: e.pool(d, f, i), i)]
            if n > 1:
                for t in range(n):
                    parts.append(exactly_one(ranks[t]))
                for j, f in enumerate(fs):
                    parts.append(e.take(f, i) == any_of(ranks[t][j] for t in range(n)))
                for t in range(n - 1):
                    for j in range(len(fs)):
                        parts.append(implies(ranks[t + 1][j], any_of(ranks[t][:j])))
            w: Writes = {}
            for s in range(e.nslots[d]):
                for f in e.slot_frames[d][s]:
                    j = fs.index(f) if f in fs else -1
                    new = any_of(and_(hits[s][t], ranks[t][j]) for t in range(n)) if j >= 0 else F()
                    w[("map", d, s, f)] = or_(e.mp(d, s, f, i), new)
            for f in fs:
                w[("own", d, f)] = or_(e.own(d, f, i), e.take(f, i))
            out.append(Branch(k, lab, "ok", and_(guard, *parts), w,
                              choices=[ipa, ("frames", e.frames_reader(fs, i))],
                              addresses=[off_obj, _set_objective(e, fs, i)],
                              moved=n))
            short = neg(_at_least([e.pool(d, f, i) for f in fs], n))
            out += _failure(e, k, m.OpKind.BALLOON_IN, d, lab, and_(guard, short), i,
                            choices=[ipa], objectives=[off_obj])
        else:
            # frame == IPA: release_same takes it from the pool, keep_owned must still own it
            same = mode is m.BalloonMode.RELEASE_SAME

            def target(s: int, f: int) -> z3.BoolRef:
                return e.slot_ipa_is(d, s, e.frames[f], i)

            def ok_slot(s: int) -> z3.BoolRef:
                cand = fs if same else range(len(e.frames))
                return any_of(and_(target(s, f), e.pool(d, f, i) if same else e.own(d, f, i))
                              for f in cand if f in e.slot_frames[d][s])
            good = all_of(implies(offs[s], all_of(ok_slot(s + t) for t in range(n)))
                          for s in starts)
            w = {}
            hit = [any_of(h) for h in hits]
            for s in range(e.nslots[d]):
                for f in e.slot_frames[d][s]:
                    w[("map", d, s, f)] = or_(e.mp(d, s, f, i), and_(hit[s], target(s, f)))
            if same:
                for f in fs:
                    new = any_of(and_(hit[s], target(s, f))
                                 for s in range(e.nslots[d]) if f in e.slot_frames[d][s])
                    if not z3.is_false(new):
                        w[("own", d, f)] = or_(e.own(d, f, i), new)
            out.append(Branch(k, lab, "ok", and_(guard, good), w, choices=[ipa],
                              addresses=[off_obj], moved=n))
            out += _failure(e, k, m.OpKind.BALLOON_IN, d, lab, and_(guard, neg(good)), i,
                            choices=[ipa], objectives=[off_obj])
    if dom.may_plain:
        owned = [e.own(d, f, i) for f in range(len(e.frames))]
        owned += [e.gpop(d, s, i) for s in range(e.ngslots[d])]  # grant IPAs are no holes
        room = pb_le([(b, 1) for b in owned], dom.pages - n) if dom.pages >= n else F()
        guard2 = and_(alive, neg(e.direct(d, i)), room)
        w2: Writes = {("own", d, f): or_(e.own(d, f, i), e.take(f, i)) for f in fs}
        ok2 = and_(guard2, _allocate(e, d, fs, n, lambda f: e.pool(d, f, i), i))
        out.append(Branch(k, lab, "ok", ok2, w2, choices=[("frames", e.frames_reader(fs, i))],
                          addresses=[_set_objective(e, fs, i)],
                          moved=n))
        short = neg(_at_least([e.pool(d, f, i) for f in fs], n))
        out += _failure(e, k, m.OpKind.BALLOON_IN, d, lab, and_(guard2, short), i)
    return out


__all__ = ["ex", "label", "op_branches"]
