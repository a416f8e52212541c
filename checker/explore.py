"""The explicit-state engine: breadth-first search over the states of `checker.semantics`.

Every requested property is checked in every state as it is discovered, so the first violation
found for a property lies at the smallest depth: its trace is a shortest one. The search goes on
for the properties not yet violated and stops when all of them are violated, when the space is
exhausted, or when a bound (depth, number of states, time) is reached.

NOTE(compact-store): states are kept in one dict `state -> index` (indices are handed out in
BFS order, so the states of one level have consecutive indices) plus two parallel arrays: the
parent's index and the position of the transition in the parent's successor order. An action
is not stored: a trace is rebuilt by re-enumerating the successors of each state on the path,
which costs one expansion per step. A `networkx.DiGraph` is built only for spaces of at most
`GRAPH_LIMIT` states (networkx costs a few hundred bytes to kilobytes per node) or when an
export asks for it, and only when `Exploration.graph` is read (`--graph`, checker/stategraph.py);
the "can get stuck" analysis (bottom strongly connected components) works on the recorded edge
arrays without networkx (NOTE(lazy-networkx) in stategraph.py).

NOTE(search-gc) (checker/explore_gc.py): both searches, reference and packed, run with the
cyclic garbage collector off; it is restored when `explore` returns or raises.

NOTE(symmetry): with symmetry reduction the stored state is `canonical(state)`. The trace is
rebuilt twice (checker/explore_trace.py): the canonical chain from the stored positions, then
a concrete chain from the true initial state that, at each step, takes the first successor
whose canonical form is the next canonical state; the concrete chain is what is reported and
replayed.

The engine never prints: it returns `results.PropertyResult`s and calls an optional progress
callback.
"""

from __future__ import annotations

import resource
import sys
import time
from array import array
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

from checker import stategraph
from checker.diagnostics import CheckerError, Diagnostic, Exit
from checker.explore_gc import no_gc
from checker.explore_trace import concrete_path, path_positions, rebuild
from checker.model import Model, Op, Property
from checker.results import PropertyResult, Scope, Verdict
from checker.stategraph import finished_fn, to_dot, write_graph

if TYPE_CHECKING:
    import networkx as nx

__all__ = [  # to_dot and write_graph live in checker/stategraph.py; importable from here too
    "GRAPH_LIMIT", "Exploration", "Progress", "ProgressFn", "SemanticsLike", "explore", "to_dot",
    "write_graph",
]

GRAPH_LIMIT = 100_000  # build a networkx graph automatically up to this many states
PROGRESS_EVERY = 2048  # transitions between two looks at the clock
PROGRESS_INTERVAL = 0.5  # seconds between two progress reports

State = Hashable
Action = Any


class SemanticsLike(Protocol):
    """What the explorer needs from `checker.semantics.Semantics`."""

    placement: str
    exact: bool

    def initial(self) -> Any: ...
    def successors(self, state: Any) -> Iterator[tuple[Any, Any]]: ...
    def violation(self, state: Any, prop: Property) -> str | None: ...
    def canonical(self, state: Any) -> Any: ...
    def orbit_size(self, state: Any) -> int: ...
    def describe(self, before: Any, action: Any, after: Any) -> Any: ...
    def action_label(self, action: Any) -> str: ...
    def op_labels(self) -> Sequence[str]: ...
    def state_to_json(self, state: Any) -> Any: ...
    def action_to_json(self, action: Any) -> Any: ...
    def action_from_json(self, data: Any) -> Any: ...
    def apply(self, state: Any, action: Any) -> Any: ...


@dataclass(frozen=True)
class Progress:
    """A snapshot handed to the progress callback."""

    states: int
    transitions: int
    depth: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0


ProgressFn = Callable[[Progress], None]


@dataclass
class Exploration:
    """Everything one search found: per-property results plus what the report and CLI need."""

    results: list[PropertyResult]
    states: int
    transitions: int
    depth: int  # the deepest level reached (states discovered at this BFS depth)
    seconds: float
    stopped_by: str | None  # "depth" | "max_states" | "timeout" | "violated" | None (exhausted)
    fired: frozenset[int]
    graph_builder: Callable[[], nx.DiGraph] | None = field(default=None, repr=False)
    stuck: list[str] = field(default_factory=list)
    actions: dict[str, list[Any]] = field(default_factory=dict)  # property -> action JSONs
    store: str = "reference"  # "packed": the search ran over checker/packed.py states
    _graph: nx.DiGraph | None = field(default=None, init=False, repr=False)

    @property
    def graph(self) -> nx.DiGraph | None:
        """The networkx state graph (built on first use, NOTE(lazy-networkx) in
        stategraph.py), or None when the search did not record one."""
        if self._graph is None and self.graph_builder is not None:
            self._graph = self.graph_builder()
            self.graph_builder = None
        return self._graph


