"""The buddy allocator's policies (`top-down`, `bottom-up`) over extent-level states: the block
of 2**order frames `placement.buddy_block` hands out, as a constraint on a symbolic block.

NOTE(extent-buddies): the free heap is the heap minus every owned extent. Its buddies
(`extents.buddies`: every maximal free interval [a, b) cut greedily into the largest naturally
aligned blocks, never above `max_order`) are found without enumerating frames:
- a maximal free interval starts at a heap extent's start or at the end of an owned extent
  (the frame before it is outside the heap or owned), if that frame is free; it ends at the
  first owned extent start after it or at the end of its heap extent;
- in [a, b), a buddy of order p < max_order is a block whose parent (the aligned block of
  order p + 1 around it) does not fit, so the parent sticks out on the left (the block is the
  first aligned block of order p at or after a) or on the right (the last one ending at or
  before b): at most two per order and interval;
- blocks of order max_order are all buddies; the policy prefers the highest (top-down) or the
  lowest (bottom-up) of an interval, which is again the last or the first one, and a chain of
  several buddies (`policy_frames`) the last or first few (NOTE(max-order-copies)).
So the candidates are two per (interval start, order), with those copies of max_order, and
exactly the buddies (of order at least the request) the policy ranks. The policy's key (placement.buddy_block) is (zone, order,
address), zone = bit length of the start; top-down takes the highest zone, then the smallest
order, then the highest address, and returns the top-most sub-block; bottom-up the mirror
image. The chosen buddy is the best-ranked valid candidate, a chain of If over the candidates
(NOTE(policy-block-chain)); no two buddies share a key, so it is unique.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import z3
from z3 import z3core as _core

from checker import extents as ex
from checker import model as m
from checker import placement as pl
from checker.encode import and_, eq, ite, neg, or_

if TYPE_CHECKING:
    from checker.encode_extent import ExtentEncoding


def zone_lt(x: Any, y: Any) -> z3.BoolRef:
    """bit_length(x) < bit_length(y), for unsigned bit-vectors."""
    return z3.And(z3.ULT(x, y), z3.UGT(x ^ y, x))


def _starts_ends(e: ExtentEncoding, i: int, skip: int | None) -> list[tuple[Any, Any]]:
    """(a, b) for every candidate start a of a maximal free interval; `a` may not be free
    (then no candidate from it is valid). Domain `skip` is being created: dead, it owns
    nothing in any reachable state, so its (empty) extents add no interval end."""
    exts = [e.ext(d, x, i) for d in e.heap_doms if d != skip for x in range(e.nx[d])]
    starts: list[tuple[Any, int]] = [(e.bv(lo), h) for h, (lo, _c) in enumerate(e.heap)]
    starts += [(s + n, -1) for s, n in exts]
    out: list[tuple[Any, Any]] = []
    for a, h in starts:
        if h >= 0:
            b = e.bv(e.heap[h][0] + e.heap[h][1])
        else:
            b = e.bv(0)
            for lo, c in reversed(e.heap):  # the end of the heap extent holding a
                b = z3.If(z3.And(z3.UGE(a, e.bv(lo)), z3.ULT(a, e.bv(lo + c))), e.bv(lo + c), b)
        for s, n in exts:
            b = z3.If(z3.And(n != 0, z3.UGT(s, a), z3.ULT(s, b)), s, b)
        out.append((a, b))
    return out


def _copies(e: ExtentEncoding, slots: int) -> int:
    """NOTE(max-order-copies): how many blocks of order max_order one maximal free interval
    contributes to a chain of `slots` buddies: every one of them is a buddy, and the policy
    takes them from the top (top-down) or the bottom (bottom-up) of the interval, so the
    chain needs the last (first) `copies` of them as candidates. An interval lies in one
    heap extent, so no more than that extent holds, and never more than the slots."""
    M = e.model.hypervisor.max_order
    return max(1, min(slots, max((c >> M for _lo, c in e.heap), default=1)))


def _candidates(e: ExtentEncoding, order: int, top_down: bool, i: int,
                skip: int | None, copies: int = 1) -> list[tuple[z3.BoolRef, Any, int]]:
    """(valid, start, order) of the buddies of order >= `order` the policy ranks; `copies`
    blocks of order max_order per interval (NOTE(max-order-copies))."""
    return [(v, t, p) for v, t, p, _same in _picks(e, order, top_down, i, skip, copies)]


def _picks(e: ExtentEncoding, order: int, top_down: bool, i: int,
           skip: int | None, copies: int = 1) -> list[tuple[z3.BoolRef, Any, int, Any]]:
    """`_candidates` with, for the last block of an (interval, order), the first one, which it
    may equal (None for every other candidate): the one place the candidates are built."""
    M = e.model.hypervisor.max_order
    out: list[tuple[z3.BoolRef, Any, int, Any]] = []
    for a, b in _starts_ends(e, i, skip):
        a_free = e.free_range(a, e.bv(1), i)
        for p in range(order, M + 1):
            size = e.bv(1 << p)
            mask = e.bv(~((1 << p) - 1) & ((1 << e.W) - 1))
            first = (a + (size - 1)) & mask
            last = (b & mask) - size
            if p == M:  # the `copies` highest (lowest) blocks, distinct by construction
                picks = [(last - e.bv(j << p) if top_down else first + e.bv(j << p), None)
                         for j in range(copies)]
            else:
                picks = [(first, None), (last, first)]
            for t, same in picks:
                fits = z3.And(z3.UGE(t, a), z3.UGE(b, size), z3.ULE(t, b - size),
                              z3.ULE(a, b))
                if p < M:
                    psize = e.bv(1 << (p + 1))
                    pmask = e.bv(~((1 << (p + 1)) - 1) & ((1 << e.W) - 1))
                    parent = t & pmask
                    pfits = z3.And(z3.UGE(parent, a), z3.UGE(b, psize),
                                   z3.ULE(parent, b - psize))
                    fits = z3.And(fits, z3.Not(pfits))
                out.append((z3.And(a_free, fits), t, p, same))
    return out


def _key_le(top_down: bool, t1: Any, p1: Any, t2: Any, p2: Any) -> z3.BoolRef:
    """key(t1, p1) <= key(t2, p2) under the policy (placement.buddy_block)."""
    if top_down:
        better_zone, worse_zone = zone_lt(t2, t1), zone_lt(t1, t2)
        addr = z3.UGE(t1, t2)
    else:
        better_zone, worse_zone = zone_lt(t1, t2), zone_lt(t2, t1)
        addr = z3.ULE(t1, t2)
    return z3.Or(better_zone, z3.And(z3.Not(worse_zone),
                                     z3.Or(z3.ULT(p1, p2), z3.And(p1 == p2, addr))))


def policy_block(e: ExtentEncoding, order: int, top_down: bool, i: int,
                 tag: tuple[Any, ...], skip: int | None = None) -> tuple[z3.BoolRef, z3.BoolRef, Any]:
    """(exists, pinned, block): `exists` iff the free heap of step i holds a buddy of order
    >= `order`; then `block` is the block of 2**order frames the policy hands out.

    NOTE(policy-block-chain): the buddy the policy picks is the best-ranked valid candidate,
    a chain of If over the candidates (`_best`, as one slot of NOTE(extent-buddy-frames)): a
    function of the state, so that over a known state it simplifies to a value and forward
    propagation (NOTE(forward-propagation) in encode_unroll.py) carries the block on. `pinned`
    is true (no auxiliary variable is left to pin down); `tag` is kept for the callers."""
    cands = _candidates(e, order, top_down, i, skip)
    if _one_zone(e):
        exists, ts, ps = _best_one_zone(e, cands, top_down, None)
    else:
        exists, ts, ps = _best(e, cands, top_down, None)
    block = ts + (e.bv(1) << ps) - e.bv(1 << order) if top_down else ts
    return exists, z3.BoolVal(True), block


def _one_zone(e: ExtentEncoding) -> bool:
    """Every heap frame has the same zone (bit length): the policy's key is (order, address)."""
    return len({lo.bit_length() for lo, _c in e.heap} |
               {(lo + c - 1).bit_length() for lo, c in e.heap}) == 1


