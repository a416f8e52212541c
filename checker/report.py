"""Rendering of a `VerifyReport`: text for people, JSON for tools (docs/json.md).

Markdown, SARIF and JUnit live in `checker.report_ci`; `render` dispatches to it when present.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from checker.diagnostics import CheckerError, Diagnostic, Exit
from checker.model import Model
from checker.results import PropertyResult, Trace, Verdict, VerifyReport

OWN_FORMATS = ("text", "json")


def render(report: VerifyReport, fmt: str, model: Model) -> str:
    """The report in `fmt`; CheckerError (exit 2) for a format whose renderer is missing."""
    if fmt == "text":
        return render_text(report)
    if fmt == "json":
        return render_json(report)
    try:
        ci = importlib.import_module("checker.report_ci")
    except ModuleNotFoundError as exc:
        if exc.name != "checker.report_ci":
            raise
        raise CheckerError([Diagnostic(f"format {fmt} not yet available")], Exit.BAD_INPUT) from None
    text = ci.render(report, fmt, model)
    assert isinstance(text, str)
    return text


# ---- JSON -------------------------------------------------------------------------------------


def result_to_json(r: PropertyResult) -> dict[str, Any]:
    return {
        "property": r.property,
        "verdict": r.verdict.value,
        "engine": r.engine,
        "method": r.method,
        "scope": r.scope.to_json(),
        "trace_length": r.trace_length,
        "counterexample": r.counterexample,
        "states": r.states,
        "transitions": r.transitions,
        "seconds": round(r.seconds, 6),
        "warnings": list(r.warnings),
        "stats": _jsonable(r.stats),
    }


def to_json(report: VerifyReport) -> dict[str, Any]:
    return {
        "model": report.model,
        "model_sha256": report.model_sha256,
        "checker_version": report.checker_version,
        "results": [result_to_json(r) for r in report.results],
    }


def render_json(report: VerifyReport) -> str:
    return json.dumps(to_json(report), indent=2, ensure_ascii=False) + "\n"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(v) for v in items]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


# ---- text -------------------------------------------------------------------------------------


def _placement(p: str) -> str:
    return {"candidates": "candidate placement", "symbolic": "symbolic placement"}.get(
        p, f"{p} placement"
    )


def _n(k: int, unit: str) -> str:
    return f"{k:,} {unit}{'' if k == 1 else 's'}"


def _states(r: PropertyResult) -> str:
    """`522 states`, or with symmetry reduction `20 states (64 without symmetry)`."""
    text = _n(r.states, "state")
    unreduced = r.stats.get("unreduced_states")
    if r.stats.get("symmetry") and isinstance(unreduced, int) and unreduced != r.states:
        text += f" ({unreduced:,} without symmetry)"
    return text


def verdict_text(r: PropertyResult) -> str:
    """`proved (exhaustive, exact placement, 522 states)`, `holds up to depth 8 (...)`, ..."""
    where = _placement(r.scope.placement)
    if r.verdict is Verdict.VIOLATED:
        n = r.trace_length if r.trace_length is not None else 0
        kind = "shortest trace" if r.method in ("bfs", "bmc") else "trace"
        return f"violated ({kind}: {_n(n, 'step')})"
    if r.verdict is Verdict.PROVED:
        if r.scope.exhaustive and r.engine == "explicit":
            return f"proved (exhaustive, {where}, {_states(r)})"
        return f"proved ({r.method}, {where})"
    if r.verdict is Verdict.HOLDS:
        size = f", {_states(r)}" if r.engine == "explicit" else ""
        if r.scope.depth is not None:
            return f"holds up to depth {r.scope.depth} ({where}{size})"
        return f"holds (every state reachable under {where}{size})"
    stop = r.stats.get("stopped_by")
    reason = {"max_states": f"state limit reached at {_n(r.states, 'state')}",
              "timeout": "timeout"}.get(str(stop), str(stop or r.method))
    depth = f"; no violation up to depth {r.scope.depth}" if r.scope.depth is not None else ""
    return f"undecided ({reason}{depth})"


def _value(v: Any) -> str:
    """Choices are page frame numbers (docs/semantics.md): `pfn 0xe0000`, extents as
    `pfn 0x94000+4096,0x99000+16`."""
    if isinstance(v, int) and not isinstance(v, bool):
        return f"pfn {v:#x}"
    if isinstance(v, list) and v and all(
        isinstance(e, list) and len(e) == 2 and all(isinstance(x, int) for x in e) for e in v
    ):
        return "pfn " + ",".join(f"{a:#x}+{n}" for a, n in v)
    return json.dumps(v, separators=(",", ":"))


def choices_text(choices: dict[str, Any]) -> str:
    return " ".join(f"{k}={_value(v)}" for k, v in choices.items())


def trace_text(trace: Trace, counterexample: str | None = None) -> list[str]:
    """The numbered steps of a trace: operation, choices, what changed; then the witness."""
    lines = ["   0. initial state"]
    for i, step in enumerate(trace.steps, 1):
        ch = choices_text(step.choices)
        lines.append(f"  {i:>2}. {step.op}" + (f"  [{ch}]" if ch else ""))
        lines.extend(f"        {c}" for c in step.changes)
    lines.append(f"  witness: {trace.witness}")
    if counterexample is not None:
        lines.append(f"  counterexample: {counterexample}")
        lines.append(f"  replay with: checker replay {counterexample}")
    return lines


def render_text(report: VerifyReport) -> str:
    out = [f"{report.model} (sha256 {report.model_sha256[:12]}, checker {report.checker_version})"]
    width = max((len(r.property) for r in report.results), default=0)
    for r in report.results:
        engine = r.engine
        picked = r.stats.get("engine_selected_by")
        if picked:
            engine = f"{engine}, chosen by {picked}"
        checked = r.stats.get("cross_checked_by")
        if checked:
            engine = f"{engine}, cross-checked by {checked}"
        out.append(
            f"  {r.property:<{width}}  {verdict_text(r)}  [{engine}, {r.seconds:.2f} s]"
        )
    warned: dict[str, list[str]] = {}
    for r in report.results:
        for w in r.warnings:
            warned.setdefault(w, []).append(r.property)
    for w, props in warned.items():
        out.append(f"warning: {w} ({', '.join(props)})")
    for r in report.results:
        if r.verdict is Verdict.VIOLATED and r.trace is not None:
            out.append("")
            out.append(f"{r.property}: violated, {_n(len(r.trace), 'step')}:")
            out.extend(trace_text(r.trace, r.counterexample))
    return "\n".join(out) + "\n"
