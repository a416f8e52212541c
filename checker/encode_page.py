"""The page-level (exact) encoding: one owner bit per (domain, frame), one p2m slot per RAM page.

State at step i (keys of the `VarTable`, see checker/encode.py):
  ("pc",) ("count",)                   scenario position
  ("next_id",)                         only when some domain uses `direct_map when id == N`
  ("alive", d)                         domain d is alive
  ("direct", d)                        only for hook domains (others: derived from alive)
  ("rambase", d)                       only for `rambase allocated` (others: a constant)
  ("own", d, f)                        domain d owns frame f (f indexes `self.frames`)
  ("pop", d, s) ("map", d, s)          p2m slot s of a direct domain: populated, machine PFN
  ("gpop", b, g) ("gipa", b, g) ("gmfn", b, g) ("gfe", b, g)
                                       grant mapping g of backend b: used, IPA, frame, frontend
  ("failed", kind, d)                  recorded failures a declared property observes
  ("dma_bad",)                         a DMA reached the wrong page (dma_reaches_intended)

Frames are every PFN of the heap (RAM banks minus reserved regions, static memory and frame 0)
plus every PFN of static memory. A slot of a heap-allocated direct domain is an offset from its
rambase (IPA = rambase + s); a slot of a static direct domain is one static PFN (IPA == PA).
Don't-care values are canonical (an unpopulated slot maps 0, a dead domain's rambase is 0) so
that distinct symbolic states are distinct reference states.
"""

from __future__ import annotations

from typing import Any

import z3

from checker import model as m
from checker.encode import (
    Branch,
    Scenario,
    VarKey,
    VarTable,
    all_of,
    any_of,
    bits_for,
    flatten_ops,
    model_bool,
    model_int,
)

MAX_FRAMES = 4096  # page-level encoding limit (frames in the heap plus static memory)
MAX_SLOTS = 4096  # total p2m slots of direct domains


def pfn_ranges(model: m.Model) -> tuple[list[int], set[int]]:
    """(sorted heap PFNs, static PFNs). NOTE: the heap excludes frame 0 (§5.2)."""
    ps = model.page_size
    shift = ps.bit_length() - 1
    holes: list[tuple[int, int]] = [(r.base >> shift, r.end >> shift) for r in model.platform.reserved]
    static: set[int] = set()
    for d in model.domains:
        for r in d.static_mem:
            static.update(range(r.base >> shift, r.end >> shift))
    heap: list[int] = []
    for bank in model.platform.ram:
        for p in range(bank.base >> shift, bank.end >> shift):
            if p == 0 or p in static or any(lo <= p < hi for lo, hi in holes):
                continue
            heap.append(p)
    return sorted(set(heap)), static


def page_level_size(model: m.Model) -> tuple[int, int]:
    """(frames, slots) the page-level encoding would need, computed without building lists."""
    shift = model.page_size.bit_length() - 1
    frames = sum(r.size >> shift for r in model.platform.ram)
    slots = sum(d.pages for d in model.domains if d.wants_direct_map)
    return frames, slots


