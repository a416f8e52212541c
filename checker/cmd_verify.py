"""`checker verify` and `checker replay`.

`run_verify` does the work of `verify` without printing (the review command calls it);
`verify` adds the progress line, the counterexample files, the graph export and the rendering.
`replay` re-executes a counterexample with the reference semantics, step by step.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import click

from checker import __version__, itf
from checker.diagnostics import CheckerError, Diagnostic, Exit, Note
from checker.explore import (
    Exploration,
    ProgressFn,
    SemanticsLike,
    explore,
    write_graph,
)
from checker.explore_trace import action_choices
from checker.model import Model, Property
from checker.progress import ProgressLine
from checker.report import render, trace_text
from checker.results import PropertyResult, Trace, TraceStep, Verdict, VerifyReport
from checker.semantics import NotEnabled

ENGINES = ("auto", "explicit", "smt", "both")
SemanticsFactory = Callable[..., SemanticsLike]


def _fail(message: str, *notes: str, code: Exit = Exit.BAD_INPUT) -> CheckerError:
    return CheckerError([Diagnostic(message, None, tuple(Note(n) for n in notes))], code)


def _load(path: str) -> Model:
    from checker.resolve import load_model

    return load_model(path)


def _semantics_factory() -> SemanticsFactory:
    from checker.semantics import Semantics

    return cast(SemanticsFactory, Semantics)


def _smt() -> Callable[..., PropertyResult] | None:
    """The SMT engine's `verify_property(model, prop, *, depth, timeout)`, if it exists."""
    for name in ("checker.encode", "checker.smt"):
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        fn = getattr(mod, "verify_property", None)
        if callable(fn):
            return cast(Callable[..., PropertyResult], fn)
    return None


# NOTE(auto-budget): under `--engine auto`, unless the user bounds the search (`--max-states`)
# or exports its graph, the explicit search runs first with a budget of AUTO_EXPLICIT_STATES
# distinct states (and at most AUTO_EXPLICIT_SECONDS seconds); a property it leaves undecided
# goes to the symbolic engine when that engine supports it, and otherwise is searched again by
# the explicit engine without the budget. Small spaces finish within the budget (exact BFS
# state counts, shortest traces) and shallow violations of large ones are found in it; a space
# too large to enumerate costs only the budget (0.02-0.05 s on frag-balloon, against ~0.15 s
# for 2,000 states on huge) before BMC/induction decide it. The shipped models have at most
# ~500 states, or more than 30,000. The state budget makes the choice, the verdicts and the
# counterexample files independent of machine speed; only a model whose first
# AUTO_EXPLICIT_STATES states take longer than AUTO_EXPLICIT_SECONDS to expand (none of the
# shipped models or benchmarks: they take at most ~0.05 s) hands over on time instead, and
# then which engine decides depends on the machine. The budgeted search runs over the reference
# store: compiling the packed form (checker/packed.py) costs up to ~0.15 s before the first
# state, more than 1,000 reference states take. The symbolic engine (and Z3) is imported only
# when some property is left undecided.
#
# The symbolic engine gets, under `auto` and without `--timeout`, an effort budget of
# AUTO_SMT_EFFORT (Z3's rlimit summed over the property's queries: deterministic, roughly 5 to
# 15 seconds here); a property it leaves undecided is then searched by the explicit engine
# without the state budget, as one it does not support, so `auto` never answers `undecided`
# where the explicit search alone would have answered.
AUTO_EXPLICIT_STATES = 1000
AUTO_EXPLICIT_SECONDS = 0.5
AUTO_SMT_EFFORT = 30_000_000


def _smt_supports(model: Model, prop: Property) -> bool:
    try:
        mod = importlib.import_module("checker.smt")
    except ModuleNotFoundError:
        return False
    fn = getattr(mod, "supports", None)
    return callable(fn) and fn(model, prop) is True


def select_properties(model: Model, names: Sequence[str] | None) -> list[Property]:
    """The model's properties named on the command line (all of them when none is named)."""
    if not model.properties:
        raise _fail(f"{model.path} declares no property to verify",
                    "add `property ipa_eq_pa` or an `invariant NAME: EXPR` to the model")
    if not names:
        return list(model.properties)
    known = {p.name: p for p in model.properties}
    chosen: list[Property] = []
    for n in names:
        if n not in known:
            raise _fail(f"unknown property {n!r}",
                        f"{model.path} declares: {', '.join(known)}")
        if known[n] not in chosen:
            chosen.append(known[n])
    return chosen