def _peak_memory_mb() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


class _Stop(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def explore(
    sem: SemanticsLike,
    properties: Sequence[Property],
    *,
    depth: int | None = None,
    max_states: int | None = None,
    timeout: float | None = None,
    symmetry: bool = True,
    progress: ProgressFn | None = None,
    graph: bool | None = None,
    packed: bool | None = None,
    cross_check: bool = False,
) -> Exploration:
    """Search the state space of `sem` breadth-first, checking every property in every state.

    `depth` bounds the length of traces, `max_states` the number of distinct states, `timeout`
    the seconds spent (one budget for the whole search: all properties are checked in the same
    pass). `graph`: True builds the networkx graph whatever the size, False never, None (the
    default) up to `GRAPH_LIMIT` states. `packed`: None (the default) searches over packed
    states when `checker.packed.supports(sem)`, True insists on it, False never. `cross_check`
    compares the packed successors and verdicts of every state with the reference semantics'
    (NOTE(packed-layout)) and raises `CheckerError` (exit 4) on any difference.
    """
    with no_gc():
        return _explore(sem, properties, depth=depth, max_states=max_states, timeout=timeout,
                        symmetry=symmetry, progress=progress, graph=graph, packed=packed,
                        cross_check=cross_check)


def _explore(
    sem: SemanticsLike,
    properties: Sequence[Property],
    *,
    depth: int | None,
    max_states: int | None,
    timeout: float | None,
    symmetry: bool,
    progress: ProgressFn | None,
    graph: bool | None,
    packed: bool | None,
    cross_check: bool,
) -> Exploration:
    """`explore` with the collector off: the reference search, or the packed one."""
    pk = None if packed is False and not cross_check else _packed_form(sem, packed or cross_check)
    if pk is not None:
        return _explore_packed(pk, sem, properties, depth=depth, max_states=max_states,
                               timeout=timeout, symmetry=symmetry, progress=progress,
                               graph=graph, cross_check=cross_check)
    t0 = time.perf_counter()
    deadline = t0 + timeout if timeout is not None else None
    successors = sem.successors
    violation = sem.violation
    canon = sem.canonical if symmetry else None

    init = sem.initial()
    key0 = canon(init) if canon is not None else init
    index: dict[Any, int] = {key0: 0}
    parent = array("q", [-1])
    via = array("I", [0])
    level_start = [0]  # level_start[d] = index of the first state at depth d

    pending: list[Property] = list(properties)
    found: dict[str, tuple[int, str, int]] = {}  # property -> (state index, witness, states then)
    for p in properties:
        w = violation(key0, p)
        if w is not None:
            found[p.name] = (0, w, 1)
    pending = [p for p in pending if p.name not in found]

    record = graph is not False
    edges_src = array("q")
    edges_dst = array("q")
    edges_op = array("I")
    fired: set[int] = set()
    fire = fired.add
    finished = finished_fn(sem)
    transitions = 0
    deadlocks: list[int] = []
    frontier: list[Any] = [key0]
    d = 0
    stopped_by: str | None = None
    last_report = t0
    next_look = PROGRESS_EVERY

    try:
        while frontier and pending:
            # NOTE(depth-probe): the level at the depth bound is expanded too, but the first
            # state beyond the bound stops the search ("depth"); if there is none, the bound
            # cut nothing and the search is exhaustive.
            probe = depth is not None and d >= depth
            nxt: list[Any] = []
            append = nxt.append
            for i, s in enumerate(frontier, level_start[d]):
                n = 0
                for n, (a, t) in enumerate(successors(s), 1):
                    fire(a.op_index)
                    if canon is not None:
                        t = canon(t)
                    j = index.get(t)
                    if j is None:
                        if probe:
                            raise _Stop("depth")
                        j = len(parent)
                        if max_states is not None and j >= max_states:
                            transitions += n
                            raise _Stop("max_states")
                        index[t] = j
                        parent.append(i)
                        via.append(n - 1)
                        append(t)
                        hit = False
                        for p in pending:
                            w = violation(t, p)
                            if w is not None:
                                found[p.name] = (j, w, j + 1)
                                hit = True
                        if hit:
                            pending = [p for p in pending if p.name not in found]
                            if not pending:
                                transitions += n
                                raise _Stop("violated")
                    if record:
                        edges_src.append(i)
                        edges_dst.append(j)
                        edges_op.append(a.op_index)
                transitions += n
                if n == 0 and finished is not None and len(deadlocks) < 10_000 and not finished(s):
                    deadlocks.append(i)
                if transitions >= next_look:
                    next_look = transitions + PROGRESS_EVERY
                    now = time.perf_counter()
                    if deadline is not None and now > deadline:
                        raise _Stop("timeout")
                    if progress is not None and now - last_report >= PROGRESS_INTERVAL:
                        last_report = now
                        progress(Progress(len(parent), transitions, d, now - t0))
                    if graph is None and record and len(parent) > GRAPH_LIMIT:
                        record = False
                        del edges_src[:], edges_dst[:], edges_op[:]
            if nxt:
                d += 1
                level_start.append(len(parent) - len(nxt))
            frontier = nxt
            if deadline is not None and frontier and time.perf_counter() > deadline:
                raise _Stop("timeout")
        if stopped_by is None and frontier:
            stopped_by = "violated"
    except _Stop as stop:
        stopped_by = stop.reason
        if graph is None:
            record = False

    seconds = time.perf_counter() - t0
    n_states = len(parent)
    exhausted = stopped_by is None
    unreduced: int | None = None
    if canon is not None and exhausted and n_states <= 5_000_000:
        unreduced = sum(sem.orbit_size(s) for s in index)

    def steps_of(i: int) -> list[tuple[Any, Any, Any]]:
        return concrete_path(sem, path_positions(i, parent, via), key0, canon)

    return _finish(
        sem, properties, found, steps_of, n_states=n_states, transitions=transitions, d=d,
        seconds=seconds, stopped_by=stopped_by, fired=fired, record=record, graph=graph,
        depth=depth, symmetric=canon is not None, unreduced=unreduced, deadlocks=deadlocks,
        edges=(edges_src, edges_dst, edges_op),
    )


def _finish(
    sem: SemanticsLike,
    properties: Sequence[Property],
    found: dict[str, tuple[int, str, int]],
    steps_of: Callable[[int], list[tuple[Any, Any, Any]]],
    *,
    n_states: int,
    transitions: int,
    d: int,
    seconds: float,
    stopped_by: str | None,
    fired: set[int],
    record: bool,
    graph: bool | None,
    depth: int | None,
    symmetric: bool,
    unreduced: int | None,
    deadlocks: list[int],
    edges: tuple[array[int], array[int], array[int]],
    store: str = "reference",
) -> Exploration:
    """Verdicts, traces, statistics and warnings of a finished search (either store)."""
    edges_src, edges_dst, edges_op = edges
    if stopped_by is not None and graph is None:
        record = False
    if graph is None and n_states > GRAPH_LIMIT:
        record = False
    exhausted = stopped_by is None
    builder: Callable[[], nx.DiGraph] | None = None
    if graph is None and len(found) == len(properties):
        record = False  # every property is violated: no verdict for the graph to qualify
    if record:
        labelled = graph is True

        def make_graph() -> nx.DiGraph:
            return stategraph.build_graph(n_states, edges_src, edges_dst, edges_op, sem, labelled)

        builder = make_graph

    reduced = n_states
    stats: dict[str, Any] = {
        "depth_reached": d,
        "states_per_second": round(n_states / seconds, 1) if seconds > 0 else None,
        "peak_memory_mb": round(_peak_memory_mb(), 1),
        "symmetry": symmetric,
        "distinct_states": reduced,
        "unreduced_states": unreduced if symmetric else reduced,
        "stopped_by": stopped_by or "exhausted",
    }

    labels = list(sem.op_labels())
    counted = fired | _symmetric_siblings(sem, fired) if symmetric else fired
    never = [labels[k] for k in range(len(labels)) if k not in counted]
    results: list[PropertyResult] = []
    actions: dict[str, list[Any]] = {}
    for p in properties:
        if p.name in found:
            i, _witness, seen = found[p.name]
            trace, actions[p.name] = rebuild(sem, p, steps_of(i))
            results.append(
                PropertyResult(
                    property=p.name,
                    verdict=Verdict.VIOLATED,
                    engine="explicit",
                    method="bfs",
                    scope=Scope(len(trace), False, sem.placement),
                    trace=trace,
                    states=seen,
                    transitions=transitions,
                    seconds=seconds,
                    stats=dict(stats),
                )
            )
            continue
        warnings = [
            f"{op} never fired{_within(stopped_by, depth)}: a property that holds because "
            "nothing happened proves little"
            for op in never
        ]
        if stopped_by in ("max_states", "timeout"):
            verdict, scope = Verdict.UNDECIDED, Scope(d, False, sem.placement)
        elif stopped_by == "depth":
            verdict, scope = Verdict.HOLDS, Scope(depth, False, sem.placement)
        elif sem.exact:
            verdict, scope = Verdict.PROVED, Scope(None, True, sem.placement)
        else:
            verdict, scope = Verdict.HOLDS, Scope(None, False, sem.placement)
            warnings.append(_not_covered(sem.placement))
        results.append(
            PropertyResult(
                property=p.name,
                verdict=verdict,
                engine="explicit",
                method="bfs",
                scope=scope,
                states=n_states,
                transitions=transitions,
                seconds=seconds,
                warnings=warnings,
                stats=dict(stats),
            )
        )
    # a state whose expansion was cut short lacks edges: traps only in a complete graph
    complete = builder is not None and exhausted
    traps = stategraph.traps(n_states, edges_src, edges_dst, edges_op) if complete else []
    stuck = stategraph.stuck(sem, deadlocks, steps_of, traps)
    for r in results:
        if r.verdict is not Verdict.VIOLATED:
            r.warnings.extend(stuck)
    return Exploration(
        results, n_states, transitions, d, seconds, stopped_by, frozenset(fired), builder, stuck,
        actions, store,
    )


def _packed_form(sem: SemanticsLike, required: bool | None) -> Any:
    """The packed form of `sem` when it has one (checker/packed.py), else None; an error when
    `required` and there is none."""
    from checker import packed

    why = packed.supports(sem)
    if why is True:
        return packed.Packed(cast(Any, sem))
    if required:
        raise CheckerError([Diagnostic(f"no packed form for this model: {why}")], Exit.BAD_INPUT)
    return None


def _explore_packed(
    pk: Any,
    sem: SemanticsLike,
    properties: Sequence[Property],
    *,
    depth: int | None,
    max_states: int | None,
    timeout: float | None,
    symmetry: bool,
    progress: ProgressFn | None,
    graph: bool | None,
    cross_check: bool,
) -> Exploration:
    """`explore` over packed states (checker/packed_bfs.py); traces from the reference."""
    from checker import packed_bfs

    t0 = time.perf_counter()
    deadline = t0 + timeout if timeout is not None else None

    def report(states: int, transitions: int, d: int, seconds: float) -> None:
        assert progress is not None
        progress(Progress(states, transitions, d, seconds))

    res = packed_bfs.search(
        pk, properties, symmetry=symmetry, depth=depth, max_states=max_states,
        deadline=deadline, record=graph is not False,
        graph_limit=GRAPH_LIMIT if graph is None else None, finished=finished_fn(sem),
        cross_check=cross_check, progress=report if progress is not None else None,
        progress_every=PROGRESS_EVERY, progress_interval=PROGRESS_INTERVAL, t0=t0,
    )
    seconds = time.perf_counter() - t0
    n_states = len(res.parent)
    symmetric = symmetry
    unreduced: int | None = None
    if symmetric and res.stopped_by is None:
        unreduced = pk.unreduced(res.index)

    def steps_of(i: int) -> list[tuple[Any, Any, Any]]:
        return packed_bfs.packed_path(pk, res, i, symmetry)

    return _finish(
        sem, properties, res.found, steps_of, n_states=n_states, transitions=res.transitions,
        d=res.depth, seconds=seconds, stopped_by=res.stopped_by, fired=res.fired,
        record=res.record, graph=graph, depth=depth, symmetric=symmetric, unreduced=unreduced,
        deadlocks=res.deadlocks, edges=(res.edges_src, res.edges_dst, res.edges_op),
        store="packed",
    )


def _symmetric_siblings(sem: SemanticsLike, fired: set[int]) -> set[int]:
    """Ops that count as fired under symmetry reduction: the same operation of a domain that
    is declared identical (same symmetry group) to the domain of an op that fired. Only the
    canonical member of each orbit is expanded, so `destroy u1` may never fire while the
    identical `destroy u2` does."""
    model: Model | None = getattr(sem, "model", None)
    ops: Sequence[Op] | None = getattr(sem, "ops", None)
    if model is None or ops is None:
        return set()

    def who(d: int | None) -> Any:
        if d is None:
            return None
        g = model.domains[d].symmetry_group
        return ("group", g) if g is not None else ("domain", d)

    def sig(op: Op) -> tuple[Any, ...]:
        return (op.kind, op.pages, op.buffer, who(op.domain), who(op.peer))

    done = {sig(ops[k]) for k in fired if k < len(ops)}
    return {k for k, op in enumerate(ops) if sig(op) in done}


def _within(stopped_by: str | None, depth: int | None) -> str:
    if stopped_by == "depth":
        return f" within depth {depth}"
    if stopped_by in ("max_states", "timeout"):
        return " in the part of the space explored"
    return ""


def _not_covered(placement: str) -> str:
    if placement == "candidates":
        return (
            "placement 'candidates': only the lowest, the highest, the fixed-rambase and the "
            "adversarially spread block and frame choices were explored; other placements the "
            "heap allows are not covered (use --placement exact on a smaller model to prove it)"
        )
    return (
        f"placement '{placement}': only the choices of that allocator policy were explored; "
        "other placements the heap allows are not covered"
    )
