"""The page-level (exact) encoding: the state of docs/semantics.md as Boolean variables.

State at step i (keys of the `VarTable`, checker/encode.py):
  ("pc",) ("count",)         scenario position (small bit-vectors)
  ("next_id",)               only when some domain uses `direct_map when id == N`
  ("alive", d)               domain d is alive
  ("direct", d)              only for hook domains (otherwise derived from alive)
  ("id", d)                  d's domain id (0 when dead), only when ids are tracked and some
                             invariant reads `.id` (checker/encode_invariant.py)
  ("rb", d, c)               one-hot: d's rambase is candidate c (only when it can vary)
  ("own", d, f)              d owns frame f (f indexes `frames`: the heap, then static memory)
  ("map", d, s, f)           p2m slot s of a 1:1 domain maps frame f (at most one f per slot)
  ("failed", op, d)          recorded failures a declared property observes

NOTE(one-hot): every value that is a frame number in the reference state (rambase, each p2m
entry) is a one-hot vector over the few frames it can take, computed from the model: a p2m slot
of a heap 1:1 domain can hold `block + s` for each aligned candidate block (and, under
`release_any`, any heap frame). The SAT solver then sees a frame rule as plain Boolean
equalities, which propagate, instead of bit-vector equalities, which it has to prove equal
bit by bit; that is what makes the k-induction queries cheap.

A slot of a heap 1:1 domain is an offset from its rambase (IPA = rambase + s); a slot of a
static 1:1 domain is one static frame (IPA == that frame). Unpopulated slots map nothing and a
dead domain owns and maps nothing, so distinct symbolic states are distinct reference states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import z3

from checker import extents as ex
from checker import model as m
from checker.encode import (
    Branch,
    ChoiceReader,
    Scenario,
    VarKey,
    VarTable,
    and_,
    any_of,
    bits_for,
    flatten_ops,
    implies,
    model_bool,
    model_int,
    neg,
    or_,
    pb_eq,
    pb_le,
)

MAX_FRAMES = 4096  # page-level encoding limit (frames in the heap plus static memory)
MAX_MAP_VARS = 1 << 18  # p2m slot x frame variables per state
GUEST_RAM0_BASE = 0x40000000


def _ceil_log2(n: int) -> int:
    return max(0, (n - 1).bit_length())


@dataclass(frozen=True)
class Dom:
    """What the encoding needs from one domain declaration, in frames."""

    index: int
    name: str
    pages: int
    order: int
    decl: m.DirectMap
    hook_id: int | None
    rambase_mode: m.RambaseMode
    rambase: int  # fixed / layout / static frame (as docs/semantics.md)
    static: tuple[int, ...]  # its static frames, ascending

    @property
    def may_direct(self) -> bool:
        return self.decl is not m.DirectMap.NONE

    @property
    def may_plain(self) -> bool:
        return self.decl in (m.DirectMap.NONE, m.DirectMap.HOOK)


def heap_frames(model: m.Model) -> tuple[ex.Extents, ex.Extents]:
    """(heap, static) as extents: RAM minus reserved, static memory and frame 0 (§5.2)."""
    sh = model.page_size.bit_length() - 1
    ram = ex.normalize((r.base >> sh, r.size >> sh) for r in model.platform.ram)
    holes = ex.normalize((r.base >> sh, r.size >> sh) for r in model.platform.reserved)
    statics = ex.normalize((r.base >> sh, r.size >> sh) for d in model.domains for r in d.static_mem)
    heap = ex.difference(ex.difference(ex.difference(ram, holes), statics), ((0, 1),))
    return heap, statics


def reads_ids(model: m.Model) -> bool:
    """Some invariant of the model reads a domain's `.id`."""
    def reads(e: m.Expr) -> bool:
        if isinstance(e, m.Attr):
            return e.name == "id" or reads(e.obj)
        if isinstance(e, m.Quant):
            return reads(e.body)
        if isinstance(e, m.Interval):
            return reads(e.lo) or reads(e.hi)
        if isinstance(e, m.BinOp):
            return reads(e.left) or reads(e.right)
        if isinstance(e, m.Not):
            return reads(e.operand)
        return False
    return any(p.expr is not None and reads(p.expr) for p in model.properties)