def counterexample_path(model_path: str, prop: str, out: str | None) -> Path:
    base = Path(out) if out is not None else Path("counterexamples") / Path(model_path).stem
    return base / f"{prop}.itf.json"


def write_counterexample(
    model: Model, r: PropertyResult, actions: list[Any], path: Path, extra: dict[str, Any]
) -> None:
    """Write r.trace as ITF to `path` (atomically) and record the path in `r`."""
    assert r.trace is not None
    trace = r.trace
    doc = itf.document(
        model_path=model.path,
        sources=itf.source_digests(model.path, model.sources),
        prop=r.property,
        engine=r.engine,
        method=r.method,
        witness=trace.witness,
        version=__version__,
        initial=trace.initial,
        steps=[(s.op, s.choices, a, s.state) for s, a in zip(trace.steps, actions)],
    )
    doc["#meta"].update(extra)
    try:
        itf.write_atomic(path, itf.dumps(doc))
    except OSError as exc:
        raise _fail(f"cannot write the counterexample {path}: {exc.strerror}",
                    "choose another directory with --out") from exc
    r.counterexample = str(path)


def _match_actions(sem: SemanticsLike, trace: Trace) -> list[Any]:
    """The semantics' actions behind a trace from another engine: at each step, the operation
    with that label whose recorded choices, applied, give the recorded state. Fails loudly
    (exit 4): a trace that does not replay is a checker bug."""
    state = sem.initial()
    if sem.state_to_json(state) != trace.initial:
        raise _fail(f"the {trace.property} trace does not start in the initial state",
                    code=Exit.INTERNAL)
    labels = list(sem.op_labels())
    out: list[Any] = []
    for i, step in enumerate(trace.steps, 1):
        found = None
        for oi, label in enumerate(labels):
            if label != step.op:
                continue
            data = {"op_index": oi, "label": label, "choices": step.choices}
            try:
                action = sem.action_from_json(data)
                after = sem.apply(state, action)
            except (ValueError, KeyError, TypeError, NotEnabled):
                continue
            if sem.state_to_json(after) == step.state:
                found = (sem.action_to_json(action), after)
                break
        if found is None:
            raise _fail(f"step {i} ({step.op}) of the {trace.property} trace does not replay "
                        "with the reference semantics", code=Exit.INTERNAL)
        out.append(found[0])
        state = found[1]
    return out


def _disagree(a: PropertyResult, b: PropertyResult) -> str | None:
    va, vb = a.verdict is Verdict.VIOLATED, b.verdict is Verdict.VIOLATED
    if va != vb:
        safe = b if va else a
        if safe.verdict is Verdict.PROVED or (safe.verdict is Verdict.HOLDS and (
                safe.scope.depth is None or safe.scope.depth >= (
                    (a if va else b).trace_length or 0))):
            return f"{a.engine} says {a.verdict.value}, {b.engine} says {b.verdict.value}"
        return None
    cut = b.stats.get("cut_depth")  # NOTE(cut) in smt.py: shortest within a bound only
    if cut is not None and b.trace_length is not None and cut <= b.trace_length:
        return None
    if va and vb and a.trace_length != b.trace_length and a.method == "bfs" and b.method == "bmc":
        return f"shortest traces differ: {a.engine} {a.trace_length}, {b.engine} {b.trace_length}"
    return None


def _auto_handover(
    model: Model, props: Sequence[Property], results: dict[str, PropertyResult],
    budget_hit: bool, stopped_by: str | None,
) -> tuple[Callable[..., PropertyResult] | None, str]:
    """The symbolic engine when `--engine auto` leaves a property undecided (None when none is
    left or there is no such engine), and the words that say why it was chosen."""
    if all(results[p.name].verdict is not Verdict.UNDECIDED for p in props):
        return None, ""
    if not budget_hit:
        why = ""
    elif stopped_by == "max_states":
        why = f" after {AUTO_EXPLICIT_STATES} states"
    else:
        why = f" after {AUTO_EXPLICIT_SECONDS:g} s"
    return _smt(), why


_RANK = {Verdict.PROVED: 0, Verdict.VIOLATED: 1, Verdict.HOLDS: 2, Verdict.UNDECIDED: 3}


