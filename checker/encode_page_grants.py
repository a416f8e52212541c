"""Grant, unmap and DMA (docs/semantics.md) as branches of the page-level transition relation.

State (checker/encode_page.py): ("gm", b, s, f) backend b holds a grant mapping of frame f at
IPA slot s of its RAM range (IPA = rambase + s, or the static frame of a 1:1 static domain);
("gf", b, s, x) that mapping was granted by frontend x; ("dmabad", d) the first misdirected
DMA among the observed domains was d's (only which domain matters: the reference records the
first one and nothing after it, so its addresses never change what can happen next).

Choices of a step: ("gfr", f) the frame granted, ("gslot", b, s) the IPA slot it is mapped at,
("boff", b, s) the page a backend with no ballooned-out IPA balloons out first (1:1; an
ordinary backend gives back one frame, the `take` set), ("uslot", b, s) the mapping unmapped,
("dslot", d, s) the DMA buffer. They become the reference's `frame`, `ipa`, `balloon`
choices, in its order: frame, balloon (when it happens), ipa.
"""

from __future__ import annotations

from typing import Any

import z3

from checker import model as m
from checker.encode import (
    Branch,
    all_of,
    and_,
    any_of,
    exactly_one,
    implies,
    neg,
    or_,
    pb_eq,
    pb_ge,
    pb_le,
)
from checker.encode_page import PageEncoding
from checker.encode_page_ops import busy_free

Writes = dict[tuple[Any, ...], z3.ExprRef]


def _ipa_reader(e: PageEncoding, d: int, slots: dict[int, z3.BoolRef], direct: bool,
                i: int) -> Any:
    """The IPA frame of the chosen slot of d's RAM range (1:1 or not, as the branch says)."""
    dom = e.doms[d]

    def read(ev: Any) -> int:
        s = next(s for s, b in slots.items() if z3.is_true(ev(b)))
        if not direct:
            return dom.rambase + s
        if dom.static:
            return dom.static[s]
        base = next(c for c in e.rb_cands[d] if z3.is_true(ev(e.rb_is(d, c, i))))
        return base + s
    return read


def _frame_reader(e: PageEncoding, bits: dict[int, z3.BoolRef]) -> Any:
    def read(ev: Any) -> int:
        return next(e.frames[f] for f, b in bits.items() if z3.is_true(ev(b)))
    return read


def _modes(e: PageEncoding, d: int, i: int) -> list[tuple[bool, z3.BoolRef]]:
    """(is 1:1, guard) for each way d can be: 1:1, ordinary, or either (hook)."""
    dom = e.doms[d]
    out = []
    if dom.may_direct:
        out.append((True, e.direct(d, i)))
    if dom.may_plain:
        out.append((False, neg(e.direct(d, i))))
    return out


def _top_free_slot(e: PageEncoding, b: int, i: int) -> dict[int, z3.BoolRef]:
    """The highest IPA slot with no grant mapping (an ordinary backend's grant goes there,
    NOTE(opaque-p2m) in semantics.py)."""
    n = e.doms[b].pages
    out: dict[int, z3.BoolRef] = {}
    above: list[z3.BoolRef] = []
    for s in range(n - 1, -1, -1):
        out[s] = and_(neg(e.gpop(b, s, i)), *above)
        above.append(e.gpop(b, s, i))
    return out


def _add_grant(e: PageEncoding, w: Writes, b: int, f: int, slot: dict[int, z3.BoolRef],
               gfr: dict[int, z3.BoolRef], i: int) -> None:
    for s in range(e.ngslots[b]):
        at = slot.get(s, z3.BoolVal(False))
        for fr in range(len(e.frames)):
            w[("gm", b, s, fr)] = or_(e.gm(b, s, fr, i), and_(at, gfr[fr]))
        w[("gf", b, s, f)] = or_(e.var(("gf", b, s, f), i), at)


