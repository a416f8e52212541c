"""Markdown for pull-request comments, for `verify` reports and reviews (docs/review.md)."""

from __future__ import annotations

from checker.diagnostics import Span
from checker.model import Model
from checker.report_common import (
    Rel,
    cause,
    fail_on_values,
    find_property,
    has_span,
    models_line,
    scope_text,
    side_errors,
    step_text,
    verdict_text,
)
from checker.results import PropertyResult, Trace, Verdict, VerifyReport
from checker.review import ReviewReport

_ICON = {
    Verdict.PROVED: "✅",
    Verdict.HOLDS: "✅",
    Verdict.UNDECIDED: "⚠️",
    Verdict.VIOLATED: "❌",
}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _link(span: Span, rel: Rel, link_base: str | None) -> str:
    path = rel(span.file)
    target = f"{link_base.rstrip('/')}/{path}" if link_base else path
    return f"[{path}:{span.line}]({target}#L{span.line})"


def _trace(trace: Trace) -> list[str]:
    lines = [f"Witness: {trace.witness}", ""] if trace.witness else []
    if not trace.steps:
        return lines + ["The initial state already violates it."]
    for i, step in enumerate(trace.steps, 1):
        lines.append(f"{i}. " + step_text(f"`{step.op}`", step.changes, " — "))
    return lines


def _violation(
    title: str, r: PropertyResult, model: Model | None, rel: Rel, link_base: str | None
) -> list[str]:
    out = [title, ""]
    prop = find_property(model, r.property)
    where: list[str] = []
    if prop is not None and has_span(prop.span):
        where.append(f"declared at {_link(prop.span, rel, link_base)}")
    c = cause(model, prop, r.trace) if model is not None else None
    if c is not None:
        where.append(f"caused by {c.label()} at {_link(c.span, rel, link_base)}")
    if where:
        sentence = "; ".join(where)
        out += [sentence[0].upper() + sentence[1:] + ".", ""]
    if r.trace is not None:
        out += _trace(r.trace)
    else:
        out.append("No trace was recorded.")
    return out + [""]


def markdown_verify(report: VerifyReport, model: Model, rel: Rel, link_base: str | None) -> str:
    out = [f"### memory11 verify: `{rel(report.model)}`", ""]
    order = (Verdict.VIOLATED, Verdict.UNDECIDED, Verdict.HOLDS, Verdict.PROVED)
    counts = {v: sum(1 for r in report.results if r.verdict is v) for v in order}
    summary = ", ".join(f"{n} {v.value}" for v, n in counts.items() if n)
    out += [f"**{summary or 'no properties'}**", ""]
    out += ["| property | verdict | engine | scope |", "| --- | --- | --- | --- |"]
    for r in report.results:
        out.append(
            f"| `{_cell(r.property)}` | {_ICON[r.verdict]} {verdict_text(r)} "
            f"| {r.engine} ({_cell(r.method)}) | {scope_text(r)} |"
        )
    out.append("")
    for r in report.results:
        if r.verdict is Verdict.VIOLATED:
            out += _violation(f"#### ❌ `{r.property}` is violated", r, model, rel, link_base)
    return "\n".join(out).rstrip() + "\n"


def markdown_review(review: ReviewReport, link_base: str | None) -> str:
    failing = review.failing()
    out = [f"### memory11 review: `{review.base_label}` → `{review.head_label}`", ""]
    fail_on = ", ".join(fail_on_values(review)) or "nothing"
    if review.head_errors():
        out.append(f"**❌ {len(review.head_errors())} model(s) could not be checked on head**")
    elif failing:
        out.append(f"**❌ {len(failing)} failing change(s)** (fails on: {fail_on})")
    else:
        out.append(f"**✅ no failing change** (fails on: {fail_on})")
    out.append("")
    counts = review.counts()
    if any(counts.values()):
        out += ["| category | properties |", "| --- | --- |"]
        out += [f"| {c.title} | {n} |" for c, n in counts.items() if n]
        out.append("")
    out += [models_line(review), ""]
    for m in review.models:
        out += [f"#### `{m.path}` ({m.status})", ""]
        for label, text in side_errors(m):
            out += [f"Cannot be checked on {label}:", "", "```", text, "```", ""]
        if m.changes:
            out += ["| property | base | head | change |", "| --- | --- | --- | --- |"]
            for ch in m.changes:
                mark = (
                    f"**{ch.category.title}**"
                    if ch.category in review.fail_on
                    else ch.category.title
                )
                if ch.trace_changed:
                    b, h = ch.trace_lengths
                    mark += f" (trace {b} → {h} steps)"
                out.append(
                    f"| `{_cell(ch.name)}` | {verdict_text(ch.base)} "
                    f"| {verdict_text(ch.head)} | {mark} |"
                )
            out.append("")
        model = m.head_model
        for ch in m.changes:
            if ch.head is not None and ch.head.verdict is Verdict.VIOLATED:
                icon = "❌" if ch.category in review.fail_on else "⚠️"
                title = f"##### {icon} `{ch.name}` {ch.category.title}"
                out += _violation(title, ch.head, model, review.relpath, link_base)
    return "\n".join(out).rstrip() + "\n"