def run_verify(
    path: str,
    *,
    properties: Sequence[str] | None = None,
    engine: str = "auto",
    depth: int | None = None,
    max_states: int | None = None,
    timeout: float | None = None,
    placement: str = "auto",
    symmetry: bool = True,
    out: str | None = None,
    write_counterexamples: bool = False,
    graph: str | None = None,
    progress: ProgressFn | None = None,
    model: Model | None = None,
    semantics: SemanticsFactory | None = None,
) -> tuple[VerifyReport, Model]:
    """Verify the properties of the model in `path`; no printing, no files unless asked
    (`write_counterexamples`, `graph`)."""
    if engine not in ENGINES:
        raise _fail(f"unknown engine {engine!r}", f"engines: {', '.join(ENGINES)}")
    if graph is not None and Path(graph).suffix.lower() not in (".graphml", ".dot", ".gv"):
        raise _fail(f"--graph {graph}: the file name must end in .graphml or .dot")
    model = model if model is not None else _load(path)
    props = select_properties(model, properties)
    sha = itf.sha256_file(path)
    smt: Callable[..., PropertyResult] | None = None
    why = ""
    if engine in ("smt", "both"):
        smt = _smt()
        if engine == "smt" and smt is None:
            raise _fail("engine smt not yet available", "use --engine explicit")
        if engine == "both" and smt is None:
            raise _fail("engine both needs the smt engine, which is not yet available")

    results: dict[str, PropertyResult] = {}
    actions: dict[str, list[Any]] = {}
    sem: SemanticsLike | None = None
    budgeted = engine == "auto" and max_states is None and graph is None
    if engine in ("auto", "explicit", "both") or graph is not None:
        factory = semantics if semantics is not None else _semantics_factory()
        sem = factory(model, placement=placement, symmetry=symmetry)
        exp_timeout, exp_states = timeout, max_states
        if budgeted:
            exp_states = AUTO_EXPLICIT_STATES
            exp_timeout = (AUTO_EXPLICIT_SECONDS if timeout is None
                           else min(timeout, AUTO_EXPLICIT_SECONDS))
        exp: Exploration = explore(sem, props, depth=depth, max_states=exp_states,
                                   timeout=exp_timeout, symmetry=symmetry, progress=progress,
                                   graph=True if graph is not None else None,
                                   packed=False if budgeted else None)
        if graph is not None:
            assert exp.graph is not None
            try:
                write_graph(exp.graph, graph, model.path)
            except OSError as exc:
                raise _fail(f"cannot write the graph to {graph}: {exc.strerror}") from exc
        if engine != "smt":
            for r in exp.results:
                if engine == "auto":
                    r.stats["engine_selected_by"] = "auto"
                results[r.property] = r
            actions.update(exp.actions)
        if engine == "auto":
            budget_hit = budgeted and (exp.stopped_by == "max_states" or (
                exp.stopped_by == "timeout" and (timeout is None
                                                 or timeout > AUTO_EXPLICIT_SECONDS)))
            smt, why = _auto_handover(model, props, results, budget_hit, exp.stopped_by)
            rest = [p for p in props if results[p.name].verdict is Verdict.UNDECIDED
                    and (smt is None or not _smt_supports(model, p))]
            if budget_hit and rest:
                again = explore(sem, rest, depth=depth, max_states=None, timeout=timeout,
                                symmetry=symmetry, progress=progress)
                for r in again.results:
                    r.stats["engine_selected_by"] = "auto (the smt engine cannot decide it)"
                    results[r.property] = r
                actions.update(again.actions)
    late: list[Property] = []  # undecided by the symbolic engine under auto
    if smt is not None:
        for p in props:
            prior = results.get(p.name)
            if engine == "auto" and (prior is None or prior.verdict is not Verdict.UNDECIDED
                                     or not _smt_supports(model, p)):
                continue
            if engine == "auto" and timeout is None:
                r = smt(model, p, depth=depth, timeout=timeout, effort=AUTO_SMT_EFFORT)
            else:
                r = smt(model, p, depth=depth, timeout=timeout)
            if engine == "auto":
                r.stats["engine_selected_by"] = f"auto (explicit was undecided{why})"
                if r.verdict is Verdict.UNDECIDED and budgeted:
                    late.append(p)
            if engine == "both" and prior is not None:
                why_not = _disagree(prior, r)
                if why_not is not None:
                    raise _fail(f"engines disagree on {p.name}: {why_not}",
                                "this is a bug in the checker; please keep the model",
                                code=Exit.INTERNAL)
                if _RANK[r.verdict] < _RANK[prior.verdict] and r.verdict is not Verdict.VIOLATED:
                    r.stats["cross_checked_by"] = prior.engine
                    results[p.name] = r
                else:
                    prior.stats["cross_checked_by"] = r.engine
                continue
            results[p.name] = r

    if late:
        assert sem is not None
        again = explore(sem, late, depth=depth, max_states=None, timeout=timeout,
                        symmetry=symmetry, progress=progress)
        for r in again.results:
            gave_up = results[r.property].warnings
            r.stats["engine_selected_by"] = "auto (the smt engine was undecided)"
            r.warnings = [f"smt: {w}" for w in gave_up] + r.warnings
            results[r.property] = r
        actions.update(again.actions)
    ordered = [results[p.name] for p in props]
    if write_counterexamples:
        for r in ordered:
            if r.verdict is Verdict.VIOLATED and r.trace is not None:
                acts = actions.get(r.property)
                if acts is None:
                    if sem is None:
                        factory = semantics if semantics is not None else _semantics_factory()
                        sem = factory(model, placement=placement, symmetry=False)
                    acts = _match_actions(sem, r.trace)
                extra = {"placement": r.scope.placement, "symmetry": symmetry}
                write_counterexample(model, r, acts, counterexample_path(model.path, r.property,
                                                                         out), extra)
    return VerifyReport(model.path, sha, __version__, ordered), model