def grant(e: PageEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    f, b = op.domain, op.peer
    if b is None or b == f:
        return []
    nf = len(e.frames)
    gfr = {fr: e.choice(("gfr", fr), i) for fr in range(nf)}
    frame_ok = and_(exactly_one(list(gfr.values())),
                    all_of(implies(gfr[fr], e.mapped(f, fr, i)) for fr in range(nf)))
    base = and_(e.alive(f, i), e.alive(b, i), frame_ok)
    frame = ("frame", _frame_reader(e, gfr))
    dom = e.doms[b]
    out: list[Branch] = []
    for direct, mode in _modes(e, b, i):
        if direct:
            slots = range(e.nslots[b])
            hole = {s: and_(neg(e.pop(b, s, i)), neg(e.gpop(b, s, i))) for s in slots}
            any_hole = any_of(hole.values())
            # a ballooned-out IPA exists: map the grant at any of them
            gs = {s: e.choice(("gslot", b, s), i) for s in slots}
            ok = and_(exactly_one(list(gs.values())),
                      all_of(implies(gs[s], hole[s]) for s in slots))
            w: Writes = {}
            _add_grant(e, w, b, f, gs, gfr, i)
            out.append(Branch(k, lab, "ok", and_(base, mode, any_hole, ok), w,
                              choices=[frame, ("ipa", _ipa_reader(e, b, gs, True, i))],
                              addresses=[("onehot", [gfr[x] for x in _asc(e, range(nf))]),
                                         ("onehot", [gs[s] for s in slots])], moved=1))
            # none: balloon one page out first (as balloon_out b 1), map the grant there
            bo = {s: e.choice(("boff", b, s), i) for s in slots}
            ok = and_(exactly_one(list(bo.values())),
                      all_of(implies(bo[s], busy_free(e, b, s, i)) for s in slots))
            w = {}
            for s in slots:
                for fr in e.slot_frames[b][s]:
                    w[("map", b, s, fr)] = and_(e.mp(b, s, fr, i), neg(bo[s]))
            if e.model.hypervisor.balloon is not m.BalloonMode.KEEP_OWNED:
                for fr in range(nf):
                    gone = any_of(and_(bo[s], e.mp(b, s, fr, i)) for s in slots
                                  if e.has(("map", b, s, fr)))
                    if not z3.is_false(gone):
                        w[("own", b, fr)] = and_(e.own(b, fr, i), neg(gone))
            _add_grant(e, w, b, f, bo, gfr, i)
            where = _ipa_reader(e, b, bo, True, i)
            out.append(Branch(k, lab, "ok", and_(base, mode, neg(any_hole), ok), w,
                              choices=[frame, ("balloon", where), ("ipa", where)],
                              addresses=[("onehot", [gfr[x] for x in _asc(e, range(nf))]),
                                         ("onehot", [bo[s] for s in slots])], moved=2))
        else:
            counted = [e.own(b, x, i) for x in range(nf)]
            counted += [e.gpop(b, s, i) for s in range(e.ngslots[b])]
            any_hole = pb_le([(x, 1) for x in counted], dom.pages - 1)
            top = _top_free_slot(e, b, i)
            w = {}
            _add_grant(e, w, b, f, top, gfr, i)
            out.append(Branch(k, lab, "ok", and_(base, mode, any_hole), w,
                              choices=[frame, ("ipa", _ipa_reader(e, b, top, False, i))],
                              addresses=[("onehot", [gfr[x] for x in _asc(e, range(nf))])],
                              moved=1))
            # none: give one frame back first; the top free IPA slot becomes the hole
            fs = e.pool_frames(b)
            take_one = and_(exactly_one([e.take(x, i) for x in fs]),
                            all_of(implies(e.take(x, i), and_(e.own(b, x, i),
                                                              neg(e.granted(b, x, i))))
                                   for x in fs),
                            *[neg(e.take(x, i)) for x in range(nf) if x not in set(fs)])
            w = {("own", b, x): and_(e.own(b, x, i), neg(e.take(x, i))) for x in fs}
            _add_grant(e, w, b, f, top, gfr, i)
            out.append(Branch(k, lab, "ok", and_(base, mode, neg(any_hole), take_one), w,
                              choices=[frame, ("balloon", e.frames_reader(fs, i)),
                                       ("ipa", _ipa_reader(e, b, top, False, i))],
                              addresses=[("onehot", [gfr[x] for x in _asc(e, range(nf))]),
                                         ("set", [e.take(x, i) for x in _asc(e, fs)])],
                              moved=2))
    return out


def _asc(e: PageEncoding, fs: Any) -> list[int]:
    return sorted(fs, key=lambda f: e.frames[f])


def unmap(e: PageEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    b = op.domain
    n = e.ngslots[b]
    if n == 0:
        return []
    out: list[Branch] = []
    us = {s: e.choice(("uslot", b, s), i) for s in range(n)}
    ok = and_(exactly_one(list(us.values())),
              all_of(implies(us[s], e.gpop(b, s, i)) for s in range(n)))
    w: Writes = {}
    for s in range(n):
        for fr in range(len(e.frames)):
            w[("gm", b, s, fr)] = and_(e.gm(b, s, fr, i), neg(us[s]))
        for x in e.frontends[b]:
            w[("gf", b, s, x)] = and_(e.var(("gf", b, s, x), i), neg(us[s]))
    for direct, mode in _modes(e, b, i):
        out.append(Branch(k, lab, "ok", and_(e.alive(b, i), mode, ok), dict(w),
                          choices=[("ipa", _ipa_reader(e, b, us, direct, i))],
                          addresses=[("onehot", [us[s] for s in range(n)])]))
    return out


def dma(e: PageEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d = op.domain
    if not e.model.domains[d].dma_capable:
        return []
    dom = e.doms[d]
    alive = e.alive(d, i)
    record = and_(z3.BoolVal(d in e.dma_observed),
                  *[neg(e.var(("dmabad", x), i)) for x in sorted(e.dma_observed)])
    out: list[Branch] = []

    def branch(mode: z3.BoolRef, slots: dict[int, z3.BoolRef], usable: dict[int, z3.BoolRef],
               bad: dict[int, z3.BoolRef], direct: bool) -> None:
        ok = and_(exactly_one(list(slots.values())),
                  all_of(implies(slots[s], usable[s]) for s in slots))
        w: Writes = {}
        if d in e.dma_observed:
            hit = any_of(and_(slots[s], bad[s]) for s in slots)
            w[("dmabad", d)] = or_(e.var(("dmabad", d), i), and_(record, hit))
        out.append(Branch(k, lab, "ok", and_(alive, mode, ok), w,
                          choices=[("ipa", _ipa_reader(e, d, slots, direct, i))],
                          addresses=[("onehot", [slots[s] for s in sorted(slots)])]))

    nf = len(e.frames)
    if op.buffer == "grant":
        n = e.ngslots[d]
        if n == 0:
            return []
        slots = {s: e.choice(("dslot", d, s), i) for s in range(n)}
        usable = {s: e.gpop(d, s, i) for s in range(n)}
        for direct, mode in _modes(e, d, i):
            # the device is given the foreign frame (swiotlb on) or the IPA itself
            bad = {s: and_(z3.BoolVal(not e.model.domains[d].swiotlb),
                           any_of(and_(e.gm(d, s, fr, i),
                                       neg(_ipa_is(e, d, s, e.frames[fr], direct, i)))
                                  for fr in range(nf)))
                   for s in range(n)}
            branch(mode, slots, usable, bad, direct)
        return out
    for direct, mode in _modes(e, d, i):
        if direct:
            n = e.nslots[d]
            slots = {s: e.choice(("dslot", d, s), i) for s in range(n)}
            usable = {s: e.pop(d, s, i) for s in range(n)}
            bad = {s: any_of(and_(e.mp(d, s, fr, i),
                                  neg(e.slot_ipa_is(d, s, e.frames[fr], i)))
                             for fr in e.slot_frames[d][s]) for s in range(n)}
        else:
            # NOTE(opaque-p2m): the populated IPAs are the lowest |owned| slots without a grant
            # mapping; the one at slot s is backed by the k-th owned frame, k = the number of
            # such slots below s; the DMA is misdirected unless that frame is rambase + s
            n = dom.pages
            slots = {s: e.choice(("dslot", d, s), i) for s in range(n)}
            owned = [(e.own(d, fr, i), 1) for fr in range(nf)]
            usable, bad = {}, {}
            for s in range(n):
                below = [(neg(e.gpop(d, t, i)), 1) for t in range(s)]
                room_here = neg(e.gpop(d, s, i))
                # populated: fewer room slots below s than owned frames
                usable[s] = and_(room_here, pb_ge(owned + [(c, -1) for c, _ in below], 1))
                p = dom.rambase + s
                fr = e.index.get(p)
                if fr is None:
                    bad[s] = z3.BoolVal(True)
                else:
                    lower = [(e.own(d, x, i), 1) for x in range(nf) if e.frames[x] < p]
                    rank_ok = pb_eq(lower + [(c, -1) for c, _ in below], 0) if lower or \
                        below else z3.BoolVal(True)
                    bad[s] = neg(and_(e.own(d, fr, i), rank_ok))
        branch(mode, slots, usable, bad, direct)
    return out


def _ipa_is(e: PageEncoding, d: int, s: int, value: int, direct: bool, i: int) -> z3.BoolRef:
    dom = e.doms[d]
    if not direct:
        return z3.BoolVal(value - s == dom.rambase)
    if dom.static:
        return z3.BoolVal(s < len(dom.static) and dom.static[s] == value)
    return e.rb_is(d, value - s, i)


__all__ = ["dma", "grant", "or_", "unmap"]