def _best(e: ExtentEncoding, cands: list[tuple[z3.BoolRef, Any, int]], top_down: bool,
          prev: tuple[Any, Any] | None) -> tuple[z3.BoolRef, Any, Any]:
    """The best-ranked valid candidate ranked after `prev`: (exists, start, order)."""
    has, bt, bp = z3.BoolVal(False), e.bv(0), e.bv(0)
    for v, t, p in cands:
        pv = e.bv(p)
        elig = v if prev is None else z3.And(v, z3.Not(_key_le(top_down, t, pv, *prev)))
        take = z3.And(elig, z3.Or(z3.Not(has), z3.Not(_key_le(top_down, bt, bp, t, pv))))
        bt, bp = z3.If(take, t, bt), z3.If(take, pv, bp)
        has = z3.Or(has, elig)
    return has, bt, bp


def _cmp(mk: Any, a: Any, b: Any) -> z3.BoolRef:
    """An unsigned bit-vector comparison in one native call (NOTE(fast-terms) in encode.py);
    a and b are bit-vectors of the encoding's width."""
    ctx = a.ctx
    return z3.BoolRef(mk(ctx.ref(), a.as_ast(), b.as_ast()), ctx)


def _best_one_zone(e: ExtentEncoding, cands: list[tuple[z3.BoolRef, Any, int]],
                   top_down: bool, prev: tuple[Any, Any] | None) -> tuple[z3.BoolRef, Any, Any]:
    """`_best` when the key is (order, address): per order the highest (top-down) or lowest
    address after `prev`, then the smallest order that has one."""
    better_mk = _core.Z3_mk_bvugt if top_down else _core.Z3_mk_bvult

    def after(t: Any, q: int) -> z3.BoolRef:
        if prev is None:
            return z3.BoolVal(True)
        pt, pp = prev
        later = _cmp(better_mk, pt, t)
        return or_(_cmp(_core.Z3_mk_bvult, pp, e.bv(q)), and_(eq(pp, e.bv(q)), later))
    by_order: dict[int, list[tuple[z3.BoolRef, Any]]] = {}
    for v, t, p in cands:
        by_order.setdefault(p, []).append((v, t))
    has, bt, bp = z3.BoolVal(False), e.bv(0), e.bv(0)
    for q in sorted(by_order, reverse=True):  # the smallest order ends the chain on top
        hq, tq = z3.BoolVal(False), e.bv(0)
        for v, t in by_order[q]:
            elig = and_(v, after(t, q))
            better = _cmp(better_mk, t, tq)
            tq = ite(and_(elig, or_(neg(hq), better)), t, tq)
            hq = or_(hq, elig)
        bt, bp = ite(hq, tq, bt), ite(hq, e.bv(q), bp)
        has = or_(has, hq)
    return has, bt, bp


