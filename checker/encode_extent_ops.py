"""The operations of docs/semantics.md over the extent-level state (checker/encode_extent.py).

Each function returns the branches of one operation: success (within NOTE(extent-bound)),
when something observes it or it uses up a domain id, failure, and `cut` where the reference
can fire it in a shape the bound leaves out. Failure conditions are exact (a failure the
encoding reports is a failure of the reference). Under an allocator policy the frames and
blocks the heap hands out are the policy's (encode_extent_policy.py). Choice variables of step i:
("choice", "blk") the block's frame, ("choice", "ipa") an IPA frame, ("choice", "m") the first
frame a balloon takes or gives back, ("choice", "cs", e) / ("choice", "cl", e) the extents a
create takes; they become the `semantics.Action` choices block, ipa and frames.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import z3

from checker import model as m
from checker.encode import Branch, all_of, any_of, read_int
from checker.encode_extent import EXTENTS, RUNS, disjoint, frames_of, inside, within
from checker.encode_extent_policy import policy_block, policy_frames, policy_over
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
    X = v.e.nx[d]
    empty = [v.ext(d, e)[1] == 0 for e in range(X)]
    first = _first(empty)
    olds = [v.ext(d, e) for e in range(X)]
    for e in range(X):
        v[("os", d, e)] = z3.If(first[e], s, olds[e][0])
        v[("ol", d, e)] = z3.If(first[e], n, olds[e][1])
    return any_of(empty)


def remove_frames(v: Vals, d: int, x: Any, n: Any) -> tuple[z3.BoolRef, z3.BoolRef]:
    """Take [x, x + n) out of d's owned extents; (one extent holds it all, a slot is free for
    the upper part if that extent splits in two)."""
    X = v.e.nx[d]
    olds = [v.ext(d, e) for e in range(X)]
    cont = [z3.And(ol != 0, within(x, n, os_, ol)) for os_, ol in olds]
    left = [x - os_ for os_, _ol in olds]
    right = [os_ + ol - (x + n) for os_, ol in olds]
    both = [z3.And(cont[e], left[e] != 0, right[e] != 0) for e in range(X)]
    need = any_of(both)
    up_s, up_n = x + n, v.e.bv(0)
    for e in range(X):
        up_n = z3.If(cont[e], right[e], up_n)
    empty = [z3.And(olds[e][1] == 0) for e in range(X)]
    first = _first(empty)
    for e in range(X):
        os_, ol = olds[e]
        keep_left = left[e] != 0
        new_s = z3.If(cont[e], z3.If(keep_left, os_, x + n), z3.If(z3.And(need, first[e]), up_s, os_))
        new_n = z3.If(cont[e], z3.If(keep_left, left[e], right[e]),
                      z3.If(z3.And(need, first[e]), up_n, ol))
        v[("os", d, e)], v[("ol", d, e)] = new_s, new_n
    return any_of(cont), z3.Or(z3.Not(need), any_of(empty))



def _cut(k: int, lab: str, guard: z3.BoolRef, policy_cut: tuple[int, int] | None = None,
         slots_of: int | None = None) -> list[Branch]:
    """The reference can fire the operation here in a shape the bound leaves out
    (NOTE(extent-bound)): record that, and nothing else. `policy_cut`: (n, slots) when the
    cut is n frames under the policy in more buddies than `slots` (Branch.policy_cut);
    `slots_of`: the domain whose frames take more runs than its slots (Branch.slots_of)."""
    if z3.is_false(z3.simplify(guard)):
        return []
    return [Branch(k, lab, "cut", guard, {("cut",): z3.BoolVal(True)}, policy_cut=policy_cut,
                   slots_of=slots_of)]


def _frame_pick(e: ExtentEncoding, x: Any, i: int, tag: str,
                skip: int | None = None) -> tuple[z3.BoolRef, z3.BoolRef]:
    """(a frame is free to hand out, x is the one the heap hands out): any free frame under
    placement `any`, the policy's frame under a policy."""
    if e.policy is None or e.relax:
        free = e.free_range(x, e.bv(1), i)
        return free, free
    exists, pinned, blk = policy_block(e, 0, e.policy, i, (tag,), skip)
    return exists, z3.And(exists, pinned, x == blk)


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
    from checker import encode_extent_grants as grants

    return grants.op_branches(e, k, op, lab, i)


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
        if e.keep_ids:
            common[("id", d)] = nid
    if dom.decl is m.DirectMap.HOOK:
        goes = (e.var(("next_id",), i) == dom.hook_id) if dom.hook_id is not None else \
            z3.BoolVal(False)
        common[("direct", d)] = goes
    else:
        goes = z3.BoolVal(dom.decl is not m.DirectMap.NONE)
    out: list[Branch] = []
    if e.statics[d]:
        # static memory: always succeeds, it is reserved for d (docs/semantics.md)
        regs = e.statics[d]
        w = dict(common)
        for x in range(e.nx[d]):
            lo, c = regs[x] if x < len(regs) else (0, 0)
            w[("os", d, x)], w[("ol", d, x)] = e.bv(lo), e.bv(c)
        if dom.may_direct:
            for r in range(RUNS):
                lo, c = regs[r] if r < len(regs) else (0, 0)
                w[("ri", d, r)] = z3.If(goes, e.bv(lo), e.bv(0))
                w[("rm", d, r)] = z3.If(goes, e.bv(lo), e.bv(0))
                w[("rc", d, r)] = z3.If(goes, e.bv(c), e.bv(0))
        return [Branch(k, lab, "ok", base, w)]
    if dom.may_direct:
        size = 1 << dom.order
        blk = e.choice(("blk",), i)
        ok = dom.order <= e.model.hypervisor.max_order
        aligned = z3.Extract(dom.order - 1, 0, blk) == 0 if dom.order > 0 else z3.BoolVal(True)
        pick = z3.And(z3.BoolVal(ok), aligned, e.free_range(blk, e.bv(size), i))
        if e.policy is not None and not e.relax:
            exists, pinned, pblk = policy_block(e, dom.order, e.policy, i, ("blk",), skip=d)
            pick = z3.And(pick, exists, pinned, blk == pblk)
        w = dict(common)
        for x in range(e.nx[d]):
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
        starts += [os_ + ol for x in e.heap_doms for os_, ol in
                   (e.ext(x, y, i) for y in range(e.nx[x]))]
        mask = e.bv(~(size - 1) & ((1 << 64) - 1))
        fits = any_of(e.free_range((g + (size - 1)) & mask, e.bv(size), i) for g in starts) \
            if ok else z3.BoolVal(False)
        out += _failure(e, k, m.OpKind.CREATE, d, lab, z3.And(base, goes, z3.Not(fits)), i)
    if dom.may_plain:
        n = dom.pages
        plain = z3.And(base, z3.Not(goes))
        short = z3.ULT(e.free_total(i), e.bv(n))
        w = dict(common)
        if dom.may_direct:
            for r in range(RUNS):
                for key in ("ri", "rm", "rc"):
                    w[(key, d, r)] = e.bv(0)
        if e.rb_varies(d):
            w[("rb", d)] = e.bv(0)
        if e.policy is not None and n == 1:
            x = e.choice(("cs", 0), i)
            _avail, pick = _frame_pick(e, x, i, "cs", skip=d)
            for y in range(e.nx[d]):
                w[("os", d, y)] = x if y == 0 else e.bv(0)
                w[("ol", d, y)] = e.bv(1) if y == 0 else e.bv(0)
            out.append(Branch(k, lab, "ok", z3.And(plain, pick), w,
                              choices=[("frames", frames_of([(x, e.bv(1))]))],
                              addresses=[_bv_obj(x)]))
        elif e.policy is None or e.relax:
            # any n free frames in the domain's slots; under a policy relaxed (NOTE(relaxed-
            # policy)) the request is a cut exactly where the policy's buddies outnumber them
            nx = EXTENTS if e.policy is None else e.nx[d]
            cs = [e.choice(("cs", x), i) for x in range(nx)]
            cl = [e.choice(("cl", x), i) for x in range(nx)]
            guard = [z3.Sum(cl) == n]
            for x in range(nx):
                guard.append(z3.ULE(cl[x], e.bv(n)))
                guard.append(z3.Or(cl[x] == 0, e.free_range(cs[x], cl[x], i)))
                guard.append(z3.Implies(cl[x] == 0, cs[x] == 0))
                for y in range(x + 1, nx):
                    if e.policy is None:  # canonical: ascending, with gaps
                        guard.append(z3.Or(cl[y] == 0, z3.ULT(cs[x] + cl[x], cs[y])))
                    else:  # any slots, as the policy fills them in its own order
                        guard.append(disjoint(cs[x], cl[x], cs[y], cl[y]))
            for x in range(nx):
                w[("os", d, x)] = cs[x]
                w[("ol", d, x)] = cl[x]
            out.append(Branch(k, lab, "ok", z3.And(plain, *guard), w,
                              choices=[("frames", frames_of(list(zip(cs, cl))))],
                              addresses=[_bv_obj(c) for c in cs]))
            if e.policy is not None:
                over = policy_over(e, n, e.policy, i, e.nx[d], skip=d)
                out += _cut(k, lab, z3.And(plain, over), (n, e.nx[d]))
        elif n > 1:
            fits, over, exts = policy_frames(e, n, e.policy, i, e.nx[d], skip=d)
            for y in range(e.nx[d]):
                w[("os", d, y)], w[("ol", d, y)] = exts[y]
            out.append(Branch(k, lab, "ok", z3.And(plain, fits), w,
                              choices=[("frames", frames_of(exts))]))
            # the policy's frames lie in more buddies than d has extent slots
            out += _cut(k, lab, z3.And(plain, over), (n, e.nx[d]))
        if e.policy is None and n > EXTENTS:
            # any n free frames: possibly more runs than EXTENTS
            out += _cut(k, lab, z3.And(plain, z3.Not(short)), slots_of=d)
        out += _failure(e, k, m.OpKind.CREATE, d, lab, z3.And(plain, short), i)
    return out