def exit_code(report: VerifyReport) -> int:
    verdicts = {r.verdict for r in report.results}
    if Verdict.VIOLATED in verdicts:
        return int(Exit.VIOLATED)
    if Verdict.UNDECIDED in verdicts:
        return int(Exit.UNDECIDED)
    return int(Exit.OK)


def verify(
    file: str,
    properties: Sequence[str] | None = None,
    engine: str = "auto",
    depth: int | None = None,
    max_states: int | None = None,
    timeout: float | None = None,
    placement: str = "auto",
    symmetry: bool = True,
    fmt: str = "text",
    out: str | None = None,
    graph: str | None = None,
    quiet: bool = False,
) -> int:
    """`checker verify`: 0 all proved/hold, 1 a violation, 3 undecided, 2 bad input, 4 internal."""
    line = ProgressLine(f"verify {file}", enabled=not quiet)
    try:
        report, model = run_verify(
            file, properties=properties, engine=engine, depth=depth, max_states=max_states,
            timeout=timeout, placement=placement, symmetry=symmetry, out=out,
            write_counterexamples=True, graph=graph, progress=line,
        )
    finally:
        line.close()
    click.echo(render(report, fmt, model), nl=False)
    return exit_code(report)


# ---- replay -----------------------------------------------------------------------------------


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """A readable path to the first place where two JSON values differ, and how."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(a) + [k for k in b if k not in a]:
            if k not in a:
                return f"{path}.{k}: recorded but not produced"
            if k not in b:
                return f"{path}.{k}: produced {_short(a[k])} but not recorded"
            d = _first_difference(a[k], b[k], f"{path}.{k}")
            if d is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_difference(x, y, f"{path}[{i}]")
            if d is not None:
                return d
        if len(a) != len(b):
            return f"{path}: {len(a)} items replayed, {len(b)} recorded"
        return None
    if a != b or type(a) is not type(b):
        return f"{path or 'state'}: replay gives {_short(a)}, the trace records {_short(b)}"
    return None


def _short(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def check_digests(trace: itf.ItfTrace, model: Model) -> list[str]:
    """Differences between the digests recorded in the trace and the model's files now: the
    model file, then each included source in load order (empty: the same files)."""
    recorded = trace.meta["sources"]
    current = itf.source_digests(model.path, model.sources)
    problems: list[str] = []
    if current[0]["sha256"] != trace.meta["model_sha256"]:
        problems.append(f"{model.path}: sha256 {current[0]['sha256'][:12]} but the trace was "
                        f"made with {trace.meta['model_sha256'][:12]}")
    for then, now in zip(recorded[1:], current[1:]):
        if then["sha256"] != now["sha256"]:
            problems.append(f"{now['path']}: sha256 {now['sha256'][:12]} but the trace was made "
                            f"with {then['sha256'][:12]} ({then['path']})")
    if len(recorded) != len(current):
        problems.append(f"the model includes {len(current) - 1} file(s); it included "
                        f"{len(recorded) - 1} when the trace was made")
    return problems


def _model_for(trace_path: str, recorded: str) -> str:
    """The recorded model path, relative to the current directory or, when the trace sits in
    the default `counterexamples/<stem>/` layout, to the directory verify ran in."""
    if Path(recorded).is_absolute() or Path(recorded).is_file():
        return recorded
    base = Path(trace_path).resolve().parent.parent.parent
    candidate = base / recorded
    return str(candidate) if candidate.is_file() else recorded


def replay(trace_path: str, model_path: str | None = None, force: bool = False,
           semantics: SemanticsFactory | None = None) -> int:
    """`checker replay`: 0 reproduced, 1 not reproduced, 2 malformed/tampered or model changed."""
    trace = itf.read(trace_path)
    mpath = model_path if model_path is not None else _model_for(trace_path, trace.model)
    try:
        itf.sha256_file(mpath)
    except OSError as exc:
        raise _fail(f"cannot read model {mpath}: {exc.strerror}",
                    "name the model with --model") from exc
    model = _load(mpath)
    problems = check_digests(trace, model)
    if problems and not force:
        raise _fail(f"the model changed since {trace_path} was written", *problems,
                    "replay it anyway with --force")
    for p in problems:
        click.echo(f"warning: {p} (replaying anyway: --force)", err=True)
    try:
        prop = model.property(trace.property)
    except KeyError:
        raise _fail(f"the model has no property {trace.property!r}",
                    f"{mpath} declares: {', '.join(p.name for p in model.properties)}") from None
    factory = semantics if semantics is not None else _semantics_factory()
    placement = str(trace.meta.get("placement", "auto"))
    try:
        sem = factory(model, placement=placement, symmetry=False)
    except (ValueError, KeyError):
        sem = factory(model, placement="auto", symmetry=False)
    from_json = sem.action_from_json
    state = sem.initial()
    shown: list[TraceStep] = []
    click.echo(f"replay {trace_path}: {trace.property} on {mpath} ({len(trace.steps)} steps)")

    def not_reproduced(why: str) -> int:
        partial = Trace(trace.property, trace.initial, tuple(shown), "(not reached)")
        click.echo("\n".join(trace_text(partial)[:-1]))
        click.echo(f"not reproduced: {why}")
        return int(Exit.VIOLATED)

    d = _first_difference(sem.state_to_json(state), trace.initial)
    if d is not None:
        return not_reproduced(f"the initial state differs: {d}")
    for i, step in enumerate(trace.steps, 1):
        where = trace.locate(("states", i, "#meta"))
        try:
            action = from_json(step.action)
        except (KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
            raise CheckerError([Diagnostic(f"step {i}: invalid action: {exc}", where,
                                           (Note("the trace was edited or is corrupt"),))]) from None
        if sem.action_label(action) != step.op or action_choices(sem, action) != step.choices:
            raise CheckerError([Diagnostic(
                f"step {i}: the recorded operation/choices ({step.op} {step.choices}) do not "
                f"match the recorded action ({sem.action_label(action)} "
                f"{action_choices(sem, action)})", where,
                (Note("the trace was edited: the step's op and choices must describe its "
                      "action"),))])
        try:
            after = sem.apply(state, action)
        except NotEnabled as exc:
            return not_reproduced(f"step {i} ({step.op}) is not enabled: {exc.reason}")
        got = sem.state_to_json(after)
        shown.append(TraceStep(step.op, step.choices, got,
                               tuple(_lines(sem.describe(state, action, after)))))
        d = _first_difference(got, step.state)
        if d is not None:
            return not_reproduced(f"step {i} ({step.op}) diverges: {d}")
        state = after
    witness = sem.violation(state, prop)
    if witness is None:
        return not_reproduced(f"{trace.property} holds in the final state")
    full = Trace(trace.property, trace.initial, tuple(shown), witness)
    click.echo("\n".join(trace_text(full)))
    click.echo(f"reproduced: {trace.property} is violated after {len(shown)} step"
               f"{'' if len(shown) == 1 else 's'}")
    return int(Exit.OK)


def _lines(text: Any) -> list[str]:
    if isinstance(text, str):
        return [ln for ln in text.splitlines() if ln.strip()]
    return [str(x) for x in text]
