"""Pieces that the markdown, SARIF, JUnit and review renderers share: verdict and step wording,
property lookup, the declaration that causes a violation, the source span of a trace step, and
relative paths.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from checker.diagnostics import Span
from checker.model import Choose, Loop, Model, OpKind, Property, PropertyKind, Step
from checker.results import PropertyResult, Trace, Verdict
from checker.review import ModelReview, ReviewReport

MAX_CHANGES_PER_STEP = 3

Rel = Callable[[str], str]


def has_span(span: Span | None) -> bool:
    return span is not None and span.line > 0 and span.file != "<builtin>"


def steps(n: int) -> str:
    return f"{n} step{'s' if n != 1 else ''}"


def verdict_text(r: PropertyResult | None) -> str:
    if r is None:
        return "—"
    if r.verdict is Verdict.VIOLATED:
        n = r.trace_length
        return "violated" if n is None else f"violated ({steps(n)})"
    if r.verdict is Verdict.HOLDS and r.scope.depth is not None:
        return f"holds (depth {r.scope.depth})"
    return str(r.verdict.value)


def scope_text(r: PropertyResult) -> str:
    if r.scope.exhaustive:
        reach = "exhaustive"
    elif r.scope.depth is not None:
        reach = f"to depth {r.scope.depth}"
    else:
        reach = "not exhaustive"
    return f"{reach}, placement {r.scope.placement}"


def step_text(step_op: str, changes: Iterable[str], sep: str = ": ") -> str:
    """The operation, then at most MAX_CHANGES_PER_STEP of its changes after `sep`."""
    ch = list(changes)
    extra = ch[:MAX_CHANGES_PER_STEP] + (["…"] if len(ch) > MAX_CHANGES_PER_STEP else [])
    return step_op + (sep + "; ".join(extra) if extra else "")


def trace_text(r: PropertyResult) -> str:
    """The witness and the numbered steps, one a line (JUnit failures, the text review)."""
    if r.trace is None:
        return "no trace recorded"
    lines = [f"witness: {r.trace.witness}"]
    lines += [f"{i}. {step_text(s.op, s.changes)}" for i, s in enumerate(r.trace.steps, 1)]
    return "\n".join(lines)


def find_property(model: Model | None, name: str) -> Property | None:
    if model is None:
        return None
    for p in model.properties:
        if p.name == name:
            return p
    return None


# ---- where a violation comes from --------------------------------------------------------------


@dataclass(frozen=True)
class Cause:
    """The declaration that most directly causes a violation."""

    what: str  # "region" | "operation" | "domain"
    name: str
    span: Span

    def label(self) -> str:
        return f"{self.what} `{self.name}`"


def _regions(model: Model) -> list[tuple[str, Span]]:
    """Regions a witness may blame. RAM banks are left out: a page "in ram 'ddr'" says where
    something landed, not what caused it."""
    p, h = model.platform, model.hypervisor
    regs = list(p.mmio + p.reserved + h.windows + h.guest_ram)
    for d in model.domains:
        regs.extend(d.static_mem)
    return [(r.name, r.span) for r in regs]


def _scenario_ops(model: Model) -> list[tuple[OpKind, int, Span]]:
    out: list[tuple[OpKind, int, Span]] = []
    for st in model.scenario.statements:
        if isinstance(st, Step):
            out.append((st.op.kind, st.op.domain, st.op.span if has_span(st.op.span) else st.span))
        elif isinstance(st, (Choose, Loop)):
            out.extend((op.kind, op.domain, op.span) for op in st.alternatives)
    return out


def _op_site(model: Model, op_text: str) -> tuple[int, Span | None] | None:
    """For a trace step such as `balloon_in domd 1`: the domain it names (None when it names
    none) and the span of the scenario operation of that kind on that domain, if any."""
    words = op_text.replace("->", " ").split()
    names = {d.name: d.index for d in model.domains}
    if len(words) < 2 or words[1] not in names:
        return None
    acting = names[words[1]]
    for kind, dom, span in _scenario_ops(model):
        if kind.value == words[0] and dom == acting and has_span(span):
            return acting, span
    return acting, None


def _domain_span(model: Model, index: int) -> Span | None:
    if 0 <= index < len(model.domains) and has_span(model.domains[index].span):
        return model.domains[index].span
    return None


def step_span(model: Model, op_text: str) -> Span | None:
    """The scenario operation a trace step runs, else the domain it acts on."""
    site = _op_site(model, op_text)
    if site is None:
        return None
    acting, span = site
    return span if span is not None else _domain_span(model, acting)


_REGION_KINDS = {
    PropertyKind.NO_IPA_OVERLAP,
    PropertyKind.RAM_IN_HOST_RAM,
    PropertyKind.DMA_REACHES_INTENDED,
}


def cause(model: Model, prop: Property | None, trace: Trace | None) -> Cause | None:
    """A region the witness names (for properties about regions), else the scenario operation
    of the last step, else the domain that acted last (or the first one the property lists)."""
    if trace is not None and prop is not None and prop.kind in _REGION_KINDS:
        for name, span in _regions(model):
            if has_span(span) and re.search(
                rf"(?<![\w-]){re.escape(name)}(?![\w-])", trace.witness
            ):
                return Cause("region", name, span)
    acting: int | None = None
    if trace is not None and trace.steps:
        last = trace.steps[-1].op
        site = _op_site(model, last)
        if site is not None:
            acting, op_span = site
            if op_span is not None:
                return Cause("operation", last, op_span)
    if acting is None and prop is not None and prop.domains:
        acting = prop.domains[0]
    if acting is not None:
        dspan = _domain_span(model, acting)
        if dspan is not None:
            return Cause("domain", model.domains[acting].name, dspan)
    return None


def make_rel(root: str | None) -> Rel:
    top = os.path.abspath(root if root is not None else os.getcwd())

    def rel(file: str) -> str:
        full = os.path.abspath(file)
        if full == top or full.startswith(top.rstrip(os.sep) + os.sep):
            return os.path.relpath(full, top).replace(os.sep, "/")
        return file.replace(os.sep, "/")

    return rel


# ---- reviews -----------------------------------------------------------------------------------


def side_errors(m: ModelReview) -> list[tuple[str, str]]:
    """(`base` or `head`, the error text) for each side on which the model cannot be checked."""
    sides = ((m.base, "base"), (m.head, "head"))
    return [
        (label, s.error_text) for s, label in sides if s is not None and s.error_text is not None
    ]


def fail_on_values(review: ReviewReport) -> list[str]:
    return sorted(c.value for c in review.fail_on)


def counts_by_value(review: ReviewReport) -> dict[str, int]:
    return {c.value: n for c, n in review.counts().items()}


def models_line(review: ReviewReport) -> str:
    by = {
        s: sum(1 for m in review.models if m.status == s) for s in ("changed", "added", "removed")
    }
    line = f"Models: {by['changed']} changed, {by['added']} added, {by['removed']} removed"
    line += f"; {len(review.unchanged)} unchanged (not re-verified)"
    if review.skipped:
        line += f"; {len(review.skipped)} skipped (not a model: {', '.join(review.skipped)})"
    return line + "."