def page_level_size(model: m.Model) -> tuple[int, int]:
    """(frames, p2m and grant variables per state) the page-level encoding needs, computed
    from extents only."""
    heap, statics = heap_frames(model)
    nheap = ex.count(heap)
    nframes = nheap + ex.count(statics)
    mapvars = 0
    for d in model.domains:
        if d.wants_direct_map:
            slots = sum(r.size for r in d.static_mem) // model.page_size or d.pages
            per = nframes if model.hypervisor.balloon is m.BalloonMode.RELEASE_ANY else 8
            mapvars += slots * min(per, nframes)
    backends = {op.peer for _j, op in flatten_ops(model.scenario)
                if op.kind is m.OpKind.GRANT and op.peer is not None}
    for b in backends:
        mapvars += model.domains[b].pages * nframes  # grant slots
    return nframes, mapvars


class StateVars:
    """What both encodings share: the state's keys, their Z3 constants at step i, and the
    aliveness / direct-mapping views every operation reads."""

    doms: list[Dom]
    table: VarTable
    scn: Scenario
    ops: list[tuple[int, m.Op]]
    _keycache: list[tuple[VarKey, z3.SortRef]]
    _sortof: dict[VarKey, z3.SortRef]

    @property
    def _keys(self) -> list[tuple[VarKey, z3.SortRef]]:
        return self._keycache

    def var(self, key: VarKey, i: int) -> Any:
        return self.table.get(key, i, self._sortof[key])

    def has(self, key: VarKey) -> bool:
        return key in self._sortof

    def alive(self, d: int, i: int) -> z3.BoolRef:
        return self.var(("alive", d), i)

    def direct(self, d: int, i: int) -> z3.BoolRef:
        decl = self.doms[d].decl
        if decl is m.DirectMap.HOOK:
            return self.var(("direct", d), i)
        if decl is m.DirectMap.NONE:
            return z3.BoolVal(False)
        return self.alive(d, i)

    def op_branches(self, k: int, op: m.Op, i: int) -> list[Branch]:
        """The ways operation number k (`op`) fires from state i, scenario aside."""
        raise NotImplementedError

    def branches(self, i: int) -> list[Branch]:
        """Every way a step from state i can go: each operation's branches, guarded by the
        scenario position that enables it and moving that position on."""
        out: list[Branch] = []
        pc, cnt = self.var(("pc",), i), self.var(("count",), i)
        for k, (j, op) in enumerate(self.ops):
            at, pc2, cnt2 = self.scn.fire(j, pc, cnt)
            if z3.is_false(at):
                continue
            for br in self.op_branches(k, op, i):
                br.guard = and_(at, br.guard)
                br.writes[("pc",)] = pc2
                br.writes[("count",)] = cnt2
                out.append(br)
        return out

    def initial_values(self, i: int = 0) -> list[tuple[z3.ExprRef, z3.ExprRef]]:
        """(variable, value) for every state variable of the initial state: all false or 0,
        but the next domain id, 1."""
        out: list[tuple[z3.ExprRef, z3.ExprRef]] = []
        for key, sort in self._keys:
            v = self.var(key, i)
            if sort == z3.BoolSort():
                out.append((v, z3.BoolVal(False)))
            else:
                out.append((v, z3.BitVecVal(1 if key[0] == "next_id" else 0, v.size())))
        return out

    def init(self, i: int = 0) -> z3.BoolRef:
        return and_([v == x for v, x in self.initial_values(i)])


