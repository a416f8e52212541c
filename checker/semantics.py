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

NOTE(semantics-parts): `Semantics` is put together from one class per idea, each in its own
module: semantics_types (slots, fields, `Action`, `NotEnabled`), semantics_state (the model in
frames, the scenario, labels, views), semantics_choices (choice enumeration), semantics_ops
(the operations; NOTE(domid-rover), NOTE(granted-pages), NOTE(dma-bus)), semantics_fastpath
(NOTE(alloc-fast-path)), semantics_step (memoised successors, apply), semantics_props
(property verdicts), semantics_describe (steps in words), semantics_json (JSON forms) and
semantics_symmetry (canonical states). Every name other modules use is imported from here.
"""

from __future__ import annotations

from checker import extents as ex
from checker import placement as pl
from checker.model import DirectMap, Model, OpKind, PropertyKind
from checker.semantics_describe import Describing
from checker.semantics_json import JsonForms
from checker.semantics_props import Properties
from checker.semantics_step import Stepping
from checker.semantics_symmetry import Symmetry
from checker.semantics_types import (
    COUNT,
    D_DIRECT,
    D_GRANTS,
    D_ID,
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
    Choices,
    ChoiceValue,
    DomInfo,
    DomState,
    Effect,
    NotEnabled,
    State,
    View,
)

__all__ = [
    "COUNT",
    "DMA_BAD",
    "DOM0",
    "D_DIRECT",
    "D_GRANTS",
    "D_ID",
    "D_OWNED",
    "D_RAM",
    "D_RAMBASE",
    "EXACT_HEAP_FRAMES",
    "EXACT_MAX_SUBSETS",
    "FAILED",
    "FREE",
    "GUEST_RAM0_BASE",
    "MEMO_LIMIT",
    "NEXT_ID",
    "PC",
    "SD0",
    "Action",
    "ChoiceValue",
    "Choices",
    "DomInfo",
    "DomState",
    "Effect",
    "NotEnabled",
    "Semantics",
    "State",
    "View",
]


class Semantics(Stepping, Properties, Describing, JsonForms, Symmetry):
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
        self.doms = tuple(self._dom_info(d.index) for d in model.domains)
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
        self.symmetric_groups = (
            self._symmetric_groups() if symmetry else ()
        )
        self._perms = self._group_permutations()
        if self.has_grants and self.symmetric_groups and not self._perms:
            self.symmetric_groups = ()  # too many permutations to canonicalise grants between
        self._members = frozenset(d for g in self.symmetric_groups for d in g)
        self._loose = {}
        self._init_memo()
        self._subset_cache = {}
        self._block_cache = {}
