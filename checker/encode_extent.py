"""The extent-level encoding for real sizes (GiB of RAM, 4 KiB pages): frame numbers and counts
as 64-bit bit-vectors, each domain's frames as a bounded set of extents.

State at step i (keys of the `VarTable`, checker/encode.py):
  ("pc",) ("count",) ("next_id",)      as in the page-level encoding
  ("alive", d) ("direct", d)           alive; 1:1 established at creation (hook domains)
  ("id", d)                            d's domain id (0 when dead), only when ids are tracked
                                       and some invariant reads `.id`
  ("rb", d)                            rambase frame (only when it can vary: `allocated`)
  ("os", d, e) ("ol", d, e)            owned extent e of d: start frame, count (0 = unused)
  ("ri", d, r) ("rm", d, r) ("rc", d, r)
                                       p2m run r of a 1:1 domain: IPA frame, machine frame,
                                       count (0 = unused)
  ("gu", b, g) ("gi", b, g) ("gm", b, g)
                                       grant mapping g of backend b: used, IPA frame, the
                                       granted machine frame
  ("gf", b, g, f)                      that mapping was granted by frontend f (only when b has
                                       more than one frontend)
  ("failed", op, d)                    recorded failures a declared property observes
  ("dmabad", d)                        the first misdirected DMA among the observed domains
                                       was d's (as in the page-level encoding)

A domain with static memory owns its static regions (one extent each) and its p2m runs are
IPA == PA over them; its frames never enter the heap, so the free heap counts only the other
domains' extents.

NOTE(extent-bound): what the bound abstracts, and how the engine knows when it did. Each
domain holds at most `EXTENTS` owned extents and, if 1:1, at most `RUNS` p2m runs. Beyond
that, some requests are taken in one shape only: a multi-page request of an ordinary domain
takes its frames as at most `EXTENTS` runs (create under placement `any`) or one run
(balloon of n > 1 pages), a 1:1 balloon-out of n > 1 pages stays inside one p2m run, a 1:1
balloon-in under release_any takes one run; a multi-page request under an allocator policy
(`top-down`, `bottom-up`) is not encoded at all. Single-page operations and 1:1 blocks are
exact, under `any` (a symbolic naturally aligned base inside free heap, no candidate list)
and under the policies (NOTE(extent-buddies) in encode_extent_policy.py).

A backend holds at most `GRANTS` grant mappings (fewer when the scenario cannot grant it
that many: `grant_bound`); a grant beyond that is a `cut`.

Every operation that the reference can fire in a way the bound leaves out has a `cut`
branch: its guard is "the reference can fire it here, and not in a shape this encoding
holds" (exact for the slot limits, "it is enabled at all" for the shapes above), and it sets
the sticky Boolean ("cut",). The engine (smt.py, NOTE(cut)) checks P and not cut: if no cut
state is reachable, every behaviour of the reference is one of this encoding, and a proof is
a proof (`proved`, placement `symbolic` or the policy's name). Once a cut state is found the
encoding is an under-approximation from that depth on: a trace it finds is still a trace of
the model (and is replayed), but "no violation" covers only the behaviours within the bound
(`holds`), and a violation found at or past that depth is the shortest one within the bound.
"""

from __future__ import annotations

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
    all_of,
    any_of,
    bits_for,
    exactly_one,
    flatten_ops,
    model_bool,
    model_int,
    value_int,
)
from checker.encode_page import GUEST_RAM0_BASE, Dom, StateVars, heap_frames, reads_ids

EXTENTS = 4  # owned extents per domain (NOTE(extent-bound))
POLICY_EXTENTS = 8  # for an ordinary domain whose multi-page requests follow a policy
RUNS = 4  # p2m runs per 1:1 domain
GRANTS = 2  # grant mappings per backend (NOTE(extent-bound))
MAX_STATIC_REGIONS = EXTENTS  # static regions of one domain (one owned extent each)


