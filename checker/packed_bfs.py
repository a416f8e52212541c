"""Breadth-first search over packed states (NOTE(packed-layout) in packed.py).

The same search as `explore` (shortest traces, bounds, progress, graph edges, dead ends) over
ints: the visited set is a dict `state -> index` in discovery order (its values are the
indices while a graph is recorded, else 0, one shared small int), the parents an
`array('i')`. A successor is `state + delta`. Per state, each run of consecutive operations of
one domain that need the same aliveness costs one memo look-up (NOTE(packed-keys)): the key is
the domain's component and only the part of the free heap the operations look at. Only the
acting domain's component changes, so only its verdicts are looked at (memoised with the
deltas). The automatic graph is re-derived after an exhausted search (NOTE(packed-graph)).
"""

from __future__ import annotations

import time
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from checker.diagnostics import CheckerError, Diagnostic, Exit, Note
from checker.explore_trace import matching_step
from checker.model import Property
from checker.packed import BLOCKS, COMP, GROW, OWN, WHOLE, GroupEntry, Packed


@dataclass
class Search:
    """What one search found, in the explorer's terms."""

    index: dict[int, int]
    parent: array[int]
    key0: int
    found: dict[str, tuple[int, str, int]]
    transitions: int = 0
    depth: int = 0
    stopped_by: str | None = None
    record: bool = True
    edges_src: array[int] = field(default_factory=lambda: array("q"))
    edges_dst: array[int] = field(default_factory=lambda: array("q"))
    edges_op: array[int] = field(default_factory=lambda: array("I"))
    fired: set[int] = field(default_factory=set)
    deadlocks: list[int] = field(default_factory=list)


