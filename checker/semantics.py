"""The one reference semantics (docs/semantics.md): states, actions, the step function.

NOTE(state-layout): a *view* of a state is a flat tuple

    (pc, count, next_id, failed, dma_bad, free, dom_0, dom_1, ...)

- `failed`: sorted tuple of `(op, domain)` pairs, op "create" | "balloon_in";
- `dma_bad`: None or `(domain, ipa, intended_pa, reached_pa)` (frame numbers);
- `free`: the free heap as extents. It is a function of the rest (heap minus what the domains
  own) and is kept only so that no step recomputes it; it never makes two states differ;
- `dom_i`: None when domain i is not alive (every field reset), else the tuple
  `(id, direct, rambase, ram, owned, grants)`: ram is the p2m runs `(ipa, mfn, count)` of a
  direct-mapped domain (empty otherwise, NOTE(opaque-p2m)), owned the frames it owns, grants
  the sorted `(ipa, mfn, frontend)` grant mappings. Every address is a frame number.

A `State` is the same tuple with every component from `failed` on replaced by a small int: the
component is hash-consed in a table of its `Semantics` (NOTE(hash-consing)). So a state is a
dozen small ints, cheap to hash and to store by the million; it means something only to the
`Semantics` object that made it (`state_to_json` is the portable form, `view` the readable one).

NOTE(memo): an operation's outcome depends on a few components only (its domain, the free
heap, ...), so `successors` memoises, per operation and per those components, the list of
(action, components changed); a state's successors are then a few dict look-ups and tuple
copies. Property verdicts are memoised the same way (NOTE(findings) in evaluate.py).

An `Action` is `(op_index, op, choices)`; `choices` is a tuple of `(name, value)` pairs whose
value is an int or a frame set (extents).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, ClassVar, Final, NamedTuple

from checker import evaluate
from checker import extents as ex
from checker import placement as pl
from checker.extents import Extents, P2m
from checker.model import (
    BalloonMode,
    Choose,
    DirectMap,
    Model,
    Op,
    OpKind,
    Placement,
    Property,
    PropertyKind,
    RambaseMode,
    Step,
)

State = tuple[int, ...]
View = tuple[Any, ...]
DomState = tuple[int, bool, int, P2m, Extents, tuple[tuple[int, int, int], ...]]  # see D_*
ChoiceValue = int | Extents
Choices = tuple[tuple[str, ChoiceValue], ...]

PC, COUNT, NEXT_ID, FAILED, DMA_BAD, FREE, DOM0 = range(7)  # slots of a view
SD0 = 5  # slot of domain 0 in a state (a state has no `free` slot)
D_ID: Final = 0  # fields of an alive domain's component
D_DIRECT: Final = 1
D_RAMBASE: Final = 2
D_RAM: Final = 3
D_OWNED: Final = 4
D_GRANTS: Final = 5

EXACT_HEAP_FRAMES = 64  # `auto` enumerates exactly up to this many heap frames ...
EXACT_MAX_SUBSETS = 1 << 16  # ... when no frame request has more subsets than this
MEMO_LIMIT = 1 << 20  # memoised effects kept before the table is emptied
GUEST_RAM0_BASE = 0x40000000  # xen/include/public/arch-arm.h, the default rambase


class NotEnabled(Exception):
    """`apply` was given an action the state does not allow."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Action(NamedTuple):
    op_index: int
    op: Op
    choices: Choices


Effect = tuple[Action, tuple[tuple[int, int], ...]]


@dataclass(frozen=True)
class DomInfo:
    """What the semantics needs from a domain declaration, in frames."""

    index: int
    name: str
    pages: int
    order: int  # ceil(log2(pages)): the buddy order of a 1:1 block
    direct_decl: DirectMap
    hook_id: int | None
    rambase_mode: RambaseMode
    rambase: int  # frame the guest is told its RAM starts at (fixed / layout / static)
    static: Extents  # its static memory (never in the heap)
    dma_capable: bool
    swiotlb: bool


def _ceil_log2(n: int) -> int:
    return max(0, (n - 1).bit_length())


