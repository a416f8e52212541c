"""The state of one model: its fields, the scenario, labels, and the views of a state (NOTE(state-layout))."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    RambaseMode,
    Statement,
    Step,
)
from checker.semantics_types import (
    COUNT,
    D_DIRECT,
    D_GRANTS,
    D_OWNED,
    D_RAM,
    D_RAMBASE,
    DMA_BAD,
    DOM0,
    EXACT_HEAP_FRAMES,
    EXACT_MAX_SUBSETS,
    FAILED,
    FREE,
    GUEST_RAM0_BASE,
    MEMO_LIMIT,
    NEXT_ID,
    PC,
    SD0,
    Action,
    DomInfo,
    DomState,
    Effect,
    State,
    View,
    _ceil_log2,
)


class StateBase:
    """What every part of `Semantics` reads: the model in frames, the scenario, states."""

    # NOTE(semantics-fields): set by Semantics.__init__ (semantics.py), _init_scenario and
    # _init_memo (semantics_step.py); declared here so that every part of the class sees them.
    model: Model
    shift: int
    balloon: BalloonMode
    max_order: int
    host_ram: Extents
    heap: Extents
    doms: tuple[DomInfo, ...]
    ndom: int
    track_ids: bool
    id_cap: int
    obs_create: tuple[bool, ...]
    obs_balloon_in: tuple[bool, ...]
    obs_dma: tuple[bool, ...]
    direct_orders: tuple[int, ...]
    has_grants: bool
    placement: str
    guest_mode: str
    exact: bool
    symmetric_groups: tuple[tuple[int, ...], ...]
    _perms: list[tuple[int, ...]]
    _members: frozenset[int]
    _loose: dict[tuple[int, int], bool]
    _subset_cache: dict[tuple[Extents, int], list[Extents]]
    _block_cache: dict[tuple[Extents, int], list[int]]
    stmts: tuple[Statement, ...]
    ops: tuple[Op, ...]
    op_stmt: tuple[int, ...]
    _labels: tuple[str, ...]
    _avail: tuple[tuple[int, ...], ...]
    _ids: dict[Any, int]
    _vals: list[Any]
    _memo: dict[tuple[Any, ...], list[Effect]]
    _free_memo: dict[tuple[int, int], int]
    _heap_id: int
    _tgt: dict[tuple[int, int, int], tuple[int, int]]
    _reads_of: tuple[tuple[int, ...], ...]
    _needs_free: tuple[bool, ...]
    _getters: tuple[Callable[[State], Any], ...]
    _fmemo: dict[tuple[Any, ...], Any]
    _dead_only: tuple[int, ...]
    _alive_only: tuple[int, ...]
    self_check: bool
    _fast_bin: tuple[bool, ...]
    _fast_create: tuple[bool, ...]
    _born: dict[tuple[int, int, int], tuple[Action, int]]
    _tpl: dict[tuple[int, int], tuple[bool, list[int]] | None]
    _fits_memo: dict[tuple[int, int, int], bool]
    _opts: dict[tuple[int, int], list[tuple[int, Extents]]]
    _grow: dict[tuple[int, int, int, int], tuple[Action, int]]

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
        self.ops = tuple(ops)
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