class Stop(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _mismatch(pk: Packed, s: int, what: str) -> CheckerError:
    state = pk.sem.state_to_json(pk.decode(s))
    return CheckerError(
        [Diagnostic(f"the packed semantics disagrees with the reference: {what}",
                    notes=(Note(f"state: {state}"),))],
        Exit.INTERNAL,
    )


def cross_check_state(pk: Packed, s: int, succ: list[tuple[int, int]] | None = None) -> None:
    """Compare the packed successors of s (`succ`, (op, successor) before any canonical form, as
    the search produced them; default: `pk.successors(s)`) and its verdicts with the
    reference's; fail loudly."""
    sem = pk.sem
    ref = pk.decode(s)
    want = Counter((a.op_index, t) for a, t in sem.successors(ref))
    got = Counter((oi, pk.decode(t)) for oi, t in (pk.successors(s) if succ is None else succ))
    if want != got:
        labels = sem.op_labels()
        missing = sorted(labels[o] for o, _ in (want - got))
        extra = sorted(labels[o] for o, _ in (got - want))
        raise _mismatch(pk, s, f"successors differ (missing: {missing}, extra: {extra})")
    bits = pk.violations(s)
    for i, p in enumerate(pk.props):
        if (sem.violation(ref, p) is not None) != bool(bits >> i & 1):
            raise _mismatch(pk, s, f"verdict of {p.name} differs")
    if pk.encode(ref) != s:
        raise _mismatch(pk, s, "decoding and encoding do not round-trip")


def search(
    pk: Packed,
    properties: Sequence[Property],
    *,
    symmetry: bool,
    depth: int | None,
    max_states: int | None,
    deadline: float | None,
    record: bool,
    graph_limit: int | None,
    finished: Callable[[Any], bool] | None,
    cross_check: bool,
    progress: Callable[[int, int, int, float], None] | None,
    progress_every: int,
    progress_interval: float,
    t0: float,
) -> Search:
    """The search; `graph_limit`: drop the edges once there are more states (None: keep)."""
    canon = pk.canonical if symmetry and pk.groups else None
    init = pk.initial()
    key0 = canon(init) if canon is not None else init
    bit_of = {p.name: 1 << i for i, p in enumerate(pk.props)}
    res = Search({key0: 0}, array("i", [-1]), key0, {}, record=record)  # 4 bytes a state
    index, parent, found = res.index, res.parent, res.found
    bits0 = pk.violations(key0)
    for p in properties:
        if bits0 & bit_of[p.name]:
            found[p.name] = (0, "", 1)
    pending = [p for p in properties if p.name not in found]
    pmask = sum(bit_of[p.name] for p in pending)
    fired = res.fired
    H, HEAP = pk.H, pk.HEAP
    posmask = ((1 << (pk.pc_bits + pk.count_bits)) - 1) << pk.pc_off
    tables: dict[int, list[Row]] = {}
    pairs = {d: g for g in (pk.groups if canon is not None else []) for d in g}
    memos: dict[tuple[int, tuple[int, ...]], dict[int, GroupEntry]] = {}

    def table(s: int) -> list[Row]:
        pc, count = pk.pos(s)
        return rows_at(pk, pc, count, pairs, canon, memos)

    # NOTE(packed-graph): with `graph_limit` (the automatic graph) nothing is recorded while
    # searching; an exhausted search of at most `graph_limit` states re-expands its states
    # afterwards (`_record_edges`), which gives the same edges in the same order.
    res.record = record and graph_limit is None
    frontier = [key0]
    level_start = [0]
    d = 0
    transitions = 0
    next_look = progress_every
    last_report = t0
    got: list[tuple[int, int]] | None = [] if cross_check else None
    try:
        while frontier and pending:
            probe = depth is not None and d >= depth
            nxt: list[int] = []
            append = nxt.append
            for i, s in enumerate(frontier, level_start[d]):
                rows = tables.get(s & posmask)
                if rows is None:
                    rows = tables[s & posmask] = table(s)
                free = HEAP ^ (s & HEAP)
                n = 0
                for off, mask, need, memo, sym, kind, aux, ois, dom, pc, count in rows:
                    c = (s >> off) & mask
                    if (c & 1) != need:
                        continue
                    if kind == 1:
                        k = c
                    elif kind == 4:
                        g = aux.get(c)
                        if g is None:
                            g = aux[c] = pk.own_mask(dom, c)
                        k = (c << H) | (free & g)
                    elif kind == 0:
                        k = (c << H) | free
                    elif kind == 2:
                        g = aux.get(c)
                        if g is None:
                            g = aux[c] = pk.grow_class(dom, c)
                        if g < 0:
                            continue
                        k = (g << H) | free
                    else:
                        k = c
                        for m in aux:
                            k = (k << 1) | (free & m == m)
                    e = memo.get(k)
                    if e is None:
                        e = memo[k] = pk.group_entry(pc, count, ois, c, free)
                        fired.update(e[2])
                    deltas, vb, eops = e
                    if not deltas:
                        continue
                    before = n  # transitions of s enumerated before this row's
                    n += len(deltas)
                    careful = (
                        probe or res.record or got is not None
                        or (vb is not None and any(b & pmask for b in vb))
                        or (max_states is not None and len(parent) + len(deltas) >= max_states)
                    )
                    if not careful:
                        if sym is None:
                            for dl in deltas:
                                t = s + dl
                                if t not in index:
                                    index[t] = 0
                                    parent.append(i)
                                    append(t)
                        elif type(sym) is tuple:
                            o1, o2, m, dd = sym
                            for dl in deltas:
                                t = s + dl
                                a = (t >> o1) & m
                                b = (t >> o2) & m
                                if a > b:
                                    t += (b - a) * dd
                                if t not in index:
                                    index[t] = 0
                                    parent.append(i)
                                    append(t)
                        else:
                            for dl in deltas:
                                t = sym(s + dl)
                                if t not in index:
                                    index[t] = 0
                                    parent.append(i)
                                    append(t)
                        continue
                    for x, dl in enumerate(deltas):
                        t = s + dl
                        if got is not None:
                            got.append((eops[x], t))
                        if canon is not None:
                            t = canon(t)
                        j = index.get(t)
                        if j is None:
                            if probe:
                                transitions += before + x + 1
                                raise Stop("depth")
                            j = len(parent)
                            if max_states is not None and j >= max_states:
                                transitions += before + x + 1
                                raise Stop("max_states")
                            index[t] = j if res.record else 0
                            parent.append(i)
                            append(t)
                            hit = vb[x] & pmask if vb is not None else 0
                            if hit:
                                for p in pending:
                                    if hit & bit_of[p.name]:
                                        found[p.name] = (j, "", j + 1)
                                pending = [p for p in pending if p.name not in found]
                                pmask = sum(bit_of[p.name] for p in pending)
                                if not pending:
                                    transitions += before + x + 1
                                    raise Stop("violated")
                        if res.record:
                            res.edges_src.append(i)
                            res.edges_dst.append(j)
                            res.edges_op.append(eops[x])
                if got is not None:
                    cross_check_state(pk, s, got)
                    got = []
                transitions += n
                if (n == 0 and finished is not None and len(res.deadlocks) < 10_000
                        and not finished(pk.decode(s))):
                    res.deadlocks.append(i)
                if transitions >= next_look:
                    next_look = transitions + progress_every
                    now = time.perf_counter()
                    if deadline is not None and now > deadline:
                        raise Stop("timeout")
                    if progress is not None and now - last_report >= progress_interval:
                        last_report = now
                        progress(len(parent), transitions, d, now - t0)
                    if graph_limit is not None and len(parent) > graph_limit:
                        record = False
            if nxt:
                d += 1
                level_start.append(len(parent) - len(nxt))
            frontier = nxt
            if deadline is not None and frontier and time.perf_counter() > deadline:
                raise Stop("timeout")
        if frontier:
            res.stopped_by = "violated"
    except Stop as stop:
        res.stopped_by = stop.reason
    res.transitions = transitions
    res.depth = d
    if record and not res.record:
        res.record = res.stopped_by is None and len(parent) <= (graph_limit or 0)
        if res.record:
            _record_edges(pk, res, tables, posmask, canon)
    return res


Row = tuple[Any, ...]
_JOIN = {(COMP, COMP): COMP, (OWN, OWN): OWN, (WHOLE, WHOLE): WHOLE, (GROW, GROW): GROW,
         (BLOCKS, BLOCKS): BLOCKS, (COMP, OWN): OWN, (OWN, COMP): OWN, (COMP, WHOLE): WHOLE,
         (WHOLE, COMP): WHOLE, (OWN, WHOLE): WHOLE, (WHOLE, OWN): WHOLE}


def rows_at(pk: Packed, pc: int, count: int, pairs: dict[int, tuple[int, ...]],
            canon: Callable[[int], int] | None,
            memos: dict[tuple[int, tuple[int, ...]], dict[int, GroupEntry]]) -> list[Row]:
    """The rows of the search at (pc, count) (NOTE(packed-keys)): consecutive operations of one
    domain that need the same aliveness and whose key kinds join, one memo look-up each:
    (offset, mask, needs alive, memo, symmetry, key kind, aux, op indices, domain, pc, count)."""
    groups: list[tuple[int, int, int, list[int]]] = []  # domain, need, kind, ops
    for oi, d, _off, _mask, need, _memo in pk.op_table(pc, count):
        kind = pk.key_kind(oi)
        nd = 1 if need else 0
        if groups and groups[-1][0] == d and groups[-1][1] == nd:
            joined = _JOIN.get((groups[-1][2], kind))
            if joined is not None:
                groups[-1] = (d, nd, joined, groups[-1][3] + [oi])
                continue
        groups.append((d, nd, kind, [oi]))
    rows: list[Row] = []
    for d, nd, kind, ois in groups:
        g = pairs.get(d)
        sym: Any = None
        if g is not None and len(g) == 2:
            o1, o2 = pk.off[g[0]], pk.off[g[1]]
            sym = (o1, o2, (1 << pk.width[g[0]]) - 1, (1 << o1) - (1 << o2))
        elif g is not None:
            sym = canon
        aux: Any = pk.block_masks(d) if kind == BLOCKS else {}
        memo = memos.setdefault((pc * 4096 + count, tuple(ois)), {})
        rows.append((pk.off[d], (1 << pk.width[d]) - 1, nd, memo, sym, kind, aux, tuple(ois),
                     d, pc, count))
    return rows


def _record_edges(pk: Packed, res: Search, tables: dict[int, list[Row]], posmask: int,
                  canon: Callable[[int], int] | None) -> None:
    """The edges of an exhausted search, state by state in discovery order (NOTE(packed-graph))."""
    where = {s: j for j, s in enumerate(res.index)}
    for j, s in enumerate(where):
        free = pk.HEAP ^ (s & pk.HEAP)
        for off, mask, need, _memo, _sym, _kind, _aux, ois, _d, pc, count in tables[s & posmask]:
            c = (s >> off) & mask
            if (c & 1) != need:
                continue
            deltas, _vb, eops = pk.group_entry(pc, count, ois, c, free)
            for dl, oi in zip(deltas, eops):
                t = s + dl
                res.edges_src.append(j)
                res.edges_dst.append(where[canon(t) if canon is not None else t])
                res.edges_op.append(oi)
    res.index = where


def packed_path(pk: Packed, res: Search, i: int,
                symmetry: bool) -> list[tuple[Any, Any, Any]]:
    """(before, action, after) reference steps from the initial state to stored state i."""
    chain = []
    while i > 0:
        chain.append(i)
        i = res.parent[i]
    chain.reverse()
    keys = _keys(res, chain)
    canon = pk.canonical if symmetry and pk.groups else None
    sem = pk.sem
    state = sem.initial()
    steps: list[tuple[Any, Any, Any]] = []
    def key(u: Any) -> Any:
        p = pk.encode(u)
        return canon(p) if canon is not None else p
    for target in keys:
        a, u = matching_step(sem, state, key, target,
                             "the packed search stored a state no reference step reaches")
        steps.append((state, a, u))
        state = u
    return steps


def _keys(res: Search, wanted: list[int]) -> list[int]:
    """The stored states of the given indices (the dict keeps discovery order)."""
    need = {j: None for j in wanted}
    got: dict[int, int] = {}
    top = max(wanted, default=-1)
    for j, s in enumerate(res.index):
        if j > top:
            break
        if j in need:
            got[j] = s
    return [got[j] for j in wanted]