class Semantics:
    """Initial state, successors and properties of one model (docs/semantics.md)."""

    def __init__(self, model: Model, placement: str = "auto", symmetry: bool = True) -> None:
        self.model = model
        ps = model.page_size
        if ps <= 0 or ps & (ps - 1):
            raise ValueError(f"page size {ps} is not a power of two")
        self.shift = ps.bit_length() - 1
        sh = self.shift
        hv = model.hypervisor
        self.balloon = hv.balloon
        self.max_order = hv.max_order
        ram = ex.normalize((r.base >> sh, r.size >> sh) for r in model.platform.ram)
        self.host_ram = ram
        holes = ex.normalize((r.base >> sh, r.size >> sh) for r in model.platform.reserved)
        statics = ex.normalize(
            (r.base >> sh, r.size >> sh) for d in model.domains for r in d.static_mem
        )
        self.heap = ex.difference(ex.difference(ex.difference(ram, holes), statics), ((0, 1),))
        self.doms: tuple[DomInfo, ...] = tuple(self._dom_info(d.index) for d in model.domains)
        self.ndom = len(self.doms)
        hooks = [d.hook_id for d in self.doms if d.direct_decl is DirectMap.HOOK]
        self.track_ids = bool(hooks)
        self.id_cap = max((h for h in hooks if h is not None), default=0) + 1

        def observed(kind: PropertyKind, d: int) -> bool:
            return any(p.kind is kind and p.covers(d) for p in model.properties)

        self.obs_create = tuple(observed(PropertyKind.CREATE_SUCCEEDS, d) for d in range(self.ndom))
        self.obs_balloon_in = tuple(
            observed(PropertyKind.BALLOON_IN_SUCCEEDS, d) for d in range(self.ndom)
        )
        self.obs_dma = tuple(
            observed(PropertyKind.DMA_REACHES_INTENDED, d) for d in range(self.ndom)
        )
        self.direct_orders = tuple(
            sorted({d.order for d in self.doms if d.direct_decl is not DirectMap.NONE and not d.static})
        )
        self._init_scenario()
        self.has_grants = any(op.kind is OpKind.GRANT for op in self.ops)
        self.placement = self._resolve_placement(placement)
        self.guest_mode = pl.EXACT if self.placement == pl.EXACT else pl.CANDIDATES
        self.exact = self.placement == pl.EXACT or (
            self.placement in (pl.TOP_DOWN, pl.BOTTOM_UP) and self._guest_choices_small()
        )
        self.symmetric_groups: tuple[tuple[int, ...], ...] = (
            self._symmetric_groups() if symmetry else ()
        )
        self._perms = self._group_permutations()
        if self.has_grants and self.symmetric_groups and not self._perms:
            self.symmetric_groups = ()  # too many permutations to canonicalise grants between
        self._members = frozenset(d for g in self.symmetric_groups for d in g)
        self._loose: dict[tuple[int, int], bool] = {}
        self._init_memo()
        self._subset_cache: dict[tuple[Extents, int], list[Extents]] = {}
        self._block_cache: dict[tuple[Extents, int], list[int]] = {}

    # ---- construction helpers ---------------------------------------------------------------

    def _dom_info(self, i: int) -> DomInfo:
        d = self.model.domains[i]
        sh = self.shift
        static = ex.normalize((r.base >> sh, r.size >> sh) for r in d.static_mem)
        if d.rambase_mode is RambaseMode.STATIC and static:
            base = static[0][0]
        elif d.rambase is not None:
            base = d.rambase >> sh
        elif self.model.hypervisor.guest_ram:
            base = self.model.hypervisor.guest_ram[0].base >> sh
        else:
            base = GUEST_RAM0_BASE >> sh
        return DomInfo(
            index=i,
            name=d.name,
            pages=d.pages,
            order=_ceil_log2(d.pages),
            direct_decl=d.direct_map,
            hook_id=d.hook_id,
            rambase_mode=d.rambase_mode,
            rambase=base,
            static=static,
            dma_capable=d.dma_capable,
            swiotlb=d.swiotlb,
        )

    def _init_scenario(self) -> None:
        stmts = self.model.scenario.statements
        self.stmts = stmts
        ops: list[Op] = []
        op_stmt: list[int] = []
        for si, st in enumerate(stmts):
            alts = (st.op,) if isinstance(st, Step) else st.alternatives
            for op in alts:
                ops.append(op)
                op_stmt.append(si)
        self.ops: tuple[Op, ...] = tuple(ops)
        self.op_stmt = tuple(op_stmt)
        self._labels = tuple(self._label(op) for op in ops)
        avail: list[tuple[int, ...]] = []
        for pc in range(len(stmts) + 1):
            found: list[int] = []
            q = pc
            while q < len(stmts):
                found.extend(i for i, s in enumerate(op_stmt) if s == q)
                if isinstance(stmts[q], Step):
                    break
                q += 1
            avail.append(tuple(found))
        self._avail = tuple(avail)

    def _norm_pc(self, pc: int) -> int:
        while pc < len(self.stmts):
            st = self.stmts[pc]
            if isinstance(st, Choose) and st.max_times <= 0:
                pc += 1
                continue
            break
        return pc

    def _target(self, pc: int, count: int, oi: int) -> tuple[int, int]:
        """The scenario position after op `oi` fires at position (pc, count)."""
        q = self.op_stmt[oi]
        st = self.stmts[q]
        if isinstance(st, Step):
            return self._norm_pc(q + 1), 0
        if isinstance(st, Choose):
            c = (count if q == pc else 0) + 1
            return (self._norm_pc(q + 1), 0) if c >= st.max_times else (q, c)
        return q, 0

    def _resolve_placement(self, placement: str) -> str:
        if placement != "auto":
            if placement not in pl.MODES:
                raise ValueError(f"unknown placement {placement!r}; one of auto, {', '.join(pl.MODES)}")
            return placement
        policy = self.model.hypervisor.placement
        if policy is Placement.TOP_DOWN:
            return pl.TOP_DOWN
        if policy is Placement.BOTTOM_UP:
            return pl.BOTTOM_UP
        heap = ex.count(self.heap)
        if heap > EXACT_HEAP_FRAMES:
            return pl.CANDIDATES
        small = all(pl.comb_at_most(heap, n, EXACT_MAX_SUBSETS) for n in self._frame_request_sizes())
        return pl.EXACT if small else pl.CANDIDATES

    def _frame_request_sizes(self) -> set[int]:
        """Sizes of every n-frame request (not one block) the scenario can make of the heap."""
        sizes: set[int] = set()
        for op in self.ops:
            d = self.doms[op.domain]
            direct_possible = d.direct_decl is not DirectMap.NONE
            plain_possible = d.direct_decl in (DirectMap.NONE, DirectMap.HOOK)
            if op.kind is OpKind.CREATE and plain_possible and not d.static:
                sizes.add(d.pages)
            if op.kind is OpKind.BALLOON_IN and (
                plain_possible or (direct_possible and self.balloon is BalloonMode.RELEASE_ANY)
            ):
                sizes.add(op.pages)
        return sizes

    def _guest_choices_small(self) -> bool:
        """Whether every choice the guest (not the allocator) makes is enumerated in full."""
        for d in self.doms:
            if d.pages + ex.count(d.static) > pl.CANDIDATE_ALL:
                return False
        return not any(
            op.kind is OpKind.BALLOON_OUT
            and not pl.comb_at_most(self.doms[op.domain].pages, op.pages, pl.CANDIDATE_ALL)
            for op in self.ops
        )

    # ---- labels ---------------------------------------------------------------------------

    def _label(self, op: Op) -> str:
        name = self.model.domains[op.domain].name
        k = op.kind
        if k in (OpKind.BALLOON_OUT, OpKind.BALLOON_IN):
            return f"{k.value} {name} {op.pages}"
        if k is OpKind.GRANT:
            peer = self.model.domains[op.peer].name if op.peer is not None else "?"
            return f"grant {name} -> {peer}"
        if k is OpKind.DMA:
            return f"dma {name} {op.buffer}"
        return f"{k.value} {name}"

    def op_labels(self) -> list[str]:
        """The label of every scenario operation, indexed by `Action.op_index`."""
        return list(self._labels)

    def action_label(self, action: Action) -> str:
        return self._labels[action.op_index]

    # ---- views of a state -----------------------------------------------------------------

    def initial(self) -> State:
        view = (self._norm_pc(0), 0, 1 if self.track_ids else 0, (), None, self.heap) + (
            None,
        ) * self.ndom
        return self.encode(view)

    def _intern(self, value: Any) -> int:
        i = self._ids.get(value)
        if i is None:
            i = len(self._vals)
            self._ids[value] = i
            self._vals.append(value)
        return i

    def encode(self, view: View) -> State:
        """The state of a view (NOTE(hash-consing)); `free` is dropped, it is derived."""
        intern = self._intern
        return (view[PC], view[COUNT], view[NEXT_ID], intern(view[FAILED]),
                intern(view[DMA_BAD])) + tuple(intern(v) for v in view[DOM0:])

    def view(self, state: State) -> View:
        """The readable form of a state: every component as a value (NOTE(state-layout))."""
        vals = self._vals
        return (state[PC], state[COUNT], state[NEXT_ID], vals[state[FAILED]],
                vals[state[DMA_BAD]], vals[self._free_id(state)]) + tuple(
                    vals[i] for i in state[SD0:])

    def _free_id(self, state: State) -> int:
        """The free heap of a state: the heap minus every domain's frames.

        Memoised as a chain, heap -> minus dom_0 -> minus dom_1 ..., each link keyed by
        (free so far, domain component), so the links are shared between states.
        """
        memo = self._free_memo
        free = self._heap_id
        for i in state[SD0:]:
            if i:
                key = (free, i)
                got = memo.get(key)
                if got is None:
                    if len(memo) >= MEMO_LIMIT:
                        memo.clear()
                    got = memo[key] = self._intern(
                        ex.difference(self._vals[free], self._vals[i][D_OWNED]))
                free = got
        return free

    def ram_range(self, dom: DomState, d: int) -> Extents:
        """The IPA frames the guest is told are its RAM."""
        info = self.doms[d]
        if dom[D_DIRECT] and info.static:
            return info.static
        return ex.single(dom[D_RAMBASE], info.pages)

    def grant_ipas(self, dom: DomState) -> Extents:
        return ex.from_frames(g[0] for g in dom[D_GRANTS]) if dom[D_GRANTS] else ex.EMPTY

    def populated(self, dom: DomState, d: int) -> Extents:
        """IPA frames with a RAM mapping (grant mappings excluded)."""
        if dom[D_DIRECT]:
            return ex.p2m_ipas(dom[D_RAM])
        room = ex.difference(self.ram_range(dom, d), self.grant_ipas(dom))
        return ex.lowest(room, ex.count(dom[D_OWNED]))

    def p2m(self, dom: DomState, d: int) -> P2m:
        """The RAM p2m; for a domain that is not 1:1 it is derived (NOTE(opaque-p2m))."""
        if dom[D_DIRECT]:
            ram: P2m = dom[D_RAM]
            return ram
        return ex.zip_runs(self.populated(dom, d), dom[D_OWNED])

    def ballooned(self, dom: DomState, d: int) -> Extents:
        """Ballooned-out IPA frames: RAM IPAs with neither a RAM nor a grant mapping."""
        rng = self.ram_range(dom, d)
        return ex.difference(ex.difference(rng, self.populated(dom, d)), self.grant_ipas(dom))

    def mapped_frames(self, dom: DomState) -> Extents:
        """Machine frames mapped as the domain's RAM."""
        if dom[D_DIRECT]:
            return ex.p2m_mfns(dom[D_RAM])
        owned: Extents = dom[D_OWNED]
        return owned

    def _pool(self, st: View, dom: DomState | None, d: int) -> Extents:
        """Where a domain's new frames come from: its unused static memory, else the heap."""
        info = self.doms[d]
        if info.static:
            return ex.difference(info.static, dom[D_OWNED]) if dom is not None else info.static
        free: Extents = st[FREE]
        return free

    def _release(self, free: Extents, frames: Extents, d: int) -> Extents:
        """The free heap after `frames` leave domain d (static frames never enter the heap)."""
        if self.doms[d].static:
            frames = ex.intersection(frames, self.heap)
        return ex.union(free, frames)

    # ---- choice enumeration (successors) or validation (apply) ------------------------------

    def _frames_hints(self, st: View) -> list[Extents]:
        """Frames an adversary would take first (candidates only): the holes of 1:1 domains."""
        hints: list[Extents] = []
        for d, info in enumerate(self.doms):
            dom = st[DOM0 + d]
            if dom is not None and dom[D_DIRECT]:
                hints.append(ex.difference(self.ram_range(dom, d), ex.p2m_ipas(dom[D_RAM])))
            elif (dom is None and info.direct_decl is not DirectMap.NONE and not info.static
                  and info.rambase_mode is RambaseMode.FIXED):
                hints.append(ex.single(info.rambase, 1 << info.order))
        return hints

    def _pick_frames(
        self, st: View, pool: Extents, n: int, rec: dict[str, ChoiceValue] | None,
        name: str, guest: bool,
    ) -> list[Extents]:
        """Frame sets of size n from `pool` to try; with `rec`, the recorded one, validated."""
        mode = self.guest_mode if guest else self.placement
        if rec is not None:
            if name not in rec:
                if ex.count(pool) >= n:
                    raise NotEnabled(f"choice {name!r} is missing")
                return []
            v = rec.get(name)
            if not isinstance(v, tuple) or not ex.is_normal(v):
                raise NotEnabled(f"choice {name!r} must be a frame set")
            if ex.count(v) != n or not ex.subset(v, pool):
                raise NotEnabled(f"choice {name!r}: not {n} available frames")
            if mode in (pl.TOP_DOWN, pl.BOTTOM_UP):
                want = pl.frame_choices(pool, n, mode, self.max_order)
                if [v] != want:
                    raise NotEnabled(f"choice {name!r}: the {mode} policy takes other frames")
            return [v]
        if mode == pl.EXACT:
            key = (pool, n)
            got = self._subset_cache.get(key)
            if got is None:
                if len(self._subset_cache) > 200_000:
                    self._subset_cache.clear()
                got = pl.frame_choices(pool, n, mode, self.max_order)
                self._subset_cache[key] = got
            return got
        hints = self._frames_hints(st) if mode == pl.CANDIDATES and not guest else []
        return pl.frame_choices(pool, n, mode, self.max_order, self.direct_orders, hints)

    def _pick_block(self, st: View, order: int, rec: dict[str, ChoiceValue] | None,
                    d: int) -> list[int]:
        free: Extents = st[FREE]
        if rec is not None:
            if "block" not in rec:
                if ex.count_aligned(free, order):
                    raise NotEnabled("choice 'block' is missing")
                return []
            v = rec.get("block")
            if type(v) is not int:
                raise NotEnabled("choice 'block' must be a frame number")
            size = 1 << order
            if v % size or not ex.contains_range(free, v, size):
                raise NotEnabled(f"block {v:#x} is not a free aligned block of order {order}")
            if self.placement in (pl.TOP_DOWN, pl.BOTTOM_UP) and pl.block_choices(
                    free, order, self.placement, self.max_order) != [v]:
                raise NotEnabled(f"the {self.placement} policy allocates another block")
            return [v]
        if self.placement == pl.EXACT:
            key = (free, order)
            got = self._block_cache.get(key)
            if got is None:
                if len(self._block_cache) > 200_000:
                    self._block_cache.clear()
                got = pl.block_choices(free, order, pl.EXACT, self.max_order)
                self._block_cache[key] = got
            return got
        hints = [
            i.rambase for i in self.doms
            if i.rambase_mode is RambaseMode.FIXED and i.direct_decl is not DirectMap.NONE
        ]
        return pl.block_choices(free, order, self.placement, self.max_order, hints)

    def _pick_ipa(self, ipas: Extents, n: int, rec: dict[str, ChoiceValue] | None,
                  name: str = "ipa") -> list[int]:
        if rec is not None:
            if name not in rec:
                if pl.run_choices(ipas, n, False):
                    raise NotEnabled(f"choice {name!r} is missing")
                return []
            v = rec.get(name)
            if type(v) is not int:
                raise NotEnabled(f"choice {name!r} must be a frame number")
            if not ex.contains_range(ipas, v, n):
                raise NotEnabled(f"choice {name!r}: IPA frame {v:#x} is not eligible")
            return [v]
        return pl.run_choices(ipas, n, self.guest_mode == pl.EXACT)

    # ---- operations -----------------------------------------------------------------------

    def _fail(self, st: View, base: list[Any], what: str, d: int,
              choices: Choices) -> Iterator[tuple[Choices, View]]:
        """A failed operation: recorded only if a property observes it (docs/semantics.md)."""
        observed = (self.obs_create if what == "create" else self.obs_balloon_in)[d]
        new = list(base)
        changed = False
        if observed and (what, d) not in st[FAILED]:
            new[FAILED] = tuple(sorted(st[FAILED] + ((what, d),)))
            changed = True
        if what == "create" and self.track_ids:
            # NOTE(domid-rover): Xen hands out the domain id before the memory is allocated,
            # so a failed create still uses one up.
            new[NEXT_ID] = min(st[NEXT_ID] + 1, self.id_cap)
            changed = changed or new[NEXT_ID] != st[NEXT_ID]
        if changed:
            yield choices, tuple(new)

    def _op_create(self, st: View, base: list[Any], op: Op,
                   rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        d = op.domain
        if st[DOM0 + d] is not None:
            return
        if ("create", d) in st[FAILED]:
            return
        info = self.doms[d]
        nid = st[NEXT_ID]
        next_id = min(nid + 1, self.id_cap) if self.track_ids else 0
        direct = info.direct_decl in (DirectMap.ALWAYS, DirectMap.STATIC) or (
            info.direct_decl is DirectMap.HOOK and nid == info.hook_id
        )
        slot = DOM0 + d
        if info.static:
            owned = info.static
            ram: P2m = tuple((s, s, c) for s, c in owned) if direct else ()
            rambase = info.rambase if info.rambase_mode is RambaseMode.FIXED or not direct else owned[0][0]
            new = list(base)
            new[NEXT_ID] = next_id
            new[slot] = (nid, direct, rambase, ram, owned, ())
            yield (), tuple(new)
            return
        free: Extents = st[FREE]
        if direct:
            order = info.order
            if order <= self.max_order:
                blocks = self._pick_block(st, order, rec, d)
            elif rec is not None and "block" in rec:
                raise NotEnabled(f"order {order} exceeds max_order {self.max_order}")
            else:
                blocks = []
            if not blocks:
                yield from self._fail(st, base, "create", d, ())
                return
            size = 1 << order
            pages = info.pages
            allocated = info.rambase_mode is RambaseMode.ALLOCATED or (
                info.rambase_mode is RambaseMode.STATIC
            )
            for b in blocks:
                rb = b if allocated else info.rambase
                new = list(base)
                new[NEXT_ID] = next_id
                new[FREE] = ex.difference(free, ((b, size),))
                new[slot] = (nid, True, rb, ((rb, b, pages),), ((b, size),), ())
                yield (("block", b),), tuple(new)
            return
        sets = self._pick_frames(st, free, info.pages, rec, "frames", guest=False)
        if not sets:
            yield from self._fail(st, base, "create", d, ())
            return
        for fs in sets:
            new = list(base)
            new[NEXT_ID] = next_id
            new[FREE] = ex.difference(free, fs)
            new[slot] = (nid, False, info.rambase, (), fs, ())
            yield (("frames", fs),), tuple(new)

    def _op_destroy(self, st: View, base: list[Any], op: Op,
                    rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        d = op.domain
        dom = st[DOM0 + d]
        if dom is None:
            return
        new = list(base)
        new[FREE] = self._release(st[FREE], dom[D_OWNED], d)
        new[DOM0 + d] = None
        for e in range(self.ndom):
            other = st[DOM0 + e]
            if other is not None and other[D_GRANTS] and any(g[2] == d for g in other[D_GRANTS]):
                grants = tuple(g for g in other[D_GRANTS] if g[2] != d)
                new[DOM0 + e] = other[:D_GRANTS] + (grants,)
        yield (), tuple(new)

    def _balloon_out_one(self, st: View, new: list[Any], d: int, dom: DomState, n: int,
                         rec: dict[str, ChoiceValue] | None,
                         name: str) -> Iterator[tuple[Choices, DomState]]:
        """Balloon out n pages of `dom` into `new` (FREE updated); yields (choices, new dom)."""
        free: Extents = st[FREE]
        granted = self._granted(st, d)
        if dom[D_DIRECT]:
            ipas = ex.p2m_ipas(dom[D_RAM])
            if granted:
                # NOTE(granted-pages): a page the guest has granted is in use by the backend:
                # the guest does not balloon it out (and Xen would keep it referenced anyway).
                busy = ex.normalize(
                    (i + lo - m, hi - lo)
                    for i, m, c in dom[D_RAM]
                    for gs, gc in granted
                    for lo, hi in [(max(m, gs), min(m + c, gs + gc))]
                    if lo < hi
                )
                ipas = ex.difference(ipas, busy)
            for ipa in self._pick_ipa(ipas, n, rec, name):
                ram, unmapped = ex.p2m_remove(dom[D_RAM], ipa, n)
                if self.balloon is BalloonMode.KEEP_OWNED:
                    new[FREE] = free
                    yield ((name, ipa),), (dom[0], dom[1], dom[2], ram, dom[D_OWNED], dom[5])
                else:
                    new[FREE] = self._release(free, unmapped, d)
                    owned = ex.difference(dom[D_OWNED], unmapped)
                    yield ((name, ipa),), (dom[0], dom[1], dom[2], ram, owned, dom[5])
            return
        owned = dom[D_OWNED]
        for fs in self._pick_frames(st, ex.difference(owned, granted), n, rec, name, guest=True):
            new[FREE] = self._release(free, fs, d)
            yield ((name, fs),), (dom[0], dom[1], dom[2], (), ex.difference(owned, fs), dom[5])

    def _granted(self, st: View, d: int) -> Extents:
        """Frames of domain d that some backend has grant-mapped."""
        if not self.has_grants:
            return ex.EMPTY
        return ex.from_frames(
            g[1] for e in range(self.ndom) if st[DOM0 + e] is not None
            for g in st[DOM0 + e][D_GRANTS] if g[2] == d
        )

    def _op_balloon_out(self, st: View, base: list[Any], op: Op,
                        rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        d = op.domain
        dom = st[DOM0 + d]
        if dom is None:
            return
        name = "ipa" if dom[D_DIRECT] else "frames"
        new = list(base)
        for choices, ndom in self._balloon_out_one(st, new, d, dom, op.pages, rec, name):
            new[DOM0 + d] = ndom
            yield choices, tuple(new)

    def _op_balloon_in(self, st: View, base: list[Any], op: Op,
                       rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        d = op.domain
        dom = st[DOM0 + d]
        if dom is None:
            return
        n = op.pages
        slot = DOM0 + d
        free: Extents = st[FREE]
        holes = self.ballooned(dom, d)
        if not dom[D_DIRECT]:
            if ex.count(holes) < n:
                return
            pool = self._pool(st, dom, d)
            sets = self._pick_frames(st, pool, n, rec, "frames", guest=False)
            if not sets:
                yield from self._fail(st, base, "balloon_in", d, ())
                return
            for fs in sets:
                new = list(base)
                if not self.doms[d].static:
                    new[FREE] = ex.difference(free, fs)
                new[slot] = (dom[0], False, dom[2], (), ex.union(dom[D_OWNED], fs), dom[5])
                yield (("frames", fs),), tuple(new)
            return
        mode = self.balloon
        for ipa in self._pick_ipa(holes, n, rec):
            choice: Choices = (("ipa", ipa),)
            if mode is BalloonMode.RELEASE_ANY:
                pool = self._pool(st, dom, d)
                sets = self._pick_frames(st, pool, n, rec, "frames", guest=False)
                if not sets:
                    yield from self._fail(st, base, "balloon_in", d, choice)
                    continue
                for fs in sets:
                    new = list(base)
                    if not self.doms[d].static:
                        new[FREE] = ex.difference(free, fs)
                    ram = ex.p2m_add(dom[D_RAM], ipa, fs)
                    new[slot] = (dom[0], True, dom[2], ram, ex.union(dom[D_OWNED], fs), dom[5])
                    yield choice + (("frames", fs),), tuple(new)
                continue
            if rec is not None and "frames" in rec:
                raise NotEnabled(f"balloon mode {mode.value} takes no 'frames' choice")
            want = ((ipa, n),)
            if mode is BalloonMode.RELEASE_SAME:
                pool = self._pool(st, dom, d)
                if not ex.contains_range(pool, ipa, n):
                    yield from self._fail(st, base, "balloon_in", d, choice)
                    continue
                new = list(base)
                if not self.doms[d].static:
                    new[FREE] = ex.difference(free, want)
                owned = ex.union(dom[D_OWNED], want)
            else:  # KEEP_OWNED: populate maps mfn == gfn, which the domain must still own
                if not ex.contains_range(dom[D_OWNED], ipa, n):
                    yield from self._fail(st, base, "balloon_in", d, choice)
                    continue
                new = list(base)
                owned = dom[D_OWNED]
            ram = ex.p2m_add(dom[D_RAM], ipa, want)
            new[slot] = (dom[0], True, dom[2], ram, owned, dom[5])
            yield choice, tuple(new)

    def _op_grant(self, st: View, base: list[Any], op: Op,
                  rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        f, b = op.domain, op.peer
        if b is None or b == f:
            return
        fdom, bdom = st[DOM0 + f], st[DOM0 + b]
        if fdom is None or bdom is None:
            return
        frames = self.mapped_frames(fdom)
        if rec is not None:
            v = rec.get("frame")
            if type(v) is not int or not ex.contains(frames, v):
                raise NotEnabled("choice 'frame' must be a frame the frontend has mapped")
            frame_list = [v]
        else:
            frame_list = pl.run_choices(frames, 1, self.guest_mode == pl.EXACT)
        if not frame_list:
            return
        # The backend needs a ballooned-out IPA to map the grant at (Linux's
        # alloc_xenballooned_pages); it balloons one page out first if it has none.
        pre: list[tuple[Choices, Extents, DomState]] = []
        holes = self.ballooned(bdom, b)
        if holes:
            if rec is not None and "balloon" in rec:
                raise NotEnabled("the backend has a ballooned-out IPA: no 'balloon' choice")
            pre.append(((), st[FREE], bdom))
        else:
            scratch = list(base)
            name = "balloon"
            for ch, ndom in self._balloon_out_one(st, scratch, b, bdom, 1, rec, name):
                pre.append((ch, scratch[FREE], ndom))
        for pre_choice, free, ndom in pre:
            holes = self.ballooned(ndom, b)
            if ndom[D_DIRECT]:
                ipas = self._pick_ipa(holes, 1, rec)
            else:
                # NOTE(opaque-p2m): which IPA of a translated backend holds the grant makes no
                # difference to any property; it is the highest ballooned-out one.
                top = holes[-1][0] + holes[-1][1] - 1
                if rec is not None and rec.get("ipa") != top:
                    raise NotEnabled(f"choice 'ipa': the backend maps the grant at {top:#x}")
                ipas = [top]
            for fr in frame_list:
                for ipa in ipas:
                    new = list(base)
                    new[FREE] = free
                    grants = tuple(sorted(ndom[D_GRANTS] + ((ipa, fr, f),)))
                    new[DOM0 + b] = ndom[:D_GRANTS] + (grants,)
                    yield (("frame", fr),) + pre_choice + (("ipa", ipa),), tuple(new)

    def _op_unmap(self, st: View, base: list[Any], op: Op,
                  rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        b = op.domain
        dom = st[DOM0 + b]
        if dom is None or not dom[D_GRANTS]:
            return
        grants = dom[D_GRANTS]
        for ipa in self._pick_ipa(self.grant_ipas(dom), 1, rec):
            new = list(base)
            new[DOM0 + b] = dom[:D_GRANTS] + (tuple(g for g in grants if g[0] != ipa),)
            yield (("ipa", ipa),), tuple(new)

    def _op_dma(self, st: View, base: list[Any], op: Op,
                rec: dict[str, ChoiceValue] | None) -> Iterator[tuple[Choices, View]]:
        d = op.domain
        dom = st[DOM0 + d]
        info = self.doms[d]
        if dom is None or not info.dma_capable:
            return
        record = self.obs_dma[d] and st[DMA_BAD] is None
        if op.buffer == "grant":
            by_ipa = {g[0]: g[1] for g in dom[D_GRANTS]}
            for ipa in self._pick_ipa(self.grant_ipas(dom), 1, rec):
                intended = by_ipa[ipa]
                reached = intended if info.swiotlb else ipa
                new = list(base)
                if record and reached != intended:
                    new[DMA_BAD] = (d, ipa, intended, reached)
                yield (("ipa", ipa),), tuple(new)
            return
        p2m = self.p2m(dom, d)
        for ipa in self._pick_ipa(ex.p2m_ipas(p2m), 1, rec):
            intended = ex.p2m_lookup(p2m, ipa)
            assert intended is not None
            new = list(base)
            # NOTE(dma-bus): Linux's pfn_to_bfn is the identity for the domain's own pages, so
            # the device is given the IPA; without an IOMMU it reaches PA == bus address.
            if record and ipa != intended:
                new[DMA_BAD] = (d, ipa, intended, ipa)
            yield (("ipa", ipa),), tuple(new)

    # ---- the step function ----------------------------------------------------------------

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
        self._ids: dict[Any, int] = {None: 0}
        self._vals: list[Any] = [None]
        self._memo: dict[tuple[Any, ...], list[Effect]] = {}
        self._free_memo: dict[tuple[int, int], int] = {}
        self._heap_id = self._intern(self.heap)
        self._tgt: dict[tuple[int, int, int], tuple[int, int]] = {}
        self._reads_of = tuple(self._reads(op) for op in self.ops)
        self._needs_free = tuple(FREE in r for r in self._reads_of)
        # the state slots behind the view slots read (FREE is not stored: see _free_id)
        self._getters = tuple(
            itemgetter(*[(i - 1 if i >= DOM0 else i) for i in r if i != FREE])
            for r in self._reads_of
        )
        self._fmemo: dict[tuple[Any, ...], Any] = {}
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
        self._born: dict[tuple[int, int, int], tuple[Action, int]] = {}
        self._tpl: dict[tuple[int, int], tuple[bool, list[int]] | None] = {}
        self._fits_memo: dict[tuple[int, int, int], bool] = {}
        self._opts: dict[tuple[int, int], list[tuple[int, Extents]]] = {}
        self._grow: dict[tuple[int, int, int, int], tuple[Action, int]] = {}

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

    def _template(self, oi: int, dom_id: int) -> tuple[bool, list[int]] | None:
        """NOTE(alloc-fast-path): for a balloon_in whose frames come from the free heap,
        `(same, runs)`: `same` for release_same (frame == IPA), the IPA runs it may fill
        ([-1] for a domain that is not 1:1, [] when none); None for the general path."""
        key = (oi, dom_id)
        if key in self._tpl:
            return self._tpl[key]
        dom = self._vals[dom_id]
        op = self.ops[oi]
        d = op.domain
        tpl: tuple[bool, list[int]] | None
        if not dom[D_DIRECT]:
            tpl = (False, [-1] if ex.count(self.ballooned(dom, d)) >= op.pages else [])
        elif self.balloon is BalloonMode.RELEASE_ANY:
            tpl = (False, self._pick_ipa(self.ballooned(dom, d), op.pages, None))
        elif self.balloon is BalloonMode.RELEASE_SAME and not self.obs_balloon_in[d]:
            tpl = (True, self._pick_ipa(self.ballooned(dom, d), op.pages, None))
        else:
            tpl = None
        self._tpl[key] = tpl
        return tpl

    def _fits(self, free: int, ipa: int, n: int) -> bool:
        key = (free, ipa, n)
        got = self._fits_memo.get(key)
        if got is None:
            if len(self._fits_memo) >= MEMO_LIMIT:
                self._fits_memo.clear()
            got = self._fits_memo[key] = ex.contains_range(self._vals[free], ipa, n)
        return got

    def _create_template(self, oi: int, nid: int, failed: int) -> bool | None:
        """NOTE(alloc-fast-path) for the create of a domain that is not 1:1: None when not
        enabled (failure recorded), False when the general path must decide (it would be 1:1
        with this id), True when its frames are any n free frames."""
        d = self.ops[oi].domain
        if ("create", d) in self._vals[failed]:
            return None
        info = self.doms[d]
        return not (info.direct_decl is DirectMap.HOOK and nid == info.hook_id)

    def _newborn(self, oi: int, nid: int, fs_id: int, fs: Extents) -> tuple[Action, int]:
        d = self.ops[oi].domain
        action = Action(oi, self.ops[oi], (("frames", fs),))
        if len(self._born) >= MEMO_LIMIT:
            self._born.clear()
        got = self._born[(oi, nid, fs_id)] = (
            action, self._intern((nid, False, self.doms[d].rambase, (), fs, ())))
        return got

    def _options(self, free: int, n: int) -> list[tuple[int, Extents]]:
        key = (free, n)
        got = self._opts.get(key)
        if got is None:
            if len(self._opts) >= MEMO_LIMIT:
                self._opts.clear()
            sets = pl.frame_choices(self._vals[free], n, self.placement, self.max_order)
            got = self._opts[key] = [(self._intern(fs), fs) for fs in sets]
        return got

    def _grown(self, oi: int, dom_id: int, ipa: int, fs_id: int,
               fs: Extents, same: bool) -> tuple[Action, int]:
        """The action and new domain of a balloon_in taking frames `fs` (at `ipa` if 1:1)."""
        dom = self._vals[dom_id]
        op = self.ops[oi]
        owned = ex.union(dom[D_OWNED], fs)
        nd: DomState
        if ipa < 0:
            action = Action(oi, op, (("frames", fs),))
            nd = (dom[0], False, dom[2], (), owned, dom[5])
        else:
            choices: Choices = (("ipa", ipa),) if same else (("ipa", ipa), ("frames", fs))
            action = Action(oi, op, choices)
            nd = (dom[0], True, dom[2], ex.p2m_add(dom[D_RAM], ipa, fs), owned, dom[5])
        if len(self._grow) >= MEMO_LIMIT:
            self._grow.clear()
        got = self._grow[(oi, dom_id, ipa, fs_id)] = (action, self._intern(nd))
        return got

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

    _dispatch: ClassVar[dict[OpKind, Callable[..., Iterator[tuple[Choices, View]]]]] = {
        OpKind.CREATE: _op_create,
        OpKind.DESTROY: _op_destroy,
        OpKind.BALLOON_OUT: _op_balloon_out,
        OpKind.BALLOON_IN: _op_balloon_in,
        OpKind.GRANT: _op_grant,
        OpKind.UNMAP: _op_unmap,
        OpKind.DMA: _op_dma,
    }

    # ---- properties -------------------------------------------------------------------------

    def _covered(self, prop: Property) -> tuple[int, ...]:
        key = ("covered", prop.name, prop.kind, prop.domains)
        got = self._fmemo.get(key)
        if got is None:
            got = self._fmemo[key] = tuple(d for d in range(self.ndom) if prop.covers(d))
        covered: tuple[int, ...] = got
        return covered

    def _finding(self, kind: PropertyKind, d: int, slot_id: int) -> Any:
        """The memoised finding of a per-component check (NOTE(findings))."""
        key = (kind, d, slot_id)
        memo = self._fmemo
        if key in memo:
            return memo[key]
        value = self._vals[slot_id]
        if kind in evaluate.PER_DOMAIN:
            f = evaluate.dom_finding(self, kind, value, d)
        elif kind is PropertyKind.DMA_REACHES_INTENDED:
            f = evaluate.dma_finding(value, d)
        else:
            f = evaluate.failed_finding(kind, value, d)
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        memo[key] = f
        return f

    def violation(self, state: State, prop: Property) -> str | None:
        """None when the property holds in the state, else a witness (page, IPA, PA, region)."""
        kind = prop.kind
        if kind is PropertyKind.INVARIANT:
            return evaluate.violation(self, self.view(state), prop)
        covered = self._covered(prop)
        if kind in evaluate.PER_DOMAIN:
            slots = [SD0 + d for d in covered]
        elif kind is PropertyKind.DMA_REACHES_INTENDED:
            slots = [DMA_BAD] * len(covered)
        else:
            slots = [FAILED] * len(covered)
        for d, slot in zip(covered, slots):
            f = self._finding(kind, d, state[slot])
            if f is not None:
                return evaluate.witness(self, self.view(state), kind, d, f)
        if kind is PropertyKind.NO_FRAME_SHARED:
            memo = self._fmemo
            for d in covered:
                a = state[SD0 + d]
                if a == 0:
                    continue
                for e in range(self.ndom):
                    b = state[SD0 + e]
                    if e == d or b == 0:
                        continue
                    key = ("pair", a, b)
                    if key in memo:
                        f = memo[key]
                    else:
                        f = memo[key] = evaluate.pair_finding(self, self._vals[a], self._vals[b])
                    if f is not None:
                        return evaluate.witness(self, self.view(state), kind, d, f, other=e)
        return None

    # ---- describing steps -------------------------------------------------------------------

    def _pa(self, ext: Extents) -> str:
        sh = self.shift
        parts = [f"[{s << sh:#x}, {(s + c) << sh:#x})" for s, c in ext[:4]]
        more = f" and {len(ext) - 4} more extents" if len(ext) > 4 else ""
        return ", ".join(parts) + more + f" ({ex.count(ext)} pages)"

    def _runs(self, runs: Sequence[tuple[int, int, int]]) -> list[str]:
        sh = self.shift
        return [
            f"IPA [{i << sh:#x}, {(i + c) << sh:#x}) -> PA [{m << sh:#x}, {(m + c) << sh:#x})"
            for i, m, c in runs
        ]

    def describe(self, before: State, action: Action, after: State) -> tuple[str, ...]:
        """What the step changed: allocations, mappings, frees, failures (addresses in hex)."""
        out: list[str] = []
        sh = self.shift
        vb, va = self.view(before), self.view(after)
        for d, info in enumerate(self.doms):
            b, a = vb[DOM0 + d], va[DOM0 + d]
            name = info.name
            if b is None and a is None:
                continue
            if b is None:
                kind = "1:1" if a[D_DIRECT] else "not 1:1"
                ident = f"id {a[D_ID]}, " if self.track_ids else ""
                out.append(f"created {name} ({ident}{kind}, rambase {a[D_RAMBASE] << sh:#x})")
                out.append(f"allocated PA {self._pa(a[D_OWNED])} to {name}")
                out.extend(f"mapped {name} {r}" for r in self._runs(self.p2m(a, d)))
                continue
            if a is None:
                out.append(f"destroyed {name}; PA {self._pa(b[D_OWNED])} released")
                continue
            gained = ex.difference(a[D_OWNED], b[D_OWNED])
            lost = ex.difference(b[D_OWNED], a[D_OWNED])
            if gained:
                out.append(f"allocated PA {self._pa(gained)} to {name}")
            if lost:
                out.append(f"freed PA {self._pa(lost)} from {name}")
            pb, pa = self.p2m(b, d), self.p2m(a, d)
            if pb != pa:
                old, new = set(pb), set(pa)
                out.extend(f"unmapped {name} {r}" for r in self._runs(sorted(old - new)))
                out.extend(f"mapped {name} {r}" for r in self._runs(sorted(new - old)))
            gb, ga = set(b[D_GRANTS]), set(a[D_GRANTS])
            for i, m, f in sorted(ga - gb):
                out.append(f"{name} maps {self.doms[f].name}'s granted PA {m << sh:#x} "
                           f"at IPA {i << sh:#x}")
            for i, m, f in sorted(gb - ga):
                out.append(f"{name} unmaps the grant of PA {m << sh:#x} at IPA {i << sh:#x}")
        for op, d in va[FAILED]:
            if (op, d) not in vb[FAILED]:
                out.append(f"{op} {self.doms[d].name} FAILED (recorded)")
        if va[DMA_BAD] is not None and vb[DMA_BAD] is None:
            d, ipa, want, got = va[DMA_BAD]
            out.append(f"DMA of {self.doms[d].name} to IPA {ipa << sh:#x} reached PA "
                       f"{got << sh:#x} instead of PA {want << sh:#x}")
        if not out:
            out.append("no change to memory")
        return tuple(out)

    # ---- JSON -------------------------------------------------------------------------------

    def state_to_json(self, state: State) -> dict[str, Any]:
        """Plain JSON values; every address is a frame number (multiply by the page size)."""
        v = self.view(state)
        doms: dict[str, Any] = {}
        for d, info in enumerate(self.doms):
            dom = v[DOM0 + d]
            if dom is None:
                doms[info.name] = None
                continue
            entry: dict[str, Any] = {}
            if self.track_ids:
                entry["id"] = dom[D_ID]
            entry["direct"] = bool(dom[D_DIRECT])
            entry["rambase"] = dom[D_RAMBASE]
            entry["ram"] = [list(r) for r in dom[D_RAM]]
            entry["owned"] = _json_ext(dom[D_OWNED])
            entry["grants"] = [
                {"ipa": i, "frame": m, "frontend": self.doms[f].name} for i, m, f in dom[D_GRANTS]
            ]
            doms[info.name] = entry
        out: dict[str, Any] = {"pc": v[PC], "count": v[COUNT]}
        if self.track_ids:
            out["next_id"] = v[NEXT_ID]
        out["failed"] = [{"op": op, "domain": self.doms[d].name} for op, d in v[FAILED]]
        bad = v[DMA_BAD]
        out["dma_bad"] = None if bad is None else {
            "domain": self.doms[bad[0]].name, "ipa": bad[1], "intended": bad[2], "reached": bad[3]
        }
        out["domains"] = doms
        return out

    def _dom_index(self, name: Any, what: str) -> int:
        for i, info in enumerate(self.doms):
            if info.name == name:
                return i
        raise ValueError(f"{what}: unknown domain {name!r}")

    def state_from_json(self, obj: Any) -> State:
        """The state `state_to_json` wrote; ValueError with a reason on anything malformed."""
        req = {"pc", "count", "failed", "dma_bad", "domains"} | ({"next_id"} if self.track_ids else set())
        obj = _keys(obj, "state", req)
        pc = _int(obj["pc"], "state.pc")
        count = _int(obj["count"], "state.count")
        if pc > len(self.stmts) or pc != self._norm_pc(pc):
            raise ValueError(f"state.pc: {pc} is not a scenario position")
        stmt = self.stmts[pc] if pc < len(self.stmts) else None
        limit = stmt.max_times if isinstance(stmt, Choose) else 1
        if count >= limit:
            raise ValueError(f"state.count: {count} is out of range at position {pc}")
        next_id = _int(obj["next_id"], "state.next_id", 1) if self.track_ids else 0
        if next_id > self.id_cap:
            raise ValueError(f"state.next_id: saturates at {self.id_cap}")
        if not isinstance(obj["failed"], list):
            raise ValueError("state.failed: expected a list")  # noqa: TRY004
        failed: list[tuple[str, int]] = []
        for item in obj["failed"]:
            item = _keys(item, "state.failed[]", {"op", "domain"})
            if item["op"] not in ("create", "balloon_in"):
                raise ValueError(f"state.failed[]: unknown op {item['op']!r}")
            failed.append((item["op"], self._dom_index(item["domain"], "state.failed[]")))
        if len(set(failed)) != len(failed):
            raise ValueError("state.failed: duplicate entries")
        bad_obj = obj["dma_bad"]
        bad: tuple[int, int, int, int] | None = None
        if bad_obj is not None:
            bad_obj = _keys(bad_obj, "state.dma_bad", {"domain", "ipa", "intended", "reached"})
            bad = (self._dom_index(bad_obj["domain"], "state.dma_bad"),
                   _int(bad_obj["ipa"], "state.dma_bad.ipa"),
                   _int(bad_obj["intended"], "state.dma_bad.intended"),
                   _int(bad_obj["reached"], "state.dma_bad.reached"))
        doms_obj = obj["domains"]
        if not isinstance(doms_obj, dict) or set(doms_obj) != {i.name for i in self.doms}:
            raise ValueError("state.domains: expected one entry per domain, keyed by name")
        doms: list[DomState | None] = []
        taken: Extents = ()
        free = self.heap
        for d, info in enumerate(self.doms):
            e = doms_obj[info.name]
            if e is None:
                doms.append(None)
                continue
            what = f"state.domains.{info.name}"
            e = _keys(e, what, {"direct", "rambase", "ram", "owned", "grants"}
                      | ({"id"} if self.track_ids else set()))
            did = _int(e["id"], f"{what}.id") if self.track_ids else 0
            if type(e["direct"]) is not bool:
                raise ValueError(f"{what}.direct: expected true or false")
            rambase = _int(e["rambase"], f"{what}.rambase")
            if not isinstance(e["ram"], list) or not all(
                isinstance(r, list) and len(r) == 3 and all(type(x) is int and x >= 0 for x in r)
                and r[2] > 0 for r in e["ram"]
            ):
                raise ValueError(f"{what}.ram: expected a list of [ipa, frame, count] runs")
            ram = tuple((r[0], r[1], r[2]) for r in e["ram"])
            try:
                normal = ex.p2m_normalize(ram)
            except ValueError as err:
                raise ValueError(f"{what}.ram: {err}") from None
            if normal != ram:
                raise ValueError(f"{what}.ram: runs must be sorted and merged")
            if ram and not e["direct"]:
                raise ValueError(f"{what}.ram: only a 1:1 domain stores its p2m")
            owned = _ext_from_json(e["owned"], f"{what}.owned")
            if not ex.subset(owned, ex.union(self.heap, info.static)):
                raise ValueError(f"{what}.owned: frames outside the heap and its static memory")
            if ex.overlaps(owned, taken):
                raise ValueError(f"{what}.owned: frames owned by another domain too")
            taken = ex.union(taken, owned)
            free = ex.difference(free, owned)
            if not isinstance(e["grants"], list):
                raise ValueError(f"{what}.grants: expected a list")  # noqa: TRY004
            grants: list[tuple[int, int, int]] = []
            for g in e["grants"]:
                g = _keys(g, f"{what}.grants[]", {"ipa", "frame", "frontend"})
                grants.append((_int(g["ipa"], f"{what}.grants[].ipa"),
                               _int(g["frame"], f"{what}.grants[].frame"),
                               self._dom_index(g["frontend"], f"{what}.grants[]")))
            if grants != sorted(grants) or len({g[0] for g in grants}) != len(grants):
                raise ValueError(f"{what}.grants: must be sorted by IPA, one per IPA")
            doms.append((did, e["direct"], rambase, ram, owned, tuple(grants)))
        return self.encode((pc, count, next_id, tuple(sorted(failed)), bad, free) + tuple(doms))

    def action_to_json(self, action: Action) -> dict[str, Any]:
        choices: dict[str, Any] = {}
        for name, value in action.choices:
            choices[name] = value if isinstance(value, int) else _json_ext(value)
        return {"op_index": action.op_index, "label": self._labels[action.op_index],
                "choices": choices}

    def action_from_json(self, obj: Any) -> Action:
        obj = _keys(obj, "action", {"op_index", "label", "choices"})
        oi = _int(obj["op_index"], "action.op_index")
        if oi >= len(self.ops):
            raise ValueError(f"action.op_index: the scenario has {len(self.ops)} operations")
        if obj["label"] != self._labels[oi]:
            raise ValueError(
                f"action.label: operation #{oi} is {self._labels[oi]!r}, not {obj['label']!r}")
        if not isinstance(obj["choices"], dict):
            raise ValueError("action.choices: expected an object")  # noqa: TRY004
        choices: list[tuple[str, ChoiceValue]] = []
        for name, value in obj["choices"].items():
            if name not in _CHOICE_NAMES:
                raise ValueError(f"action.choices: unknown choice {name!r}")
            if type(value) is int:
                choices.append((name, _int(value, f"action.choices.{name}")))
            else:
                choices.append((name, _ext_from_json(value, f"action.choices.{name}")))
        return Action(oi, self.ops[oi], tuple(choices))

    # ---- symmetry ---------------------------------------------------------------------------

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


_CHOICE_NAMES = frozenset({"block", "frames", "ipa", "frame", "balloon"})


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


def _json_ext(ext: Extents) -> list[list[int]]:
    return [[s, c] for s, c in ext]


def _ext_from_json(v: Any, what: str) -> Extents:
    if not isinstance(v, list):
        raise ValueError(f"{what}: expected a list of [start, count] pairs")  # noqa: TRY004
    out: list[tuple[int, int]] = []
    for item in v:
        if not (isinstance(item, list) and len(item) == 2 and all(type(x) is int for x in item)):
            raise ValueError(f"{what}: {item!r} is not a [start, count] pair of integers")
        out.append((item[0], item[1]))
    ext = tuple(out)
    if not ex.is_normal(ext):
        raise ValueError(f"{what}: extents must be sorted, positive, disjoint and not touching")
    return ext


def _int(v: Any, what: str, lo: int = 0) -> int:
    if type(v) is not int or v < lo:
        raise ValueError(f"{what}: expected an integer >= {lo}, got {v!r}")
    return v


def _keys(obj: Any, what: str, required: set[str],
          optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError(f"{what}: expected an object")  # noqa: TRY004
    missing = required - obj.keys()
    extra = obj.keys() - required - optional
    if missing:
        raise ValueError(f"{what}: missing {', '.join(sorted(missing))}")
    if extra:
        raise ValueError(f"{what}: unexpected {', '.join(sorted(extra))}")
    return obj
