"""The state graph of an explicit search: a `networkx.DiGraph` over state indices, what it
shows about the scenario, and its export.

`explore` records edges as three parallel arrays (source, target, operation) and hands them
here once the search is over (NOTE(compact-store) in explore.py): `build_graph` makes the
graph, `traps` finds the bottom strongly connected components a run can enter and never
leave, `stuck` words both those and the dead ends (states with no successor while the
scenario still has a fixed step to take) as warnings, `write_graph` exports GraphML or DOT.

NOTE(lazy-networkx): networkx takes ~0.1 s to import, a fifth of a whole `checker verify`
start-up. Only `build_graph` and `write_graph` import it; the traps (bottom strongly connected
components) are computed from the edge arrays directly (`components`, Tarjan's algorithm
without recursion), and `explore` builds the networkx graph only when `Exploration.graph` is
first read.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from checker.model import Model, Step

if TYPE_CHECKING:
    import networkx as nx

    from checker.explore import SemanticsLike

STUCK_EXAMPLES = 3


def pending_step(sem: SemanticsLike, state: Any) -> Step | None:
    """The first fixed step the scenario still has to take in `state` (docs/semantics.md:
    `pc` is the scenario position; a `choose` or `loop` may be left, a step may not)."""
    model: Model | None = getattr(sem, "model", None)
    if model is None:
        return None
    data = sem.state_to_json(state)
    pc = data.get("pc") if isinstance(data, dict) else None
    if not isinstance(pc, int):
        return None
    for st in model.scenario.statements[pc:]:
        if isinstance(st, Step):
            return st
    return None


def finished_fn(sem: SemanticsLike) -> Callable[[Any], bool] | None:
    """Whether a state with no successor is a normal end of the scenario."""
    own = getattr(sem, "finished", None)
    if callable(own):
        return cast(Callable[[Any], bool], own)
    if getattr(sem, "model", None) is None:
        return None
    return lambda state: pending_step(sem, state) is None


def build_graph(
    n: int, src: array[int], dst: array[int], ops: array[int], sem: SemanticsLike, labelled: bool
) -> nx.DiGraph:
    """Nodes are state indices (0 = initial); one edge per pair of states. `labelled` adds the
    operation of the first transition between the two as edge attribute `op` (for export)."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    if not labelled:
        g.add_edges_from(zip(src, dst))
        return g
    labels = list(sem.op_labels())
    first: dict[tuple[int, int], int] = {}
    for s, t, o in zip(src, dst, ops):
        first.setdefault((s, t), o)
    g.add_edges_from((s, t, {"op": labels[o]}) for (s, t), o in first.items())
    return g


def components(n: int, src: array[int], dst: array[int]) -> list[int]:
    """The strongly connected component of each of the `n` states (ids in the order Tarjan's
    algorithm closes them: a component's successors close before it)."""
    adj: list[list[int]] = [[] for _ in range(n)]
    for s, t in zip(src, dst):
        adj[s].append(t)
    index = [-1] * n
    low = [0] * n
    comp = [-1] * n
    on_stack = [False] * n
    stack: list[int] = []
    counter = 0
    ncomp = 0
    for root in range(n):
        if index[root] != -1:
            continue
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = True
        work = [(root, 0)]
        while work:
            v, i = work[-1]
            succ = adj[v]
            if i < len(succ):
                work[-1] = (v, i + 1)
                w = succ[i]
                if index[w] == -1:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = True
                    work.append((w, 0))
                elif on_stack[w] and index[w] < low[v]:
                    low[v] = index[w]
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == index[v]:
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    comp[w] = ncomp
                    if w == v:
                        break
                ncomp += 1
    return comp


def traps(
    n: int, src: array[int], dst: array[int], ops: array[int]
) -> list[tuple[list[int], set[int]]]:
    """Bottom strongly connected components of more than one state (sets the run can enter
    and never leave), each with the operations that fire somewhere but never inside it."""
    comp = components(n, src, dst)
    members: dict[int, list[int]] = {}
    for v, c in enumerate(comp):
        members.setdefault(c, []).append(v)
    bottom = {c for c, ms in members.items() if len(ms) > 1}
    for s, t in zip(src, dst):
        c = comp[s]
        if c != comp[t]:
            bottom.discard(c)
    if not bottom:
        return []
    inside: dict[int, set[int]] = {c: set() for c in bottom}
    for s, t, o in zip(src, dst, ops):
        c = comp[s]
        if c in bottom and comp[t] == c:
            inside[c].add(o)
    everywhere = set(ops)
    out = []
    for c in sorted(bottom, key=lambda c: members[c][0]):
        lost = everywhere - inside[c]
        if lost:
            out.append((members[c], lost))
    return out


def stuck(
    sem: SemanticsLike,
    deadlocks: list[int],
    steps_of: Callable[[int], list[tuple[Any, Any, Any]]],
    trapped: list[tuple[list[int], set[int]]],
) -> list[str]:
    """Warnings about states where the scenario stops short of its end.

    A state with no successor while the scenario still has a fixed step to take is a dead
    end; the normal end of a scenario is not reported. With a graph, a non-trivial bottom
    strongly connected component (states the run can enter and never leave) is reported when
    some operations that fire elsewhere can never fire in it.
    """
    out: list[str] = []
    real = deadlocks
    if real:
        steps = steps_of(real[0])
        way = "; ".join(sem.action_label(a) for _s, a, _t in steps) or "the initial state"
        final = steps[-1][2] if steps else sem.initial()
        step = pending_step(sem, final)
        at = ""
        if step is not None:
            model = cast(Model, getattr(sem, "model", None))
            op = step.op
            name = f"{op.kind.value} {model.domains[op.domain].name}"
            at = f" at `{name}` ({step.span})" if step.span.line else f" at `{name}`"
        out.append(
            f"the scenario can get stuck{at}: {len(real)}{'+' if len(real) >= 10_000 else ''} "
            f"reachable state(s) enable no operation before the scenario ends (shortest: {way}); "
            "what follows in the scenario is never explored from there"
        )
    labels = list(sem.op_labels())
    for members, lost in trapped[:STUCK_EXAMPLES]:
        steps = steps_of(members[0])
        way = "; ".join(sem.action_label(a) for _s, a, _t in steps) or "the start"
        names = sorted({labels[o] for o in lost})
        out.append(
            f"after {way}, the run is trapped in {len(members)} states where "
            f"{', '.join(names[:4])}{' ...' if len(names) > 4 else ''} can never fire again"
        )
    return out


# ---- export -----------------------------------------------------------------------------------


def _dot_id(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(g: nx.DiGraph, name: str) -> str:
    """The graph in Graphviz DOT (written here: no pydot needed). Node 0 is the initial state."""
    lines = [f"digraph {_dot_id(name)} {{", "  node [shape=circle, label=\"\"];",
             "  0 [shape=doublecircle];"]
    for u, v, data in g.edges(data=True):
        lines.append(f"  {u} -> {v} [label={_dot_id(str(data.get('op', '')))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_graph(g: nx.DiGraph, path: str, name: str) -> None:
    """GraphML (`.graphml`) or DOT (`.dot`, `.gv`), written atomically."""
    import networkx as nx

    from checker.itf import write_atomic

    if path.lower().endswith(".graphml"):
        text = "\n".join(nx.generate_graphml(g)) + "\n"
    else:
        text = to_dot(g, name)
    write_atomic(path, text)