def frame_bits(model: m.Model) -> int:
    """Width of the frame-number bit-vectors: every frame or IPA frame the model can name,
    plus a domain's size, plus a spare bit, fits (at most 64 - page shift + 1 bits)."""
    sh = model.page_size.bit_length() - 1
    ends = [r.end for r in model.platform.ram + model.platform.mmio + model.platform.reserved]
    ends += [r.end for r in model.hypervisor.windows + model.hypervisor.guest_ram]
    ends += [d.rambase + d.memory for d in model.domains if d.rambase is not None]
    ends += [r.end for d in model.domains for r in d.static_mem]
    ends += [GUEST_RAM0_BASE + max([d.memory for d in model.domains] + [0])]
    top = (max(ends) >> sh) + max([d.pages for d in model.domains] + [1])
    return min(64, top.bit_length() + 2)


def inside(s: Any, n: Any, lo: int, hi: int) -> z3.BoolRef:
    """[s, s + n) lies in [lo, hi). Written without s + n, which could wrap around for a
    symbolic s near the top of the bit-vector range."""
    w = s.size()
    return z3.And(z3.UGE(s, z3.BitVecVal(lo, w)), z3.ULE(n, z3.BitVecVal(hi - lo, w)),
                  z3.ULE(s, z3.BitVecVal(hi, w) - n))


def within(s: Any, n: Any, lo: Any, cnt: Any) -> z3.BoolRef:
    """[s, s + n) lies in [lo, lo + cnt), all symbolic (lo + cnt itself never wraps: extents
    and p2m runs stay inside the heap or a RAM IPA range)."""
    return z3.And(z3.ULE(n, cnt), z3.UGE(s, lo), z3.ULE(s, lo + cnt - n))


def disjoint(s1: Any, n1: Any, s2: Any, n2: Any) -> z3.BoolRef:
    return z3.Or(n1 == 0, n2 == 0, z3.ULE(s1 + n1, s2), z3.ULE(s2 + n2, s1))


def overlap(s1: Any, n1: Any, s2: Any, n2: Any) -> z3.BitVecRef:
    """|[s1, s1 + n1) & [s2, s2 + n2)|. An empty extent overlaps nothing, said first so that
    the term folds to 0 once its length is known to be 0 (NOTE(forward-propagation))."""
    zero = z3.BitVecVal(0, s1.size())
    lo = z3.If(z3.UGE(s1, s2), s1, s2)
    hi = z3.If(z3.ULE(s1 + n1, s2 + n2), s1 + n1, s2 + n2)
    return z3.If(z3.Or(n1 == 0, n2 == 0), zero, z3.If(z3.ULT(lo, hi), hi - lo, zero))


def supported(model: m.Model) -> bool | str:
    for d in model.domains:
        if len(d.static_mem) > MAX_STATIC_REGIONS:
            return (f"domain {d.name} has {len(d.static_mem)} static memory regions; the "
                    f"extent-level encoding holds at most {MAX_STATIC_REGIONS}")
    return True


def grant_bound(scenario: m.Scenario, b: int) -> int | None:
    """How many grants to backend b one run of the scenario can make (None: no bound)."""
    total = 0
    for st in scenario.statements:
        ops = (st.op,) if isinstance(st, m.Step) else st.alternatives
        if not any(op.kind is m.OpKind.GRANT and op.peer == b and op.domain != b for op in ops):
            continue
        if isinstance(st, m.Loop):
            return None
        total += 1 if isinstance(st, m.Step) else st.max_times
    return total