def _destroy(e: ExtentEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d = op.domain
    w: Writes = {("alive", d): z3.BoolVal(False)}
    if e.keep_ids:
        w[("id", d)] = z3.BitVecVal(0, e.var(("id", d), i).size())
    if e.has(("direct", d)):
        w[("direct", d)] = z3.BoolVal(False)
    if e.rb_varies(d):
        w[("rb", d)] = e.bv(0)
    for x in range(e.nx[d]):
        w[("os", d, x)] = e.bv(0)
        w[("ol", d, x)] = e.bv(0)
    if e.doms[d].may_direct:
        for r in range(RUNS):
            for key in ("ri", "rm", "rc"):
                w[(key, d, r)] = e.bv(0)
    # d's grant mappings go, and so do the mappings of d's frames in the other backends
    for b in range(e.nd):
        for g in range(e.ng[b]):
            gone = z3.BoolVal(True) if b == d else e.grant_from(b, g, d, i)
            if not z3.is_false(gone):
                drop_grant(e, w, b, g, gone, i)
    return [Branch(k, lab, "ok", e.alive(d, i), w)]


def drop_grant(e: ExtentEncoding, w: Writes, b: int, g: int, gone: z3.BoolRef, i: int) -> None:
    """Write grant slot g of backend b as unused when `gone` holds, else as it is."""
    gu, gi, gm = e.grant(b, g, i)
    w[("gu", b, g)] = z3.And(gu, z3.Not(gone))
    w[("gi", b, g)] = z3.If(gone, e.bv(0), gi)
    w[("gm", b, g)] = z3.If(gone, e.bv(0), gm)
    if len(e.fronts[b]) > 1:
        for f in e.fronts[b]:
            w[("gf", b, g, f)] = z3.And(e.var(("gf", b, g, f), i), z3.Not(gone))


def not_granted(e: ExtentEncoding, d: int, x: Any, n: Any, i: int) -> z3.BoolRef:
    """No frame of [x, x + n) is one d granted and a backend still maps (NOTE(granted-pages):
    such a page is not ballooned out)."""
    granted = e.granted_by(d, i)
    if not granted:
        return z3.BoolVal(True)
    return z3.Not(any_of(z3.And(used, within(gm, e.bv(1), x, n)) for used, gm in granted))


def conj(*xs: z3.BoolRef) -> z3.BoolRef:
    """And, leaving out the literal trues (so a model without grants gets the same terms)."""
    return all_of(x for x in xs if not z3.is_true(x))


def p2m_remove(e: ExtentEncoding, v: Vals, d: int, ipa: Any, n: int,
               i: int) -> tuple[z3.BoolRef, list[z3.BoolRef]]:
    """Balloon out the n IPAs from `ipa` of 1:1 domain d into `v` (its frames freed unless
    the balloon keeps them owned): (they lie in one p2m run and none is granted, the slots
    the result needs exist)."""
    N = e.bv(n)
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
    fires = conj(any_of(cont), not_granted(e, d, mfn, N, i))
    fits = [z3.Or(z3.Not(need), any_of(empty))]
    if e.model.hypervisor.balloon is not m.BalloonMode.KEEP_OWNED:
        fits += remove_frames(v, d, mfn, N)
    return fires, fits


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
        moves, fits = p2m_remove(e, v, d, ipa, n, i)
        fires = z3.And(alive, e.direct(d, i), moves)
        out.append(Branch(k, lab, "ok", z3.And(fires, *fits), v.w,
                          choices=[("ipa", read_int(ipa))], addresses=[_bv_obj(ipa)], moved=n))
        # n > 1 IPAs may span p2m runs
        out += _cut(k, lab, z3.And(alive, e.direct(d, i)) if n > 1 else
                    z3.And(fires, z3.Not(z3.And(fits))))
    if dom.may_plain:
        x = e.choice(("m",), i)
        v = Vals(e, i)
        held, slot = remove_frames(v, d, x, N)
        held = conj(held, not_granted(e, d, x, N, i))
        plain = z3.And(alive, z3.Not(e.direct(d, i)))
        out.append(Branch(k, lab, "ok", z3.And(plain, held, slot), v.w,
                          choices=[("frames", frames_of([(x, N)]))],
                          addresses=[_bv_obj(x)], moved=n))
        # the guest may give back any n frames it owns, not only a run
        out += _cut(k, lab, z3.And(plain, z3.UGE(e.owned_total(d, i), N)) if n > 1 else
                    z3.And(plain, held, z3.Not(slot)))
    return out


def _balloon_in(e: ExtentEncoding, k: int, op: m.Op, lab: str, i: int) -> list[Branch]:
    d, n = op.domain, op.pages
    dom = e.doms[d]
    N = e.bv(n)
    mode = e.model.hypervisor.balloon
    out: list[Branch] = []
    alive = e.alive(d, i)
    short = z3.ULT(e.pool_total(d, i), N)
    static = bool(e.statics[d])
    # a policy hands out a static domain's frames from its reserve, which the extent-level
    # policy encoding (the free heap's buddies) does not model: cut
    policy_pool = static and e.policy is not None
    if dom.may_direct:
        ipa = e.choice(("ipa",), i)
        # a run of n ballooned-out IPAs: inside the RAM range, no p2m run or grant mapping
        # over it
        hole = conj(any_of(within(ipa, N, lo, c) for lo, c in e.ram_ranges(d, i, True)),
                    z3.Not(e.populated_overlap(d, ipa, N, i)),
                    z3.BoolVal(True) if e.ng[d] == 0 else z3.Not(e.grant_ipa_overlap(d, ipa, N, i)))
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
            if n == 1 and not static:
                avail, pick = _frame_pick(e, x, i, "m")
            else:
                avail, pick = z3.Not(short), e.pool_range(d, x, N, i)
            slots = z3.And(add_run(v, x), add_extent(v, d, x, N))
            if (e.policy is None or n == 1) and not policy_pool:
                out.append(Branch(k, lab, "ok", z3.And(guard, pick, slots), v.w,
                                  choices=[ipa_choice, ("frames", frames_of([(x, N)]))],
                                  addresses=[_bv_obj(ipa), _bv_obj(x)], moved=n))
            # n > 1 frames need not be one run
            out += _cut(k, lab, z3.And(guard, avail) if n > 1 or policy_pool else
                        z3.And(guard, pick, z3.Not(slots)))
            out += _failure(e, k, m.OpKind.BALLOON_IN, d, lab, z3.And(guard, short), i,
                            choices=[ipa_choice])
        elif mode is m.BalloonMode.RELEASE_SAME:
            v = Vals(e, i)
            free = e.pool_range(d, ipa, N, i)
            slots = z3.And(add_run(v, ipa), add_extent(v, d, ipa, N))
            out.append(Branch(k, lab, "ok", z3.And(guard, free, slots), v.w,
                              choices=[ipa_choice], addresses=[_bv_obj(ipa)], moved=n))
            out += _cut(k, lab, z3.And(guard, free, z3.Not(slots)))
            out += _failure(e, k, m.OpKind.BALLOON_IN, d, lab, z3.And(guard, z3.Not(free)), i,
                            choices=[ipa_choice])
        else:
            v = Vals(e, i)
            mine = e.owned_cover(d, ipa, N, i) == N
            slot = add_run(v, ipa)
            out.append(Branch(k, lab, "ok", z3.And(guard, mine, slot), v.w,
                              choices=[ipa_choice], addresses=[_bv_obj(ipa)], moved=n))
            out += _cut(k, lab, z3.And(guard, mine, z3.Not(slot)))
            out += _failure(e, k, m.OpKind.BALLOON_IN, d, lab, z3.And(guard, z3.Not(mine)), i,
                            choices=[ipa_choice])
    if dom.may_plain:
        x = e.choice(("m",), i)
        # N ballooned-out IPAs: RAM IPAs with neither RAM (|owned| of them) nor a grant
        used = e.owned_total(d, i) if e.ng[d] == 0 else e.owned_total(d, i) + e.grant_count(d, i)
        room = z3.ULE(used + N, e.bv(dom.pages))
        guard2 = z3.And(alive, z3.Not(e.direct(d, i)), room)
        v = Vals(e, i)
        if n == 1 and not static:
            avail, pick = _frame_pick(e, x, i, "m")
        else:
            avail, pick = z3.Not(short), e.pool_range(d, x, N, i)
        slot = add_extent(v, d, x, N)
        if (e.policy is None or n == 1) and not policy_pool:
            out.append(Branch(k, lab, "ok", z3.And(guard2, pick, slot), v.w,
                              choices=[("frames", frames_of([(x, N)]))],
                              addresses=[_bv_obj(x)], moved=n))
        out += _cut(k, lab, z3.And(guard2, avail) if n > 1 or policy_pool else
                    z3.And(guard2, pick, z3.Not(slot)))
        out += _failure(e, k, m.OpKind.BALLOON_IN, d, lab, z3.And(guard2, short), i)
    return out


__all__ = ["disjoint", "inside", "op_branches"]