class PageEncoding:
    """T(s, s') of docs/semantics.md over per-frame state. Built once per model and property."""

    placement = "exact"

    def __init__(self, model: m.Model, observed: set[tuple[m.OpKind, int]], track_dma: set[int]):
        self.model = model
        self.shift = model.page_size.bit_length() - 1
        self.heap_pfns, static = pfn_ranges(model)
        self.frames: list[int] = self.heap_pfns + sorted(static)
        self.nheap = len(self.heap_pfns)
        self.index = {p: i for i, p in enumerate(self.frames)}
        self.observed = observed
        self.track_dma = track_dma
        self.nd = len(model.domains)
        self.table = VarTable()
        self.scn = Scenario(model.scenario)
        self.ops = flatten_ops(model.scenario)
        hooks = [d.hook_id for d in model.domains if d.direct_map is m.DirectMap.HOOK]
        self.id_sat = max([h for h in hooks if h is not None] + [0]) + 1
        self.track_id = bool(hooks)
        # PFN width: everything the state can hold, with room for rambase + pages
        top = max([p for p in self.frames] + [0])
        for d in model.domains:
            if d.rambase is not None:
                top = max(top, (d.rambase >> self.shift) + d.pages)
        for r in model.hypervisor.guest_ram + model.hypervisor.windows:
            top = max(top, r.end >> self.shift)
        self.W = bits_for(top + max([d.pages for d in model.domains] + [1])) + 1
        self.slots: list[list[z3.ExprRef | None]] = []  # constant IPA of static slots
        self.nslots: list[int] = []
        for d in model.domains:
            if not d.wants_direct_map:
                self.nslots.append(0)
                self.slots.append([])
            elif d.static_mem:
                ipas = [p for r in d.static_mem for p in range(r.base >> self.shift, r.end >> self.shift)]
                self.nslots.append(len(ipas))
                self.slots.append([self.pfn(p) for p in ipas])
            else:
                self.nslots.append(d.pages)
                self.slots.append([None] * d.pages)
        self.grant_slots = [self._grant_bound(b) for b in range(self.nd)]

    # ---- values -------------------------------------------------------------------------------

    def pfn(self, p: int) -> z3.BitVecRef:
        return z3.BitVecVal(p, self.W)

    def _grant_bound(self, b: int) -> int:
        """How many grant mappings backend b can hold at once (each sits on a ballooned IPA)."""
        fronts = [d for d in self.model.domains if any(
            f.backend == self.model.domains[b].name for f in d.frontends)]
        if not fronts or not any(op.kind is m.OpKind.GRANT and op.peer == b for _, op in self.ops):
            return 0
        return self.model.domains[b].pages

    def state_keys(self) -> list[tuple[VarKey, z3.SortRef]]:
        B = z3.BoolSort()
        P = z3.BitVecSort(self.W)
        keys = list(self.scn.state_keys())
        if self.track_id:
            keys.append((("next_id",), z3.BitVecSort(bits_for(self.id_sat))))
        for d, dom in enumerate(self.model.domains):
            keys.append((("alive", d), B))
            if dom.direct_map is m.DirectMap.HOOK:
                keys.append((("direct", d), B))
            if dom.rambase_mode is m.RambaseMode.ALLOCATED:
                keys.append((("rambase", d), P))
            for f in range(len(self.frames)):
                keys.append((("own", d, f), B))
            for s in range(self.nslots[d]):
                keys.append((("pop", d, s), B))
                keys.append((("map", d, s), P))
        for kind, d in sorted(self.observed, key=lambda x: (x[0].value, x[1])):
            keys.append((("failed", kind.value, d), B))
        if self.track_dma:
            keys.append((("dma_bad",), B))
        return keys

    def v(self, key: VarKey, i: int) -> Any:
        for k, sort in self._keys:
            if k == key:
                return self.table.get(key, i, sort)
        raise KeyError(key)

    # populated lazily: a dict is faster than scanning the key list
    @property
    def _keys(self) -> list[tuple[VarKey, z3.SortRef]]:
        if not hasattr(self, "_keycache"):
            self._keycache = self.state_keys()
            self._sortof = dict(self._keycache)
        return self._keycache

    def var(self, key: VarKey, i: int) -> Any:
        self._keys
        return self.table.get(key, i, self._sortof[key])

    def has(self, key: VarKey) -> bool:
        self._keys
        return key in self._sortof

    # ---- derived views of state i -----------------------------------------------------------

    def alive(self, d: int, i: int) -> z3.BoolRef:
        return self.var(("alive", d), i)

    def direct(self, d: int, i: int) -> z3.BoolRef:
        dm = self.model.domains[d].direct_map
        if dm is m.DirectMap.HOOK:
            return self.var(("direct", d), i)
        if dm is m.DirectMap.NONE:
            return z3.BoolVal(False)
        return self.alive(d, i)

    def rambase(self, d: int, i: int) -> z3.BitVecRef:
        dom = self.model.domains[d]
        if dom.rambase_mode is m.RambaseMode.ALLOCATED:
            return self.var(("rambase", d), i)
        base = self._const_rambase(dom)
        return z3.If(self.alive(d, i), self.pfn(base), self.pfn(0))

    def _const_rambase(self, dom: m.Domain) -> int:
        if dom.rambase_mode is m.RambaseMode.STATIC and dom.static_mem:
            return dom.static_mem[0].base >> self.shift
        if dom.rambase is not None:
            return dom.rambase >> self.shift
        if dom.static_mem:
            return dom.static_mem[0].base >> self.shift
        if self.model.hypervisor.guest_ram:
            return self.model.hypervisor.guest_ram[0].base >> self.shift
        return 0

    def own(self, d: int, f: int, i: int) -> z3.BoolRef:
        return self.var(("own", d, f), i)

    def free(self, f: int, i: int) -> z3.BoolRef:
        if f >= self.nheap:
            return z3.BoolVal(False)
        return z3.Not(any_of(self.own(d, f, i) for d in range(self.nd)))

    def slot_ipa(self, d: int, s: int, i: int) -> z3.BitVecRef:
        c = self.slots[d][s]
        if c is not None:
            return c
        return self.rambase(d, i) + s

    def pop(self, d: int, s: int, i: int) -> z3.BoolRef:
        return self.var(("pop", d, s), i)

    def mp(self, d: int, s: int, i: int) -> z3.BitVecRef:
        return self.var(("map", d, s), i)

    def failed(self, kind: m.OpKind, d: int, i: int) -> z3.BoolRef:
        if (kind, d) not in self.observed:
            return z3.BoolVal(False)
        return self.var(("failed", kind.value, d), i)

    def is_free_pfn(self, x: z3.BitVecRef, i: int) -> z3.BoolRef:
        return any_of(z3.And(x == self.frames[f], self.free(f, i)) for f in range(self.nheap))

    def owned_by(self, d: int, x: z3.BitVecRef, i: int) -> z3.BoolRef:
        return any_of(z3.And(x == self.frames[f], self.own(d, f, i)) for f in range(len(self.frames)))

    # ---- initial state, well-formedness -------------------------------------------------------

    def init(self, i: int = 0) -> z3.BoolRef:
        parts: list[z3.BoolRef] = [self.scn.init(self.var(("pc",), i), self.var(("count",), i))]
        for key, sort in self._keys:
            if key[0] in ("pc", "count"):
                continue
            if key[0] == "next_id":
                parts.append(self.var(key, i) == 1)
            elif sort == z3.BoolSort():
                parts.append(z3.Not(self.var(key, i)))
            else:
                parts.append(self.var(key, i) == 0)
        return all_of(parts)

    # ---- choices of one step ------------------------------------------------------------------

    def choice(self, name: str, i: int, sort: z3.SortRef) -> Any:
        return self.table.get(("choice", name), i, sort)

    def take(self, f: int, i: int) -> z3.BoolRef:
        return self.table.get(("choice", "take", f), i, z3.BoolSort())

    def _frames_reader(self, i: int) -> Any:
        def read(mdl: z3.ModelRef) -> tuple[int, ...]:
            return tuple(self.frames[f] for f in range(self.nheap) if model_bool(mdl, self.take(f, i)))
        return read

    # ---- the transition relation --------------------------------------------------------------

    def branches(self, i: int) -> list[Branch]:
        """Every branch of step i -> i+1, with indicator-free guards and writes."""
        out: list[Branch] = []
        pc, cnt = self.var(("pc",), i), self.var(("count",), i)
        for k, (j, op) in enumerate(self.ops):
            at, pc2, cnt2 = self.scn.fire(j, pc, cnt)
            for br in self._op_branches(k, op, i):
                br.guard = z3.And(at, br.guard)
                br.writes[("pc",)] = pc2
                br.writes[("count",)] = cnt2
                out.append(br)
        return out

    def _label(self, op: m.Op) -> str:
        doms = self.model.domains
        name = doms[op.domain].name
        if op.kind is m.OpKind.GRANT:
            assert op.peer is not None
            return f"grant {name} -> {doms[op.peer].name}"
        if op.kind in (m.OpKind.BALLOON_OUT, m.OpKind.BALLOON_IN):
            return f"{op.kind.value} {name} {op.pages}"
        if op.kind is m.OpKind.DMA:
            return f"dma {name} {op.buffer}"
        return f"{op.kind.value} {name}"

    def _op_branches(self, k: int, op: m.Op, i: int) -> list[Branch]:
        from checker import encode_page_ops as ops

        return ops.op_branches(self, k, op, self._label(op), i)

    # ---- reading back -------------------------------------------------------------------------

    def read_state(self, mdl: z3.ModelRef, i: int) -> dict[str, Any]:
        """A readable dump of symbolic state i (for raw traces in bug reports)."""
        out: dict[str, Any] = {}
        for key, sort in self._keys:
            val = self.var(key, i)
            if key[0] == "own":
                if model_bool(mdl, val):
                    out.setdefault(f"own.{self.model.domains[key[1]].name}", []).append(
                        self.frames[key[2]])
                continue
            if key[0] in ("pop",):
                continue
            if key[0] == "map":
                if model_bool(mdl, self.pop(key[1], key[2], i)):
                    out.setdefault(f"p2m.{self.model.domains[key[1]].name}", {})[key[2]] = (
                        model_int(mdl, val))
                continue
            name = ".".join(str(x) for x in key)
            out[name] = model_bool(mdl, val) if sort == z3.BoolSort() else model_int(mdl, val)
        return out