def policy_frames(e: ExtentEncoding, n: int, top_down: bool, i: int, slots: int,
                  skip: int | None = None) -> tuple[z3.BoolRef, z3.BoolRef, list[tuple[Any, Any]]]:
    """The n frames n single-page allocations hand out (placement.buddy_frames): the buddies
    in the policy's order, each given whole, the last one only its top (top-down) or bottom
    (bottom-up) part. NOTE(extent-buddy-frames): slot j holds the best-ranked valid candidate
    ranked after slot j - 1's, as a chain of If over the candidates (a function of the state:
    no auxiliary variable, nothing to search), while frames are still needed. Returns (fits,
    over, extents): `fits` the first `slots` buddies cover n frames (then `extents` are the
    frames handed out, one slot per buddy, unused slots (0, 0)); `over` they hold fewer than
    n frames although the heap has n free (the request needs more extents than the bound).
    """
    cands = _candidates(e, 0, top_down, i, skip, _copies(e, slots))
    N = e.bv(n)
    zero = e.bv(0)
    one_zone = _one_zone(e)
    prev: tuple[Any, Any] | None = None
    acc = zero
    exts: list[tuple[Any, Any]] = []
    alive: z3.BoolRef = z3.BoolVal(True)  # every slot so far had a buddy left
    for _j in range(slots):
        if one_zone:
            has, bt, bp = _best_one_zone(e, cands, top_down, prev)
        else:
            has, bt, bp = _best(e, cands, top_down, prev)
        # a slot with no buddy left ends the chain: ranked after it (its start and order
        # are placeholders) the buddies would start again from the best one
        alive = and_(alive, has)
        used = z3.And(alive, z3.ULT(acc, N))
        size = e.bv(1) << bp
        part = z3.If(z3.ULT(N - acc, size), N - acc, size)
        start = bt + size - part if top_down else bt
        exts.append((z3.If(used, start, zero), z3.If(used, part, zero)))
        acc = acc + z3.If(used, part, zero)
        prev = (bt, bp)
    fits = acc == N
    over = z3.And(z3.ULT(acc, N), z3.UGE(e.free_total(i), N))
    return fits, over, exts


def policy_slots(model: m.Model, heap: ex.Extents, d: int, floor: int) -> int:
    """NOTE(policy-slots): extent slots for ordinary domain d, whose multi-page requests follow
    the allocator policy (one slot per buddy, NOTE(extent-buddy-frames)): at least `floor`, and
    as many buddies as its request takes from the initial free heap (the whole heap: nothing
    is owned initially), plus one for each action of the scenario that can give frames back
    (a `loop` counts twice) as slack for a heap fragmented by then. This is only a size: a
    request that needs more buddies than d has slots is still a `cut` (NOTE(extent-bound)),
    detected exactly, so the sizing never makes a verdict unsound, it only decides how often
    the bound is met; domains whose request fits in `floor` buddies keep `floor` slots."""
    dom = model.domains[d]
    top_down = model.hypervisor.placement is m.Placement.TOP_DOWN
    if pl.buddy_frames(heap, dom.pages, model.hypervisor.max_order, top_down) is None:
        return floor
    blocks = ex.buddies(heap, model.hypervisor.max_order)
    blocks.sort(key=(lambda b: (-b[0].bit_length(), b[1], -b[0])) if top_down else
                (lambda b: (b[0].bit_length(), b[1], b[0])))
    need, left = 0, dom.pages
    for _start, order in blocks:
        if left <= 0:
            break
        left -= 1 << order
        need += 1
    frees = 0
    for st in model.scenario.statements:
        alts = (st.op,) if isinstance(st, m.Step) else st.alternatives
        times = 1 if isinstance(st, m.Step) else st.max_times if isinstance(st, m.Choose) else 2
        if any(getattr(op, "kind", None) in (m.OpKind.BALLOON_OUT, m.OpKind.DESTROY, m.OpKind.GRANT)
               for op in alts):
            frees += times
    return max(floor, need + frees)


