"""A compiled form of the reference semantics for small page-level models: one int per state.

NOTE(packed-layout): a state is one Python int of fixed bit fields, lowest first:

    used[H]        a redundant mask of the heap frames some domain owns (H heap frames, heap
                   frame k is `self.frames[k]`); it is the union of the owned masks, so it never
                   makes two states differ, and the free heap is `HEAP ^ (s & HEAP)`
    pc, count      the scenario position
    per domain d, at `off[d]`, its *component*:
        alive[1] create_failed[1] balloon_in_failed[1] owned[H]
        (1:1 domains) base[bb]: the index of its block among the aligned blocks of the heap
                      (only when its rambase is its block); p2m[pages x pb]: 0 for a hole,
                      else 1 + the heap index of the frame mapped at offset o (IPA rambase + o)

A dead domain keeps only its failure flags. Each operation's outcome depends on its domain's
component, the free heap and the scenario position only, so its successors are memoised per
(component, the part of the free heap it looks at) as *deltas* (NOTE(packed-keys)): a
successor is `state + delta`. The failure flags live in
the component of their domain (the reference's sorted `failed` tuple is rebuilt by `decode`).

Everything reported (traces, witnesses, replay, ITF) comes from the reference semantics: the
explorer decodes packed states with `decode` and matches them against `Semantics.successors`.
`explore(..., cross_check=True)` compares every expanded state's packed successors and
property verdicts with the reference's.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

from checker import evaluate
from checker import extents as ex
from checker import placement as pl
from checker.extents import Extents
from checker.model import (
    BalloonMode,
    Choose,
    DirectMap,
    OpKind,
    PropertyKind,
    RambaseMode,
    Step,
)
from checker.semantics import DOM0, FAILED, Semantics, State

MAX_HEAP = 64  # heap frames a packed state may describe
SUPPORTED_PROPS = frozenset({
    PropertyKind.IPA_EQ_PA, PropertyKind.NO_FRAME_SHARED, PropertyKind.CREATE_SUCCEEDS,
    PropertyKind.BALLOON_IN_SUCCEEDS, PropertyKind.RAM_IN_HOST_RAM, PropertyKind.NO_IPA_OVERLAP,
})
ALIVE, F_CREATE, F_BIN, OWNED = 1, 2, 4, 3  # OWNED: the bit where the owned mask starts

Entry = tuple[tuple[int, ...], tuple[int, ...] | None]  # deltas, violation bits (None: none)
GroupEntry = tuple[tuple[int, ...], tuple[int, ...] | None, tuple[int, ...]]  # + op per delta
WHOLE, COMP, GROW, BLOCKS, OWN = 0, 1, 2, 3, 4  # memo key kinds (`Packed.key_kind`)


def supports(sem: Any) -> bool | str:
    """True when `sem` (a reference `Semantics`) has a packed form, else why not.

    The class: exact placement; at most MAX_HEAP heap frames; no static memory, no domain-id
    hook, no grants, unmaps or DMA; balloon mode release_any or release_same; every balloon
    operation of one page; domains 1:1 (`direct_map` always) or not; properties among the
    built-in per-domain and failure properties (no user invariants).
    """
    if not isinstance(sem, Semantics):
        return "not the reference semantics"
    if sem.placement != pl.EXACT:
        return f"placement {sem.placement} (only exact is packed)"
    if ex.count(sem.heap) > MAX_HEAP:
        return f"{ex.count(sem.heap)} heap frames (at most {MAX_HEAP} are packed)"
    if sem.track_ids:
        return "a domain-id hook"
    if sem.balloon not in (BalloonMode.RELEASE_ANY, BalloonMode.RELEASE_SAME):
        return f"balloon mode {sem.balloon.value}"
    for info in sem.doms:
        if info.static:
            return f"static memory ({info.name})"
        if info.direct_decl not in (DirectMap.NONE, DirectMap.ALWAYS):
            return f"direct_map {info.direct_decl.value} ({info.name})"
    for op in sem.ops:
        if op.kind in (OpKind.GRANT, OpKind.UNMAP, OpKind.DMA):
            return f"operation {op.kind.value}"
        if op.kind in (OpKind.BALLOON_OUT, OpKind.BALLOON_IN) and op.pages != 1:
            return f"{op.kind.value} of {op.pages} pages"
    for p in sem.model.properties:
        if p.kind not in SUPPORTED_PROPS:
            return f"property kind {p.kind.value}"
    return True


def _bits(n: int) -> int:
    """Bits to store values 0..n-1."""
    return max(0, (n - 1).bit_length())


class Packed:
    """The packed form of one reference `Semantics` (NOTE(packed-layout))."""

    def __init__(self, sem: Semantics) -> None:
        why = supports(sem)
        if why is not True:
            raise ValueError(f"no packed form: {why}")
        self.sem = sem
        self.frames = list(ex.frames(sem.heap))
        self.where = {f: k for k, f in enumerate(self.frames)}
        H = self.H = len(self.frames)
        self.HEAP = (1 << H) - 1
        npc = len(sem.stmts) + 1
        maxc = max([st.max_times for st in sem.stmts if isinstance(st, Choose)] + [1])
        self.pc_off = H
        self.pc_bits = _bits(npc)
        self.count_off = H + self.pc_bits
        self.count_bits = _bits(maxc)
        off = self.count_off + self.count_bits
        self.off: list[int] = []
        self.width: list[int] = []
        self.direct: list[bool] = []
        self.blocks: list[list[int]] = []  # per 1:1 domain: aligned heap blocks of its order
        self.base_bits: list[int] = []
        self.pb = _bits(H + 1)
        for info in sem.doms:
            direct = info.direct_decl is DirectMap.ALWAYS
            w = OWNED + H
            blocks: list[int] = []
            bb = 0
            if direct:
                size = 1 << info.order
                blocks = list(ex.aligned_blocks(sem.heap, info.order))
                blocks = [b for b in blocks if ex.contains_range(sem.heap, b, size)]
                if self._allocated(info.index):
                    bb = _bits(len(blocks))
                w += bb + info.pages * self.pb
            self.off.append(off)
            self.width.append(w)
            self.direct.append(direct)
            self.blocks.append(blocks)
            self.base_bits.append(bb)
            off += w
        self.bits = off
        self.groups = [tuple(g) for g in sem.symmetric_groups]
        self.member = {d for g in self.groups for d in g}
        self.props = list(sem.model.properties)
        self._dom_memo: dict[tuple[int, int], int] = {}
        self._memo: dict[tuple[int, int], dict[int, Entry]] = {}
        self._shared: dict[Any, Any] = {}

    def _allocated(self, d: int) -> bool:
        mode = self.sem.doms[d].rambase_mode
        return mode in (RambaseMode.ALLOCATED, RambaseMode.STATIC)

    # ---- fields ---------------------------------------------------------------------------

    def comp(self, s: int, d: int) -> int:
        return (s >> self.off[d]) & ((1 << self.width[d]) - 1)

    def pos(self, s: int) -> tuple[int, int]:
        pc = (s >> self.pc_off) & ((1 << self.pc_bits) - 1)
        count = (s >> self.count_off) & ((1 << self.count_bits) - 1)
        return pc, count

    def _mask(self, frames: Iterable[int]) -> int:
        m = 0
        for f in frames:
            m |= 1 << self.where[f]
        return m

    def _ext(self, mask: int) -> Extents:
        return ex.from_frames(self.frames[k] for k in range(self.H) if mask >> k & 1)

    def _rambase(self, d: int, c: int) -> int:
        if self._allocated(d):
            bi = (c >> (OWNED + self.H)) & ((1 << self.base_bits[d]) - 1)
            return self.blocks[d][bi]
        return self.sem.doms[d].rambase

    def _p2m_slots(self, d: int, c: int) -> list[int]:
        """Per offset: 0 (hole) or 1 + the heap index of the frame mapped there."""
        start = OWNED + self.H + self.base_bits[d]
        m = (1 << self.pb) - 1
        return [(c >> (start + o * self.pb)) & m for o in range(self.sem.doms[d].pages)]

    def _make(self, d: int, flags: int, owned: int, base_index: int = 0,
              slots: Sequence[int] = ()) -> int:
        c = ALIVE | flags | (owned << OWNED)
        if self.direct[d]:
            c |= base_index << (OWNED + self.H)
            start = OWNED + self.H + self.base_bits[d]
            for o, v in enumerate(slots):
                c |= v << (start + o * self.pb)
        return c

    # ---- reference states <-> packed ints ------------------------------------------------------

    def dom_value(self, d: int, c: int) -> Any:
        """The reference domain component (docs: NOTE(state-layout)) of packed component c."""
        if not c & ALIVE:
            return None
        owned = self._ext((c >> OWNED) & self.HEAP)
        info = self.sem.doms[d]
        if not self.direct[d]:
            return (0, False, info.rambase, (), owned, ())
        rb = self._rambase(d, c)
        runs = [(rb + o, self.frames[v - 1], 1) for o, v in enumerate(self._p2m_slots(d, c)) if v]
        return (0, True, rb, ex.p2m_normalize(runs), owned, ())

    def decode(self, s: int) -> State:
        sem = self.sem
        pc, count = self.pos(s)
        failed: list[tuple[str, int]] = []
        doms = []
        for d in range(sem.ndom):
            c = self.comp(s, d)
            if c & F_CREATE:
                failed.append(("create", d))
            if c & F_BIN:
                failed.append(("balloon_in", d))
            doms.append(self.dom_value(d, c))
        free = self._ext(self.HEAP ^ (s & self.HEAP))
        view = (pc, count, 0, tuple(sorted(failed)), None, free) + tuple(doms)
        return sem.encode(view)

    def encode(self, state: State) -> int:
        sem = self.sem
        view = sem.view(state)
        s: int = (view[0] << self.pc_off) | (view[1] << self.count_off)
        for d in range(sem.ndom):
            flags = (F_CREATE if ("create", d) in view[FAILED] else 0) | (
                F_BIN if ("balloon_in", d) in view[FAILED] else 0)
            dom = view[DOM0 + d]
            if dom is None:
                c = flags
            else:
                owned = self._mask(ex.frames(dom[4]))
                s |= owned
                bi = 0
                slots: list[int] = []
                if self.direct[d]:
                    rb = dom[2]
                    if self._allocated(d):
                        bi = self.blocks[d].index(rb)
                    slots = [0] * sem.doms[d].pages
                    for ipa, mfn, cnt in dom[3]:
                        for k in range(cnt):
                            slots[ipa + k - rb] = 1 + self.where[mfn + k]
                c = self._make(d, flags, owned, bi, slots)
            s |= c << self.off[d]
        return s

    def initial(self) -> int:
        return self.encode(self.sem.initial())

    # ---- symmetry ---------------------------------------------------------------------------

    def canonical(self, s: int) -> int:
        """Members of each symmetry group sorted by component (one representative per orbit)."""
        for g in self.groups:
            cs = sorted(self.comp(s, d) for d in g)
            for d, c in zip(g, cs):
                s += (c - self.comp(s, d)) << self.off[d]
        return s

    def orbit_size(self, s: int) -> int:
        total = 1
        for g in self.groups:
            counts: dict[int, int] = {}
            for d in g:
                c = self.comp(s, d)
                counts[c] = counts.get(c, 0) + 1
            n = math.factorial(len(g))
            for k in counts.values():
                n //= math.factorial(k)
            total *= n
        return total

    def unreduced(self, states: Iterable[int]) -> int:
        """The sum of the orbit sizes of `states` (a pair's orbit: 2 when its members differ)."""
        if len(self.groups) == 1 and len(self.groups[0]) == 2:
            d1, d2 = self.groups[0]
            o1, o2, m = self.off[d1], self.off[d2], (1 << self.width[d1]) - 1
            n = 0
            for s in states:
                n += 1 + ((s >> o1) & m != (s >> o2) & m)
            return n
        return sum(self.orbit_size(s) for s in states)

    # ---- properties -----------------------------------------------------------------------

    def dom_violations(self, d: int, c: int) -> int:
        """Bit i set when property i is violated by domain d's component alone."""
        key = (d, c)
        got = self._dom_memo.get(key)
        if got is not None:
            return got
        sem = self.sem
        dom = self.dom_value(d, c)
        bits = 0
        for i, p in enumerate(self.props):
            if not p.covers(d):
                continue
            if p.kind in evaluate.PER_DOMAIN:
                f = evaluate.dom_finding(sem, p.kind, dom, d)
            else:
                flag = F_CREATE if p.kind is PropertyKind.CREATE_SUCCEEDS else F_BIN
                f = (p.kind.value,) if c & flag else None
            if f is not None:
                bits |= 1 << i
        self._dom_memo[key] = bits
        return bits

    def violations(self, s: int) -> int:
        """Bit i set when property i is violated in s.

        NOTE(packed-pairs): no_frame_shared between two domains (a frame owned or mapped by
        both) cannot happen in the packed class: owned masks are disjoint by construction and
        every mapped frame is owned; the cross-check compares every verdict with the reference.
        """
        bits = 0
        for d in range(self.sem.ndom):
            bits |= self.dom_violations(d, self.comp(s, d))
        return bits

    # ---- successors -----------------------------------------------------------------------

    def op_table(self, pc: int, count: int) -> list[tuple[int, int, int, int, bool, dict[int, Entry]]]:
        """Per operation available at (pc, count): (op index, domain, offset, mask, needs alive,
        memo); the memo maps (component << H | free heap) to an Entry."""
        sem = self.sem
        out = []
        for oi in sem._avail[pc]:
            op = sem.ops[oi]
            d = op.domain
            memo = self._memo.setdefault((pc * 4096 + count, oi), {})
            out.append((oi, d, self.off[d], (1 << self.width[d]) - 1,
                        op.kind is not OpKind.CREATE, memo))
        return out

    def key_kind(self, oi: int) -> int:
        """How op oi's memo key is made from (component c, free heap).

        NOTE(packed-keys): the key holds only what the outcome depends on; the search joins
        consecutive operations of one domain with the same aliveness into one look-up when
        their kinds join (COMP with OWN or WHOLE; never GROW: its key drops c):

        0 (`WHOLE`): `c << H | free`; 1 (`COMP`): `c` (destroy and balloon_out do not look at
        the free heap); 2 (`GROW`): `class(c) << H | free` for the balloon_in of a domain that
        is not 1:1, whose outcome (and verdicts, which for such a domain depend on its flags
        only) depends on c only through alive, its balloon_in flag and whether it owns fewer
        than its pages; 3 (`BLOCKS`): `c << B | v` for the create of a 1:1 domain, v the bits
        of its B aligned heap blocks that are wholly free; 4 (`OWN`): `c << H | free & own(c)`
        for the release_same balloon_in of a 1:1 domain, own(c) its frames rambase..+pages.
        """
        op = self.sem.ops[oi]
        if op.kind in (OpKind.DESTROY, OpKind.BALLOON_OUT):
            return COMP
        if op.kind is OpKind.BALLOON_IN and not self.direct[op.domain]:
            return GROW
        if op.kind is OpKind.CREATE and self.direct[op.domain]:
            return BLOCKS
        if (op.kind is OpKind.BALLOON_IN and self.direct[op.domain]
                and self.sem.balloon is BalloonMode.RELEASE_SAME):
            return OWN
        return WHOLE

    def grow_class(self, d: int, c: int) -> int:
        """class(c) of key kind GROW: alive | balloon_in flag | 8 when it may grow; -1 when it
        may not grow (its balloon_in has no successor whatever is free)."""
        owned = (c >> OWNED) & self.HEAP
        if not c & ALIVE or owned.bit_count() >= self.sem.doms[d].pages:
            return -1
        return (c & (ALIVE | F_BIN)) | 8

    def own_mask(self, d: int, c: int) -> int:
        """The heap frames rambase..rambase+pages-1 of alive 1:1 domain d (key kind OWN)."""
        rb = self._rambase(d, c)
        return self._mask(f for f in range(rb, rb + self.sem.doms[d].pages) if f in self.where)

    def block_masks(self, d: int) -> list[int]:
        """Heap masks of the aligned blocks 1:1 domain d may be created in (key kind BLOCKS)."""
        size = 1 << self.sem.doms[d].order
        return [self._mask(range(b, b + size)) for b in self.blocks[d]]

    def key(self, kind: int, d: int, c: int, free: int) -> int:
        """The memo key of kind `kind` (see `key_kind`); the search inlines the same."""
        if kind == COMP:
            return c
        if kind == GROW:
            g = self.grow_class(d, c)
            return -1 if g < 0 else (g << self.H) | free
        if kind == BLOCKS:
            v = 0
            for m in self.block_masks(d):
                v = (v << 1) | (free & m == m)
            return (c << len(self.blocks[d])) | v
        if kind == OWN:
            return (c << self.H) | (free & self.own_mask(d, c))
        return (c << self.H) | free

    def group_entry(self, pc: int, count: int, ois: Sequence[int], c: int,
                    free: int) -> GroupEntry:
        """The entries of consecutive ops `ois` of one domain, concatenated (NOTE(packed-keys))."""
        deltas: list[int] = []
        vbits: list[int] = []
        ops: list[int] = []
        share = self._shared
        for oi in ois:
            ds, vb = self.entry(pc, count, oi, c, free)
            deltas.extend(share.setdefault(dl, dl) for dl in ds)
            vbits.extend(vb if vb is not None else [0] * len(ds))
            ops.extend([oi] * len(ds))
        # NOTE(packed-memory): the entries share their ints and op tuples (most deltas recur
        # across entries), which keeps the memos small beside the visited set
        vt = share.setdefault(tuple(vbits), tuple(vbits)) if any(vbits) else None
        return (tuple(deltas), vt, share.setdefault(tuple(ops), tuple(ops)))

    def entry(self, pc: int, count: int, oi: int, c: int, free: int) -> Entry:
        """The deltas of op `oi` from a state at (pc, count) whose domain component is c."""
        sem = self.sem
        op = sem.ops[oi]
        d = op.domain
        comps = self._outcomes(op.kind, d, c, free)
        if not comps:
            return ((), None)
        npc, ncount = sem._target(pc, count, oi)
        dpos = ((npc - pc) << self.pc_off) + ((ncount - count) << self.count_off)
        old_owned = (c >> OWNED) & self.HEAP
        deltas = []
        vbits = []
        for nc in comps:
            new_owned = (nc >> OWNED) & self.HEAP
            deltas.append(((nc - c) << self.off[d]) + new_owned - old_owned + dpos)
            vbits.append(self.dom_violations(d, nc))
        return (tuple(deltas), tuple(vbits) if any(vbits) else None)

    def _fail(self, d: int, c: int, flag: int, observed: bool) -> list[int]:
        return [c | flag] if observed and not c & flag else []

    def _outcomes(self, kind: OpKind, d: int, c: int, free: int) -> list[int]:
        """New components of domain d, one per successor, as `Semantics` yields them."""
        sem = self.sem
        info = sem.doms[d]
        H = self.H
        alive = c & ALIVE
        flags = c & (F_CREATE | F_BIN)
        owned = (c >> OWNED) & self.HEAP
        free_bits = [k for k in range(H) if free >> k & 1]
        if kind is OpKind.CREATE:
            if alive or c & F_CREATE:
                return []
            if self.direct[d]:
                size = 1 << info.order
                starts = pl.block_choices(self._ext(free), info.order, pl.EXACT, sem.max_order)
                out = []
                for b in starts:
                    blk = [self.where[b + o] for o in range(size)]
                    slots = [1 + self.where[b + o] for o in range(info.pages)]
                    bi = self.blocks[d].index(b) if self._allocated(d) else 0
                    out.append(self._make(d, flags, sum(1 << k for k in blk), bi, slots))
                return out or self._fail(d, c, F_CREATE, sem.obs_create[d])
            made = ALIVE | flags  # `_make` of a domain that is not 1:1, inlined
            out = [made | (sum(sub) << OWNED)
                   for sub in itertools.combinations([1 << k for k in free_bits], info.pages)]
            return out or self._fail(d, c, F_CREATE, sem.obs_create[d])
        if not alive:
            return []
        if kind is OpKind.DESTROY:
            return [flags]
        if kind is OpKind.BALLOON_OUT:
            if not self.direct[d]:
                return [c & ~(1 << (OWNED + k)) for k in range(H) if owned >> k & 1]
            slots = self._p2m_slots(d, c)
            out = []
            for o, v in enumerate(slots):
                if v:
                    new = list(slots)
                    new[o] = 0
                    out.append(self._rebuild(d, c, owned & ~(1 << (v - 1)), new))
            return out
        if kind is OpKind.BALLOON_IN:
            if not self.direct[d]:
                if info.pages - owned.bit_count() < 1:
                    return []
                out = [c | (1 << (OWNED + k)) for k in free_bits]
                return out or self._fail(d, c, F_BIN, sem.obs_balloon_in[d])
            slots = self._p2m_slots(d, c)
            rb = self._rambase(d, c)
            out = []
            for o, v in enumerate(slots):
                if v:
                    continue
                if sem.balloon is BalloonMode.RELEASE_ANY:
                    takes = free_bits
                else:
                    k = self.where.get(rb + o)
                    takes = [k] if k is not None and free >> k & 1 else []
                if not takes:
                    out.extend(self._fail(d, c, F_BIN, sem.obs_balloon_in[d]))
                for k in takes:
                    new = list(slots)
                    new[o] = 1 + k
                    out.append(self._rebuild(d, c, owned | (1 << k), new))
            return out
        raise ValueError(f"operation {kind.value} has no packed form")

    def _rebuild(self, d: int, c: int, owned: int, slots: Sequence[int]) -> int:
        bi = (c >> (OWNED + self.H)) & ((1 << self.base_bits[d]) - 1)
        return self._make(d, c & (F_CREATE | F_BIN), owned, bi, slots)

    def successors(self, s: int) -> list[tuple[int, int]]:
        """(op index, successor) for every transition of s, before any canonical form."""
        pc, count = self.pos(s)
        free = self.HEAP ^ (s & self.HEAP)
        out: list[tuple[int, int]] = []
        for oi, d, off, mask, _alive, memo in self.op_table(pc, count):
            c = (s >> off) & mask
            key = self.key(self.key_kind(oi), d, c, free)
            e = memo.get(key)  # never stored here: the search marks fired ops as it fills memos
            if e is None:
                e = self.entry(pc, count, oi, c, free)
            out.extend((oi, s + dl) for dl in e[0])
        return out


def is_single_loop(sem: Semantics) -> bool:
    """Whether the scenario is one `loop` (the position never changes)."""
    return len(sem.stmts) == 1 and not isinstance(sem.stmts[0], (Step, Choose))