class PageEncoding(StateVars):
    """T(s, s') of docs/semantics.md over per-frame Boolean state."""

    def __init__(self, model: m.Model, observed: set[tuple[m.OpKind, int]]) -> None:
        self.model = model
        # placement `any`: every choice the heap allows; a policy: the allocator's one choice
        self.placement = {m.Placement.ANY: "exact", m.Placement.TOP_DOWN: "top-down",
                          m.Placement.BOTTOM_UP: "bottom-up"}[model.hypervisor.placement]
        self.shift = model.page_size.bit_length() - 1
        heap, statics = heap_frames(model)
        self.heap_ext = heap
        self.host_ram = ex.normalize(
            (r.base >> self.shift, r.size >> self.shift) for r in model.platform.ram)
        self.heap_pfns = list(ex.frames(heap))
        self.frames: list[int] = self.heap_pfns + list(ex.frames(statics))
        self.nheap = len(self.heap_pfns)
        self.index = {p: i for i, p in enumerate(self.frames)}
        self.observed = observed
        self.doms = [self._dom(d) for d in model.domains]
        self.nd = len(self.doms)
        self.table = VarTable()
        self.scn = Scenario(model.scenario)
        self.ops = flatten_ops(model.scenario)
        hooks = [d.hook_id for d in self.doms if d.decl is m.DirectMap.HOOK]
        self.track_id = bool(hooks)
        self.id_cap = max((h for h in hooks if h is not None), default=0) + 1
        self.keep_ids = self.track_id and reads_ids(model)
        self.blocks = {d.index: self._blocks(d) for d in self.doms}
        self.rb_cands = [self._rb_cands(d) for d in self.doms]
        self.nslots = [self._nslots(d) for d in self.doms]
        self.slot_frames = [[self._slot_frames(d, s) for s in range(self.nslots[d.index])]
                            for d in self.doms]
        # grant mappings: backend -> the frontends that grant to it; one slot per RAM IPA
        self.frontends: list[list[int]] = [[] for _ in self.doms]
        for _j, op in self.ops:
            if (op.kind is m.OpKind.GRANT and op.peer is not None and op.peer != op.domain
                    and op.domain not in self.frontends[op.peer]):
                self.frontends[op.peer].append(op.domain)
        self.ngslots = [max(d.pages, len(d.static)) if self.frontends[d.index] else 0
                        for d in self.doms]
        self.dma_observed = {d for p in model.properties
                             if p.kind is m.PropertyKind.DMA_REACHES_INTENDED
                             for d in range(len(self.doms)) if p.covers(d)}
        self._free: dict[tuple[int, int], z3.BoolRef] = {}
        self._buddy_cache: dict[tuple[int | None, int], list[tuple[int, int, z3.BoolRef]]] = {}
        self._keycache = self.state_keys()
        self._sortof = dict(self._keycache)

    # ---- static facts ---------------------------------------------------------------------------

    def _dom(self, d: m.Domain) -> Dom:
        sh = self.shift
        static = tuple(p for r in d.static_mem for p in range(r.base >> sh, r.end >> sh))
        static = tuple(sorted(set(static)))
        if d.rambase_mode is m.RambaseMode.STATIC and static:
            base = static[0]
        elif d.rambase is not None:
            base = d.rambase >> sh
        elif self.model.hypervisor.guest_ram:
            base = self.model.hypervisor.guest_ram[0].base >> sh
        else:
            base = GUEST_RAM0_BASE >> sh
        return Dom(d.index, d.name, d.pages, _ceil_log2(d.pages), d.direct_map, d.hook_id,
                   d.rambase_mode, base, static)

    def _blocks(self, d: Dom) -> list[int]:
        """Aligned blocks of d's order inside the heap (candidates for a 1:1 create)."""
        if not d.may_direct or d.static or d.order > self.model.hypervisor.max_order:
            return []
        return list(ex.aligned_blocks(self.heap_ext, d.order))

    def _direct_rb(self, d: Dom) -> bool:
        """Whether a 1:1 heap create sets rambase to the block (allocated / static mode)."""
        return d.rambase_mode in (m.RambaseMode.ALLOCATED, m.RambaseMode.STATIC)

    def _rb_cands(self, d: Dom) -> list[int]:
        out: list[int] = []
        if d.static:
            if d.may_direct:
                out.append(d.rambase if d.rambase_mode is m.RambaseMode.FIXED else d.static[0])
            if d.may_plain:
                out.append(d.rambase)
        else:
            if d.may_direct:
                out.extend(self.blocks[d.index] if self._direct_rb(d) else [d.rambase])
            if d.may_plain:
                out.append(d.rambase)
        return sorted(set(out))

    def _nslots(self, d: Dom) -> int:
        if not d.may_direct:
            return 0
        return len(d.static) if d.static else d.pages

    def slot_ipa_const(self, d: int, s: int) -> int | None:
        """The IPA of a static slot (== its frame), None for a rambase-relative slot."""
        dom = self.doms[d]
        return dom.static[s] if dom.static else None

    def _slot_frames(self, d: Dom, s: int) -> list[int]:
        """Frame indices p2m slot s of d can ever hold (NOTE(one-hot))."""
        mode = self.model.hypervisor.balloon
        out: set[int] = set()
        if d.static:
            own = [self.index[p] for p in d.static]
            if mode is m.BalloonMode.RELEASE_ANY:
                out.update(own)
            else:
                out.add(self.index[d.static[s]])
            return sorted(out)
        for b in self.blocks[d.index]:
            out.add(self.index[b + s])
        if mode is m.BalloonMode.RELEASE_ANY:
            out.update(range(self.nheap))
        else:
            for c in self.rb_cands[d.index]:
                f = self.index.get(c + s)
                if f is not None:
                    out.add(f)
        return sorted(out)

    # ---- state variables ------------------------------------------------------------------------

    def state_keys(self) -> list[tuple[VarKey, z3.SortRef]]:
        B = z3.BoolSort()
        keys = list(self.scn.state_keys())
        if self.track_id:
            keys.append((("next_id",), z3.BitVecSort(bits_for(self.id_cap))))
        for d, dom in enumerate(self.doms):
            keys.append((("alive", d), B))
            if dom.decl is m.DirectMap.HOOK:
                keys.append((("direct", d), B))
            if self.keep_ids:
                keys.append((("id", d), z3.BitVecSort(bits_for(self.id_cap))))
            if len(self.rb_cands[d]) > 1:
                keys += [(("rb", d, c), B) for c in self.rb_cands[d]]
            keys += [(("own", d, f), B) for f in range(len(self.frames))]
            for s in range(self.nslots[d]):
                keys += [(("map", d, s, f), B) for f in self.slot_frames[d][s]]
        for kind, d in sorted(self.observed, key=lambda x: (x[0].value, x[1])):
            keys.append((("failed", kind.value, d), B))
        for b in range(len(self.doms)):
            for s in range(self.ngslots[b]):
                keys += [(("gm", b, s, f), B) for f in range(len(self.frames))]
                keys += [(("gf", b, s, x), B) for x in self.frontends[b]]
        keys += [(("dmabad", d), B) for d in sorted(self.dma_observed)]
        return keys

    # ---- derived views of state i (alive, direct, var: StateVars) -------------------------------

    def rb_is(self, d: int, value: int, i: int) -> z3.BoolRef:
        """rambase(d) == value (false when d is dead)."""
        cands = self.rb_cands[d]
        if value not in cands:
            return z3.BoolVal(False)
        if len(cands) == 1:
            return self.alive(d, i)
        return self.var(("rb", d, value), i)

    def own(self, d: int, f: int, i: int) -> z3.BoolRef:
        return self.var(("own", d, f), i)

    def free(self, f: int, i: int) -> z3.BoolRef:
        """Frame f is in the free heap (static frames never are)."""
        if f >= self.nheap:
            return z3.BoolVal(False)
        key = (f, i)
        got = self._free.get(key)
        if got is None:
            got = self._free[key] = neg(any_of(self.own(d, f, i) for d in range(self.nd)))
        return got

    def pool(self, d: int, f: int, i: int) -> z3.BoolRef:
        """Frame f is where d's new frames come from: its unused static memory, else the heap."""
        dom = self.doms[d]
        if dom.static:
            if f < self.nheap or self.frames[f] not in dom.static:
                return z3.BoolVal(False)
            return neg(self.own(d, f, i))
        return self.free(f, i)

    def pool_frames(self, d: int) -> list[int]:
        dom = self.doms[d]
        if dom.static:
            return [self.index[p] for p in dom.static]
        return list(range(self.nheap))

    def mp(self, d: int, s: int, f: int, i: int) -> z3.BoolRef:
        if not self.has(("map", d, s, f)):
            return z3.BoolVal(False)
        return self.var(("map", d, s, f), i)

    def pop(self, d: int, s: int, i: int) -> z3.BoolRef:
        return any_of(self.var(("map", d, s, f), i) for f in self.slot_frames[d][s])

    def mapped(self, d: int, f: int, i: int) -> z3.BoolRef:
        """Frame f is mapped as d's RAM (1:1: by a p2m slot; otherwise: owned, NOTE(opaque-p2m))."""
        slots = [self.var(("map", d, s, f), i) for s in range(self.nslots[d])
                 if self.has(("map", d, s, f))]
        by_slot = any_of(slots)
        if not self.doms[d].may_plain:
            return by_slot
        return or_(and_(self.direct(d, i), by_slot),
                     and_(neg(self.direct(d, i)), self.own(d, f, i)))

    def slot_ipa_is(self, d: int, s: int, value: int, i: int) -> z3.BoolRef:
        """The IPA of slot s of d equals `value`."""
        c = self.slot_ipa_const(d, s)
        if c is not None:
            return z3.BoolVal(c == value)
        return self.rb_is(d, value - s, i)

    def gm(self, b: int, s: int, f: int, i: int) -> z3.BoolRef:
        return self.var(("gm", b, s, f), i)

    def gpop(self, b: int, s: int, i: int) -> z3.BoolRef:
        """IPA slot s of backend b holds a grant mapping."""
        if s >= self.ngslots[b]:
            return z3.BoolVal(False)
        return any_of(self.gm(b, s, f, i) for f in range(len(self.frames)))

    def granted(self, d: int, f: int, i: int) -> z3.BoolRef:
        """Frame f of d is grant-mapped by some backend (NOTE(granted-pages) in the
        reference: such a page is not ballooned out)."""
        hits = [and_(self.var(("gf", b, s, d), i), self.gm(b, s, f, i))
                for b in range(len(self.doms)) if d in self.frontends[b]
                for s in range(self.ngslots[b])]
        return or_(hits) if hits else z3.BoolVal(False)

    def ram_ipa_is(self, d: int, s: int, value: int, i: int) -> z3.BoolRef:
        """IPA slot s of d's RAM range (docs/semantics.md `ram_range`) equals value: the static
        frame of a 1:1 static domain, else rambase + s."""
        dom = self.doms[d]
        direct = self.direct(d, i)
        parts = []
        if dom.may_direct:
            if dom.static:
                at = z3.BoolVal(s < len(dom.static) and dom.static[s] == value)
            else:
                at = self.rb_is(d, value - s, i)
            parts.append(and_(direct, at))
        if dom.may_plain:
            parts.append(and_(neg(direct), z3.BoolVal(value - s == dom.rambase)))
        return or_(parts) if parts else z3.BoolVal(False)

    def failed(self, kind: m.OpKind, d: int, i: int) -> z3.BoolRef:
        if (kind, d) not in self.observed:
            return z3.BoolVal(False)
        return self.var(("failed", kind.value, d), i)

    # ---- choices of one step --------------------------------------------------------------------

    def choice(self, key: VarKey, i: int) -> z3.BoolRef:
        return self.table.get(("choice",) + key, i, z3.BoolSort())

    def take(self, f: int, i: int) -> z3.BoolRef:
        return self.choice(("take", f), i)

    def frames_reader(self, fs: list[int], i: int) -> ChoiceReader:
        bits = [self.take(f, i) for f in fs]
        pfns = [self.frames[f] for f in fs]

        def read(ev: Any) -> ex.Extents:
            return ex.from_frames(p for b, p in zip(bits, pfns) if z3.is_true(ev(b)))
        return read

    # ---- the transition relation --------------------------------------------------------------

    def op_branches(self, k: int, op: m.Op, i: int) -> list[Branch]:
        from checker import encode_page_ops as ops

        return ops.op_branches(self, k, op, i)

    # ---- reading back -------------------------------------------------------------------------

    def read_state(self, mdl: z3.ModelRef, i: int) -> dict[str, Any]:
        """A readable dump of symbolic state i (raw traces in bug reports)."""
        out: dict[str, Any] = {}
        for key, sort in self._keys:
            val = self.var(key, i)
            if sort != z3.BoolSort():
                out[".".join(str(x) for x in key)] = model_int(mdl, val)
                continue
            if not model_bool(mdl, val):
                continue
            tag = key[0]
            if tag in ("own", "map", "rb"):
                name = self.doms[key[1]].name
                if tag == "own":
                    out.setdefault(f"owned.{name}", []).append(self.frames[key[2]])
                elif tag == "map":
                    out.setdefault(f"p2m.{name}", {})[key[2]] = self.frames[key[3]]
                else:
                    out[f"rambase.{name}"] = key[2]
            else:
                out[".".join(str(x) for x in key)] = True
        return out

    # ---- structural lemmas ----------------------------------------------------------------------

    def max_owned(self, d: int) -> int:
        dom = self.doms[d]
        if dom.static:
            return len(dom.static)
        return max(dom.pages, 1 << dom.order) if dom.may_direct else dom.pages

    def lemma_candidates(self, i: int, stage: int = 1) -> list[z3.BoolRef]:
        """Facts every reachable state should satisfy; `smt._houdini` keeps the inductive ones
        (a candidate that is not inductive is dropped, never assumed). Stage 1: structural
        facts (dead domains hold nothing, one frame per p2m slot, one owner per frame...);
        stage 2: the cardinality bounds on what each domain owns, which cost the solver far
        more to show inductive and are tried only when stage 1 does not close the proof."""
        if stage == 2:
            return [pb_le([(self.own(d, f, i), 1) for f in range(len(self.frames))],
                            self.max_owned(d)) for d in range(self.nd)]
        out: list[z3.BoolRef] = [self.scn.wellformed(self.var(("pc",), i), self.var(("count",), i))]
        nf = len(self.frames)
        for d, dom in enumerate(self.doms):
            alive = self.alive(d, i)
            dead: list[z3.BoolRef] = [neg(self.own(d, f, i)) for f in range(nf)]
            for s in range(self.nslots[d]):
                dead += [neg(self.mp(d, s, f, i)) for f in self.slot_frames[d][s]]
            if len(self.rb_cands[d]) > 1:
                rbs = [self.var(("rb", d, c), i) for c in self.rb_cands[d]]
                dead += [neg(b) for b in rbs]
                out.append(implies(alive, pb_eq([(b, 1) for b in rbs], 1)))
            if self.has(("direct", d)):
                dead.append(neg(self.var(("direct", d), i)))
            if self.keep_ids:
                did = self.var(("id", d), i)
                dead.append(did == 0)
                out.append(implies(alive, and_(z3.UGE(did, 1), z3.ULE(did, self.id_cap))))
            out.append(implies(neg(alive), and_(dead)))
            for s in range(self.nslots[d]):
                sf = [self.mp(d, s, f, i) for f in self.slot_frames[d][s]]
                if len(sf) > 1:
                    out.append(pb_le([(b, 1) for b in sf], 1))
                if dom.may_plain:
                    out.append(implies(neg(self.direct(d, i)), neg(any_of(sf))))
            mine = {self.index[p] for p in dom.static}
            for f in range(self.nheap, nf):
                if f not in mine:
                    out.append(neg(self.own(d, f, i)))
            if dom.static:
                out += [neg(self.own(d, f, i)) for f in range(self.nheap)]
        for b in range(self.nd):
            for s in range(self.ngslots[b]):
                fr = [self.gm(b, s, f, i) for f in range(nf)]
                fe = [self.var(("gf", b, s, x), i) for x in self.frontends[b]]
                out.append(implies(neg(self.alive(b, i)), neg(or_(fr + fe))))
                out.append(pb_le([(x, 1) for x in fr], 1))
                out.append(pb_le([(x, 1) for x in fe], 1))
                out.append(or_(fr) == or_(fe))
        if len(self.dma_observed) > 1:
            out.append(pb_le([(self.var(("dmabad", d), i), 1) for d in self.dma_observed], 1))
        if self.nd > 1:
            for f in range(self.nheap):
                out.append(pb_le([(self.own(d, f, i), 1) for d in range(self.nd)], 1))
        if self.track_id:
            nid = self.var(("next_id",), i)
            out.append(and_(z3.UGE(nid, 1), z3.ULE(nid, self.id_cap)))
        return out

    # ---- allocator policies (top-down / bottom-up: encode_page_policy.py) ----------------------

    def policy(self) -> m.Placement:
        return self.model.hypervisor.placement