def policy_over(e: ExtentEncoding, n: int, top_down: bool, i: int, slots: int,
                skip: int | None = None) -> z3.BoolRef:
    """NOTE(relaxed-policy): implied by `policy_frames`' `over` (the first `slots` buddies in
    the policy's order hold fewer than n frames although the heap has n free), without
    ranking the buddies: where every heap frame has the same zone the order is by size, so
    those buddies are the `slots` smallest, and their total follows from how many buddies the
    heap has of each order. The counts come from the candidates of NOTE(extent-buddies), one
    per (interval start, order, side) below max_order and NOTE(max-order-copies) of
    max_order, a last candidate equal to the first counted once, so no
    buddy is missed and none of order below max_order is counted twice (a repeat would only
    make the cut reachable more often). Over several zones, `policy_frames`' own `over`."""
    M = e.model.hypervisor.max_order
    if not _one_zone(e):
        return policy_frames(e, n, top_down, i, slots, skip)[1]
    copies = _copies(e, slots)
    cw = max(slots.bit_length(), 1) + 1 + \
        ((2 * (M + 1) + copies) * (e.nd * max(e.nx) + len(e.heap))).bit_length()
    counts = [z3.BitVecVal(0, cw) for _ in range(M + 1)]
    one, zero = z3.BitVecVal(1, cw), z3.BitVecVal(0, cw)
    for valid, t, p, same in _picks(e, 0, top_down, i, skip, copies):
        if same is not None:
            valid = z3.And(*valid.children(), t != same)  # as And(a_free, fits, t != same)
        counts[p] = counts[p] + z3.If(valid, one, zero)
    rem = z3.BitVecVal(slots, cw)
    total = e.bv(0)
    for p in range(M + 1):
        take = z3.If(z3.ULT(counts[p], rem), counts[p], rem)
        total = total + (z3.ZeroExt(e.W - cw, take) << p)
        rem = rem - take
    return z3.And(z3.ULT(total, e.bv(n)), z3.UGE(e.free_total(i), e.bv(n)))


def reference_bound(e: ExtentEncoding, ref: ex.Extents, n: int, slots: int) -> z3.BoolRef | None:
    """NOTE(reference-heap): a condition on state 0 under which n frames under the policy lie
    in at most `slots` buddies (`policy_frames`' `over` is false), from a known free heap
    `ref` (G) instead of the symbolic one (F): G is in F, and F has at most `spare` frames
    more. Where every heap frame has the same zone the policy takes the buddies smallest
    first, so the first s hold T_s(F), the sum of the s smallest buddy sizes, and
    T_s(F) >= T_(s - spare)(G):
    - G's buddies and F's frames outside G (single frames) are naturally aligned blocks of
      order <= max_order that partition F, and each lies in one maximal free interval of F;
    - every such block lies in one buddy of F: the greedy cut of that interval (extents.
      buddies) reaches the block's start inside some buddy; a buddy of lower order than the
      block would have to start where the block does, where the block itself fits and greedy
      takes the largest block that fits. So F's buddies are unions of those blocks;
    - merging blocks never lowers the sum of the s smallest (s distinct merged blocks contain
      s distinct parts, each no larger), and at most `spare` of the s smallest parts are
      single frames outside G, the others G's buddies.
    So with `need` the fewest of G's smallest buddies that hold n frames, spare = slots - need
    frames more keep T_slots(F) >= n. None where there is no such condition (several zones,
    or `ref` holds fewer than n frames in `slots` buddies). The split BMC uses it to drop a
    policy cut that no state reached along a prefix can fire (NOTE(bmc-split) in smt.py)."""
    if not _one_zone(e):
        return None
    need, held = 0, 0
    for size in sorted(1 << p for _s, p in ex.buddies(ref, e.model.hypervisor.max_order)):
        if held >= n:
            break
        held += size
        need += 1
    if held < n or need > slots:
        return None
    parts = [e.free_range(e.bv(lo), e.bv(c), 0) for lo, c in ref]
    parts.append(z3.ULE(e.free_total(0), e.bv(ex.count(ref) + slots - need)))
    return z3.And(parts)


__all__ = ["policy_block", "policy_frames", "policy_over", "policy_slots", "reference_bound",
           "zone_lt"]