class ExtentEncoding(StateVars):
    """T(s, s') of docs/semantics.md over bounded extent sets (NOTE(extent-bound))."""

    def __init__(self, model: m.Model, observed: set[tuple[m.OpKind, int]]) -> None:
        self.model = model
        policy = model.hypervisor.placement
        self.policy: bool | None = None if policy is m.Placement.ANY else \
            policy is m.Placement.TOP_DOWN  # None: any; True: top-down; False: bottom-up
        self.placement = "symbolic" if self.policy is None else policy.value
        # NOTE(relaxed-policy): while set, op_branches builds the policy's allocations as
        # placement `any` within the policy's own extent bound (an over-approximation)
        self.relax = False
        self.shift = model.page_size.bit_length() - 1
        heap, _statics = heap_frames(model)
        self.heap = heap
        self.heap_total = ex.count(heap)
        self.host_ram = ex.normalize(
            (r.base >> self.shift, r.size >> self.shift) for r in model.platform.ram)
        self.observed = observed
        sh = self.shift
        # each domain's static memory as extents (empty: it allocates from the heap)
        self.statics = [ex.normalize((r.base >> sh, r.size >> sh) for r in d.static_mem)
                        for d in model.domains]
        self.doms = [self._dom(d) for d in model.domains]
        self.nd = len(self.doms)
        self.heap_doms = [d for d in range(self.nd) if not self.statics[d]]
        self.table = VarTable()
        self.scn = Scenario(model.scenario)
        self.ops = flatten_ops(model.scenario)
        # grant mappings: backend -> the frontends that grant to it, and its slots
        self.fronts: list[list[int]] = [[] for _ in self.doms]
        for _j, op in self.ops:
            if (op.kind is m.OpKind.GRANT and op.peer is not None and op.peer != op.domain
                    and op.domain not in self.fronts[op.peer]):
                self.fronts[op.peer].append(op.domain)
        self.ng = [0] * self.nd
        for b in range(self.nd):
            if self.fronts[b]:
                bound = grant_bound(model.scenario, b)
                self.ng[b] = min(GRANTS, self.ram_size(b), GRANTS if bound is None else bound)
        self.dma_observed = {d for p in model.properties
                             if p.kind is m.PropertyKind.DMA_REACHES_INTENDED
                             for d in range(self.nd) if p.covers(d)}
        hooks = [d.hook_id for d in self.doms if d.decl is m.DirectMap.HOOK]
        self.track_id = bool(hooks)
        self.id_cap = max((h for h in hooks if h is not None), default=0) + 1
        self.keep_ids = self.track_id and reads_ids(model)
        self.frames_note = f"{self.heap_total} heap frames in {len(heap)} extents"
        self.W = frame_bits(model)
        # owned extent slots per domain: a policy hands out n frames as up to that many
        # buddies (encode_extent_policy.policy_frames), one slot each
        from checker.encode_extent_policy import policy_slots  # NOTE(policy-slots)

        self.nx = [policy_slots(model, heap, d.index, POLICY_EXTENTS)
                   if self.policy is not None and d.may_plain and d.pages > 1
                   else EXTENTS for d in self.doms]
        self._keycache = self.state_keys()
        self._sortof = dict(self._keycache)

    def _dom(self, d: m.Domain) -> Dom:
        sh = self.shift
        static = self.statics[d.index]
        if d.rambase_mode is m.RambaseMode.STATIC and static:
            base = static[0][0]
        elif d.rambase is not None:
            base = d.rambase >> sh
        elif self.model.hypervisor.guest_ram:
            base = self.model.hypervisor.guest_ram[0].base >> sh
        else:
            base = GUEST_RAM0_BASE >> sh
        return Dom(d.index, d.name, d.pages, max(0, (d.pages - 1).bit_length()), d.direct_map,
                   d.hook_id, d.rambase_mode, base, ())

    def bv(self, x: int) -> z3.BitVecRef:
        return z3.BitVecVal(x, self.W)

    def rb_varies(self, d: int) -> bool:
        dom = self.doms[d]
        return dom.may_direct and not self.statics[d] and dom.rambase_mode in (
            m.RambaseMode.ALLOCATED, m.RambaseMode.STATIC)

    def ram_size(self, d: int) -> int:
        """IPA frames the guest is told are its RAM."""
        return ex.count(self.statics[d]) if self.statics[d] else self.doms[d].pages

    def static_direct_rb(self, d: int) -> int:
        """The rambase of a 1:1 domain created from static memory (docs/semantics.md)."""
        dom = self.doms[d]
        return dom.rambase if dom.rambase_mode is m.RambaseMode.FIXED else self.statics[d][0][0]

    def ram_ranges(self, d: int, i: int, direct: bool) -> list[tuple[Any, Any]]:
        """d's RAM IPA range as (start, count) pieces when it is (not) 1:1: its static
        regions if 1:1 static, else [rambase, rambase + pages)."""
        if direct and self.statics[d]:
            return [(self.bv(lo), self.bv(c)) for lo, c in self.statics[d]]
        rb = self.rambase(d, i) if direct else self.bv(self.doms[d].rambase)
        return [(rb, self.bv(self.doms[d].pages))]

    # ---- variables ----------------------------------------------------------------------------

    def state_keys(self) -> list[tuple[VarKey, z3.SortRef]]:
        B, V = z3.BoolSort(), z3.BitVecSort(self.W)
        keys = list(self.scn.state_keys())
        keys.append((("cut",), B))
        if self.track_id:
            keys.append((("next_id",), z3.BitVecSort(bits_for(self.id_cap))))
        for d, dom in enumerate(self.doms):
            keys.append((("alive", d), B))
            if self.keep_ids:
                keys.append((("id", d), z3.BitVecSort(bits_for(self.id_cap))))
            if dom.decl is m.DirectMap.HOOK:
                keys.append((("direct", d), B))
            if self.rb_varies(d):
                keys.append((("rb", d), V))
            for e in range(self.nx[d]):
                keys += [(("os", d, e), V), (("ol", d, e), V)]
            if dom.may_direct:
                for r in range(RUNS):
                    keys += [(("ri", d, r), V), (("rm", d, r), V), (("rc", d, r), V)]
        for b in range(self.nd):
            for g in range(self.ng[b]):
                keys += [(("gu", b, g), B), (("gi", b, g), V), (("gm", b, g), V)]
                if len(self.fronts[b]) > 1:
                    keys += [(("gf", b, g, f), B) for f in self.fronts[b]]
        for kind, d in sorted(self.observed, key=lambda x: (x[0].value, x[1])):
            keys.append((("failed", kind.value, d), B))
        keys += [(("dmabad", d), B) for d in sorted(self.dma_observed)]
        return keys

    def rambase(self, d: int, i: int) -> z3.BitVecRef:
        if self.rb_varies(d):
            rb = self.var(("rb", d), i)
            if self.doms[d].may_plain:
                return z3.If(self.direct(d, i), rb, self.bv(self.doms[d].rambase))
            return rb
        if self.statics[d] and self.doms[d].may_direct:
            rb1 = self.bv(self.static_direct_rb(d))
            if self.doms[d].may_plain:
                return z3.If(self.direct(d, i), rb1, self.bv(self.doms[d].rambase))
            return rb1
        return self.bv(self.doms[d].rambase)

    def ext(self, d: int, e: int, i: int) -> tuple[Any, Any]:
        return self.var(("os", d, e), i), self.var(("ol", d, e), i)

    def run(self, d: int, r: int, i: int) -> tuple[Any, Any, Any]:
        return self.var(("ri", d, r), i), self.var(("rm", d, r), i), self.var(("rc", d, r), i)

    def grant(self, b: int, g: int, i: int) -> tuple[Any, Any, Any]:
        """Grant mapping g of backend b: (used, IPA frame, machine frame)."""
        return self.var(("gu", b, g), i), self.var(("gi", b, g), i), self.var(("gm", b, g), i)

    def grant_from(self, b: int, g: int, f: int, i: int) -> z3.BoolRef:
        """Grant mapping g of b is in use and was granted by f."""
        if f not in self.fronts[b]:
            return z3.BoolVal(False)
        if len(self.fronts[b]) == 1:
            return self.var(("gu", b, g), i)
        return z3.And(self.var(("gu", b, g), i), self.var(("gf", b, g, f), i))

    def granted_by(self, d: int, i: int) -> list[tuple[z3.BoolRef, Any]]:
        """(in use, frame) of every grant mapping of a frame d granted (NOTE(granted-pages))."""
        return [(self.grant_from(b, g, d, i), self.var(("gm", b, g), i))
                for b in range(self.nd) for g in range(self.ng[b]) if d in self.fronts[b]]

    def grant_count(self, b: int, i: int) -> z3.BitVecRef:
        return z3.Sum([z3.If(self.var(("gu", b, g), i), self.bv(1), self.bv(0))
                       for g in range(self.ng[b])] + [self.bv(0)])

    def grant_ipa_overlap(self, b: int, s: Any, n: Any, i: int) -> z3.BoolRef:
        """Some grant mapping of b lies at an IPA in [s, s + n)."""
        return any_of(z3.And(gu, z3.Not(disjoint(s, n, gi, self.bv(1))))
                      for gu, gi, _gm in (self.grant(b, g, i) for g in range(self.ng[b])))

    def cut(self, i: int) -> z3.BoolRef:
        """Some step so far left the bound (NOTE(extent-bound))."""
        return self.var(("cut",), i)

    def failed(self, kind: m.OpKind, d: int, i: int) -> z3.BoolRef:
        if (kind, d) not in self.observed:
            return z3.BoolVal(False)
        return self.var(("failed", kind.value, d), i)

    def owned_total(self, d: int, i: int) -> z3.BitVecRef:
        return z3.Sum([self.ext(d, e, i)[1] for e in range(self.nx[d])])

    def free_total(self, i: int) -> z3.BitVecRef:
        """Free heap frames: the heap minus every owned heap frame (owned extents are disjoint
        and inside the heap or the owner's static memory in every reachable state)."""
        owned = [self.owned_total(d, i) for d in self.heap_doms]
        return self.bv(self.heap_total) - (z3.Sum(owned) if owned else self.bv(0))

    def in_heap(self, s: Any, n: Any) -> z3.BoolRef:
        return any_of(inside(s, n, lo, lo + c) for lo, c in self.heap)

    def free_range(self, s: Any, n: Any, i: int) -> z3.BoolRef:
        """[s, s + n) is free heap."""
        return z3.And(self.in_heap(s, n), *[disjoint(s, n, *self.ext(d, e, i))
                                            for d in self.heap_doms for e in range(self.nx[d])])

    def in_static(self, d: int, s: Any, n: Any) -> z3.BoolRef:
        return any_of(inside(s, n, lo, lo + c) for lo, c in self.statics[d])

    def pool_range(self, d: int, s: Any, n: Any, i: int) -> z3.BoolRef:
        """[s, s + n) is where d's new frames may come from: its unused static memory if it
        has static memory, else the free heap."""
        if not self.statics[d]:
            return self.free_range(s, n, i)
        return z3.And(self.in_static(d, s, n),
                      *[disjoint(s, n, *self.ext(d, e, i)) for e in range(self.nx[d])])

    def pool_total(self, d: int, i: int) -> z3.BitVecRef:
        if not self.statics[d]:
            return self.free_total(i)
        return self.bv(ex.count(self.statics[d])) - self.owned_total(d, i)

    def owned_cover(self, d: int, s: Any, n: Any, i: int) -> z3.BitVecRef:
        """How many frames of [s, s + n) d owns (its extents are disjoint)."""
        return z3.Sum([overlap(s, n, *self.ext(d, e, i)) for e in range(self.nx[d])])

    def populated_overlap(self, d: int, s: Any, n: Any, i: int) -> z3.BoolRef:
        return any_of(z3.Not(disjoint(s, n, ri, rc)) for ri, _rm, rc in
                      (self.run(d, r, i) for r in range(RUNS)))

    def choice(self, key: VarKey, i: int, sort: z3.SortRef | None = None) -> Any:
        return self.table.get(("choice",) + key, i, sort if sort is not None else z3.BitVecSort(self.W))

    # ---- transitions ---------------------------------------------------------------------------

    def op_branches(self, k: int, op: m.Op, i: int) -> list[Branch]:
        from checker import encode_extent_ops as ops

        return ops.op_branches(self, k, op, i)

    # ---- lemmas --------------------------------------------------------------------------------

    def lemma_candidates(self, i: int, stage: int = 1) -> list[z3.BoolRef]:
        if stage != 1:
            return []
        out: list[z3.BoolRef] = [self.scn.wellformed(self.var(("pc",), i), self.var(("count",), i))]
        exts = [(d, e) for d in range(self.nd) for e in range(self.nx[d])]
        for d, dom in enumerate(self.doms):
            dead = [self.ext(d, e, i)[1] == 0 for e in range(self.nx[d])]
            if dom.may_direct:
                dead += [self.run(d, r, i)[2] == 0 for r in range(RUNS)]
            if self.rb_varies(d):
                dead.append(self.var(("rb", d), i) == 0)
            if self.has(("direct", d)):
                dead.append(z3.Not(self.var(("direct", d), i)))
            if self.keep_ids:
                did = self.var(("id", d), i)
                dead.append(did == 0)
                out.append(z3.Implies(self.alive(d, i),
                                      z3.And(z3.UGE(did, 1), z3.ULE(did, self.id_cap))))
            for g in range(self.ng[d]):
                gu, gi, gm = self.grant(d, g, i)
                dead.append(z3.Not(gu))
                out.append(z3.Implies(z3.Not(gu), z3.And(gi == 0, gm == 0)))
                for f in self.fronts[d]:
                    out.append(z3.Implies(self.grant_from(d, g, f, i), self.alive(f, i)))
                    if len(self.fronts[d]) > 1:
                        out.append(z3.Implies(self.var(("gf", d, g, f), i), gu))
                for h in range(g + 1, self.ng[d]):
                    hu, hi, _hm = self.grant(d, h, i)
                    out.append(z3.Implies(z3.And(gu, hu), gi != hi))
            out.append(z3.Implies(z3.Not(self.alive(d, i)), z3.And(dead)))
            for e in range(self.nx[d]):
                s, n = self.ext(d, e, i)
                if self.statics[d]:
                    out.append(z3.Or(n == 0, self.in_static(d, s, n)))
                else:
                    out.append(z3.Or(n == 0, self.in_heap(s, n)))
                    out.append(z3.ULE(n, self.bv(self.heap_total)))
        for a in range(len(exts)):
            for b in range(a + 1, len(exts)):
                out.append(disjoint(*self.ext(*exts[a], i), *self.ext(*exts[b], i)))
        if len(self.dma_observed) > 1:
            bad = [self.var(("dmabad", d), i) for d in sorted(self.dma_observed)]
            out += [z3.Not(z3.And(x, y)) for j, x in enumerate(bad) for y in bad[j + 1:]]
        return out

    # ---- reading back -------------------------------------------------------------------------

    def read_state(self, mdl: z3.ModelRef, i: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, sort in self._keys:
            v = self.var(key, i)
            name = ".".join(str(x) for x in key)
            out[name] = model_bool(mdl, v) if sort == z3.BoolSort() else model_int(mdl, v)
        return out


def frames_of(pairs: list[tuple[Any, Any]]) -> ChoiceReader:
    """A frame-set choice read back as normalised extents."""
    def read(ev: Any) -> ex.Extents:
        return ex.normalize((value_int(ev(s)), value_int(ev(n))) for s, n in pairs)
    return read


__all__ = ["ExtentEncoding", "all_of", "exactly_one", "frames_of", "supported"]
