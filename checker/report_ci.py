"""Renderers for continuous integration: markdown (pull-request comments), SARIF 2.1.0 (code
scanning) and JUnit XML (test dashboards), for `verify` reports and `review` reports; and the
text and JSON forms of a review. docs/review.md describes every format exactly.

`render(report, fmt, model)` is the entry point for a `verify` report; `render_review(review,
fmt)` for a review. Paths in the output are relative to `root` (for a review, to the side that
holds the file); links are `LINK_BASE/PATH#L<line>` when a link base is given (for example
`https://github.com/OWNER/REPO/blob/SHA`), `PATH#L<line>` otherwise.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from checker import __version__
from checker.diagnostics import Span
from checker.model import Choose, Loop, Model, OpKind, Property, PropertyKind, Step
from checker.results import PropertyResult, Trace, Verdict, VerifyReport
from checker.review import Category, ModelReview, ReviewReport

CI_FORMATS = ("markdown", "sarif", "junit")
REVIEW_FORMATS = ("text", "json", "markdown", "sarif", "junit")
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
MAX_CHANGES_PER_STEP = 3

Rel = Callable[[str], str]

# NOTE(rule-text): one SARIF rule per built-in property; the short text is the one-line
# definition of docs/language.md, the full text says why a violation matters.
RULES: dict[PropertyKind, tuple[str, str, str]] = {
    PropertyKind.IPA_EQ_PA: (
        "IpaEqualsPa",
        "Every populated RAM page of an alive direct-mapped domain has IPA == PA.",
        (
            "A direct-mapped (1:1) guest programs DMA with guest-physical addresses; a page whose "
            "IPA differs from its PA makes a device read or write the wrong machine page."
        ),
    ),
    PropertyKind.NO_IPA_OVERLAP: (
        "NoIpaOverlap",
        (
            "Inside each alive domain's IPA space, RAM, passthrough MMIO and hypervisor windows "
            "are pairwise disjoint."
        ),
        (
            "Overlapping guest-physical ranges mean a RAM access reaches a device or a hypervisor "
            "window (vGIC, grant table), or the other way round."
        ),
    ),
    PropertyKind.DMA_REACHES_INTENDED: (
        "DmaReachesIntended",
        "Every DMA so far reached the machine page that backs the buffer's IPA.",
        "A misdirected DMA corrupts memory that belongs to another domain or to the hypervisor.",
    ),
    PropertyKind.CREATE_SUCCEEDS: (
        "CreateSucceeds",
        "No create of a listed domain has failed.",
        (
            "The configuration admits a reachable state in which the domain cannot be (re)created, "
            "for example because no suitably aligned free block is left."
        ),
    ),
    PropertyKind.BALLOON_IN_SUCCEEDS: (
        "BalloonInSucceeds",
        "No balloon-in of a listed domain has failed.",
        "The domain can give memory back but not get it back: it loses RAM for good.",
    ),
    PropertyKind.NO_FRAME_SHARED: (
        "NoFrameShared",
        (
            "No machine frame is owned by two domains, every frame mapped as RAM is owned by the "
            "domain that maps it, and no frame is mapped twice as RAM."
        ),
        "A shared or foreign frame mapped as RAM breaks isolation between domains.",
    ),
    PropertyKind.RAM_IN_HOST_RAM: (
        "RamInHostRam",
        "Every RAM page of a direct-mapped domain lies in a host RAM bank.",
        (
            "A direct-mapped guest whose RAM lies outside host RAM treats device or unbacked "
            "addresses as memory."
        ),
    ),
    PropertyKind.INVARIANT: (
        "UserInvariant",
        "A user invariant declared with `invariant NAME: EXPR` holds in every reachable state.",
        "The model's own invariant is false in a reachable state.",
    ),
}
RULE_ORDER = list(RULES)


# ---- shared pieces -----------------------------------------------------------------------------


def has_span(span: Span | None) -> bool:
    return span is not None and span.line > 0 and span.file != "<builtin>"


def verdict_text(r: PropertyResult | None) -> str:
    if r is None:
        return "—"
    if r.verdict is Verdict.VIOLATED:
        n = r.trace_length
        return "violated" if n is None else f"violated ({n} step{'s' if n != 1 else ''})"
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


def step_text(step_op: str, changes: Iterable[str]) -> str:
    ch = list(changes)
    extra = ch[:MAX_CHANGES_PER_STEP] + (["…"] if len(ch) > MAX_CHANGES_PER_STEP else [])
    return step_op + (": " + "; ".join(extra) if extra else "")


def find_property(model: Model | None, name: str) -> Property | None:
    if model is None:
        return None
    for p in model.properties:
        if p.name == name:
            return p
    return None


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
        words = last.replace("->", " ").split()
        names = {d.name: d.index for d in model.domains}
        if len(words) >= 2 and words[1] in names:
            acting = names[words[1]]
            for kind, dom, span in _scenario_ops(model):
                if kind.value == words[0] and dom == acting and has_span(span):
                    return Cause("operation", last, span)
    if acting is None and prop is not None and prop.domains:
        acting = prop.domains[0]
    if acting is not None and 0 <= acting < len(model.domains):
        d = model.domains[acting]
        if has_span(d.span):
            return Cause("domain", d.name, d.span)
    return None


def make_rel(root: str | None) -> Rel:
    top = os.path.abspath(root if root is not None else os.getcwd())

    def rel(file: str) -> str:
        full = os.path.abspath(file)
        if full == top or full.startswith(top.rstrip(os.sep) + os.sep):
            return os.path.relpath(full, top).replace(os.sep, "/")
        return file.replace(os.sep, "/")

    return rel


# ---- markdown ------------------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_link(span: Span, rel: Rel, link_base: str | None) -> str:
    path = rel(span.file)
    target = f"{link_base.rstrip('/')}/{path}" if link_base else path
    return f"[{path}:{span.line}]({target}#L{span.line})"


def _md_trace(trace: Trace) -> list[str]:
    lines = [f"Witness: {trace.witness}", ""] if trace.witness else []
    if not trace.steps:
        return lines + ["The initial state already violates it."]
    for i, step in enumerate(trace.steps, 1):
        ch = list(step.changes)
        extra = ch[:MAX_CHANGES_PER_STEP] + (["…"] if len(ch) > MAX_CHANGES_PER_STEP else [])
        lines.append(f"{i}. `{step.op}`" + (" — " + "; ".join(extra) if extra else ""))
    return lines


def _md_violation(
    title: str, r: PropertyResult, model: Model | None, rel: Rel, link_base: str | None
) -> list[str]:
    out = [title, ""]
    prop = find_property(model, r.property)
    where: list[str] = []
    if prop is not None and has_span(prop.span):
        where.append(f"declared at {_md_link(prop.span, rel, link_base)}")
    c = cause(model, prop, r.trace) if model is not None else None
    if c is not None:
        where.append(f"caused by {c.label()} at {_md_link(c.span, rel, link_base)}")
    if where:
        sentence = "; ".join(where)
        out += [sentence[0].upper() + sentence[1:] + ".", ""]
    if r.trace is not None:
        out += _md_trace(r.trace)
    else:
        out.append("No trace was recorded.")
    return out + [""]


_ICON = {
    Verdict.PROVED: "✅",
    Verdict.HOLDS: "✅",
    Verdict.UNDECIDED: "⚠️",
    Verdict.VIOLATED: "❌",
}


def markdown_verify(report: VerifyReport, model: Model, rel: Rel, link_base: str | None) -> str:
    out = [f"### memory11 verify: `{rel(report.model)}`", ""]
    order = (Verdict.VIOLATED, Verdict.UNDECIDED, Verdict.HOLDS, Verdict.PROVED)
    counts = {v: sum(1 for r in report.results if r.verdict is v) for v in order}
    summary = ", ".join(f"{n} {v.value}" for v, n in counts.items() if n)
    out += [f"**{summary or 'no properties'}**", ""]
    out += ["| property | verdict | engine | scope |", "| --- | --- | --- | --- |"]
    for r in report.results:
        out.append(
            f"| `{_md_cell(r.property)}` | {_ICON[r.verdict]} {verdict_text(r)} "
            f"| {r.engine} ({_md_cell(r.method)}) | {scope_text(r)} |"
        )
    out.append("")
    for r in report.results:
        if r.verdict is Verdict.VIOLATED:
            out += _md_violation(f"#### ❌ `{r.property}` is violated", r, model, rel, link_base)
    return "\n".join(out).rstrip() + "\n"


def _review_model(m: ModelReview) -> Model | None:
    if m.head is not None and m.head.model is not None:
        return m.head.model
    return m.base.model if m.base is not None else None


def markdown_review(review: ReviewReport, link_base: str | None) -> str:
    failing = review.failing()
    out = [f"### memory11 review: `{review.base_label}` → `{review.head_label}`", ""]
    fail_on = ", ".join(sorted(c.value for c in review.fail_on)) or "nothing"
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
    out += [_models_line(review), ""]
    for m in review.models:
        out += [f"#### `{m.path}` ({m.status})", ""]
        for side, label in ((m.base, "base"), (m.head, "head")):
            if side is not None and side.error_text is not None:
                out += [f"Cannot be checked on {label}:", "", "```", side.error_text, "```", ""]
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
                    f"| `{_md_cell(ch.name)}` | {verdict_text(ch.base)} "
                    f"| {verdict_text(ch.head)} | {mark} |"
                )
            out.append("")
        model = m.head_model
        for ch in m.changes:
            if ch.head is not None and ch.head.verdict is Verdict.VIOLATED:
                icon = "❌" if ch.category in review.fail_on else "⚠️"
                title = f"##### {icon} `{ch.name}` {ch.category.title}"
                out += _md_violation(title, ch.head, model, review.relpath, link_base)
    return "\n".join(out).rstrip() + "\n"


def _models_line(review: ReviewReport) -> str:
    by = {
        s: sum(1 for m in review.models if m.status == s) for s in ("changed", "added", "removed")
    }
    line = f"Models: {by['changed']} changed, {by['added']} added, {by['removed']} removed"
    line += f"; {len(review.unchanged)} unchanged (not re-verified)"
    if review.skipped:
        line += f"; {len(review.skipped)} skipped (not a model: {', '.join(review.skipped)})"
    return line + "."


# ---- SARIF 2.1.0 -------------------------------------------------------------------------------


def _physical(span: Span | None, fallback_file: str, rel: Rel) -> dict[str, Any]:
    if span is None or not has_span(span):
        return {"artifactLocation": {"uri": rel(fallback_file), "uriBaseId": "%SRCROOT%"}}
    region: dict[str, Any] = {"startLine": span.line, "startColumn": max(span.col, 1)}
    if span.end_line >= span.line and span.end_line > 0:
        region["endLine"] = span.end_line
        if span.end_col > 0 and (span.end_line > span.line or span.end_col > span.col):
            region["endColumn"] = span.end_col
    return {
        "artifactLocation": {"uri": rel(span.file), "uriBaseId": "%SRCROOT%"},
        "region": region,
    }


def _step_span(model: Model, op_text: str) -> Span | None:
    words = op_text.replace("->", " ").split()
    names = {d.name: d.index for d in model.domains}
    if len(words) < 2 or words[1] not in names:
        return None
    for kind, dom, span in _scenario_ops(model):
        if kind.value == words[0] and dom == names[words[1]] and has_span(span):
            return span
    d = model.domains[names[words[1]]]
    return d.span if has_span(d.span) else None


def sarif_rules() -> list[dict[str, Any]]:
    rules = []
    for kind, (name, short, full) in RULES.items():
        rules.append(
            {
                "id": kind.value,
                "name": name,
                "shortDescription": {"text": short},
                "fullDescription": {"text": f"{short} {full}"},
                "help": {
                    "text": f"{short} {full} See docs/language.md (Properties).",
                    "markdown": f"**{kind.value}**: {short}\n\n{full}",
                },
                "defaultConfiguration": {"level": "error"},
                "properties": {"tags": ["memory11", "memory-safety"]},
            }
        )
    return rules


def sarif_result(
    r: PropertyResult, model: Model, rel: Rel, level: str, baseline: str | None
) -> dict[str, Any]:
    prop = find_property(model, r.property)
    kind = prop.kind if prop is not None else PropertyKind.INVARIANT
    where = _physical(prop.span if prop is not None else None, model.path, rel)
    witness = r.trace.witness if r.trace is not None and r.trace.witness else "violated"
    n = r.trace_length
    text = f"Property '{r.property}' is violated"
    text += (
        f" after {n} step{'s' if n != 1 else ''}: {witness}" if n is not None else f": {witness}"
    )
    out: dict[str, Any] = {
        "ruleId": kind.value,
        "ruleIndex": RULE_ORDER.index(kind),
        "level": level,
        "message": {"text": text},
        "locations": [{"physicalLocation": where}],
    }
    c = cause(model, prop, r.trace)
    if c is not None:
        out["relatedLocations"] = [
            {
                "id": 1,
                "physicalLocation": _physical(c.span, model.path, rel),
                "message": {"text": f"caused by {c.label()}"},
            }
        ]
        out["message"]["text"] += f" (caused by [{c.label()}](1))"
    if r.trace is not None:
        locs: list[dict[str, Any]] = []
        for i, step in enumerate(r.trace.steps):
            span = _step_span(model, step.op)
            locs.append(
                {
                    "location": {
                        "physicalLocation": _physical(span, model.path, rel),
                        "message": {"text": f"{i + 1}. {step_text(step.op, step.changes)}"},
                    },
                    "executionOrder": i + 1,
                }
            )
        if not locs:
            locs.append(
                {
                    "location": {
                        "physicalLocation": where,
                        "message": {"text": "the initial state violates the property"},
                    }
                }
            )
        out["codeFlows"] = [
            {
                "message": {"text": f"shortest trace ({len(r.trace.steps)} steps)"},
                "threadFlows": [{"locations": locs}],
            }
        ]
    fp = hashlib.sha256(f"{rel(model.path)}\0{r.property}\0{kind.value}".encode()).hexdigest()
    out["partialFingerprints"] = {"memory11Property/v1": fp[:32]}
    if baseline is not None:
        out["baselineState"] = baseline
    out["properties"] = {"model": rel(model.path), "property": r.property}
    return out


def _sarif_log(results: list[dict[str, Any]], properties: dict[str, Any], category: str) -> str:
    """One run. NOTE(sarif-category): `automationDetails.id` is what code scanning uses as the
    category, so the per-model runs of `verify` can be uploaded together."""
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "memory11",
                        "version": __version__,
                        "rules": sarif_rules(),
                    }
                },
                "automationDetails": {"id": category},
                "columnKind": "unicodeCodePoints",
                "results": results,
                "properties": properties,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


def sarif_verify(report: VerifyReport, model: Model, rel: Rel) -> str:
    results = [
        sarif_result(r, model, rel, "error", None)
        for r in report.results
        if r.verdict is Verdict.VIOLATED
    ]
    undecided = [r.property for r in report.results if r.verdict is Verdict.UNDECIDED]
    props = {"model": rel(report.model), "modelSha256": report.model_sha256, "undecided": undecided}
    return _sarif_log(results, props, f"memory11/verify/{rel(report.model)}/")


_BASELINE = {
    Category.NEWLY_VIOLATED: "new",
    Category.ADDED: "new",
    Category.STILL_VIOLATED: "unchanged",
}


def sarif_review(review: ReviewReport) -> str:
    results = []
    for m in review.models:
        model = m.head_model
        if model is None:
            continue
        for ch in m.changes:
            if ch.head is None or ch.head.verdict is not Verdict.VIOLATED:
                continue
            baseline = "updated" if ch.trace_changed else _BASELINE.get(ch.category, "new")
            level = "error" if ch.category in review.fail_on else "warning"
            res = sarif_result(ch.head, model, review.relpath, level, baseline)
            res["properties"]["category"] = ch.category.value
            results.append(res)
    props = {
        "base": review.base_label,
        "head": review.head_label,
        "failOn": sorted(c.value for c in review.fail_on),
        "counts": {c.value: n for c, n in review.counts().items()},
    }
    return _sarif_log(results, props, "memory11/review/")


# ---- JUnit XML ---------------------------------------------------------------------------------


def _trace_text(r: PropertyResult) -> str:
    if r.trace is None:
        return "no trace recorded"
    lines = [f"witness: {r.trace.witness}"]
    lines += [f"{i}. {step_text(s.op, s.changes)}" for i, s in enumerate(r.trace.steps, 1)]
    return "\n".join(lines)


def _undecided_text(r: PropertyResult) -> str:
    why = "; ".join(r.warnings) if r.warnings else scope_text(r)
    return f"undecided: {why}"


def _testcase(
    suite: ET.Element,
    classname: str,
    name: str,
    seconds: float,
    model: Model | None,
    prop_name: str,
) -> ET.Element:
    tc = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")
    prop = find_property(model, prop_name)
    if prop is not None and has_span(prop.span):
        tc.set("line", str(prop.span.line))
    return tc


def _junit_doc(name: str, suites: list[ET.Element]) -> str:
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    seconds = 0.0
    for s in suites:
        cases = s.findall("testcase")
        counts = {
            "tests": len(cases),
            "failures": sum(1 for c in cases if c.find("failure") is not None),
            "errors": sum(1 for c in cases if c.find("error") is not None),
            "skipped": sum(1 for c in cases if c.find("skipped") is not None),
        }
        t = sum(float(c.get("time", "0")) for c in cases)
        for k, v in counts.items():
            s.set(k, str(v))
            totals[k] += v
        s.set("time", f"{t:.3f}")
        seconds += t
        root.append(s)
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def junit_verify(report: VerifyReport, model: Model, rel: Rel) -> str:
    path = rel(report.model)
    suite = ET.Element("testsuite", name=path, file=path)
    for r in report.results:
        tc = _testcase(suite, path, r.property, r.seconds, model, r.property)
        if r.verdict is Verdict.VIOLATED:
            witness = r.trace.witness if r.trace is not None else "violated"
            fail = ET.SubElement(tc, "failure", message=f"violated: {witness}", type="violated")
            fail.text = _trace_text(r)
        elif r.verdict is Verdict.UNDECIDED:
            ET.SubElement(tc, "skipped", message=_undecided_text(r))
        else:
            ET.SubElement(tc, "system-out").text = f"{verdict_text(r)}: {scope_text(r)}"
    return _junit_doc("memory11 verify", [suite])


def junit_review(review: ReviewReport) -> str:
    suites = []
    newly_broken = review.head_errors()
    for m in review.models:
        suite = ET.Element("testsuite", name=m.path, file=m.path)
        model = _review_model(m)
        if m.head is not None and m.head.error_text is not None:
            tc = ET.SubElement(suite, "testcase", classname=m.path, name="(model)", time="0.000")
            if m in newly_broken:
                err = ET.SubElement(
                    tc, "error", message="cannot be checked on head", type="bad-input"
                )
                err.text = m.head.error_text
            else:
                ET.SubElement(tc, "skipped", message="cannot be checked on base nor on head")
        for ch in m.changes:
            r = ch.head if ch.head is not None else ch.base
            seconds = r.seconds if r is not None else 0.0
            tc = _testcase(suite, m.path, ch.name, seconds, model, ch.name)
            summary = (
                f"{ch.category.title}: base {verdict_text(ch.base)}, head {verdict_text(ch.head)}"
            )
            if ch.category in review.fail_on:
                fail = ET.SubElement(tc, "failure", message=summary, type=ch.category.value)
                fail.text = _trace_text(ch.head) if ch.head is not None else summary
            elif ch.category is Category.UNDECIDED:
                why = (
                    ch.head
                    if ch.head is not None and ch.head.verdict is Verdict.UNDECIDED
                    else ch.base
                )
                ET.SubElement(tc, "skipped", message=_undecided_text(why) if why else summary)
            else:
                ET.SubElement(tc, "system-out").text = summary
        suites.append(suite)
    return _junit_doc(f"memory11 review {review.base_label} -> {review.head_label}", suites)


# ---- text and JSON (review) --------------------------------------------------------------------


def text_review(review: ReviewReport) -> str:
    out = [f"review: {review.base_label} -> {review.head_label}", _models_line(review)]
    width = max((len(c.title) for c in Category), default=0)
    for m in review.models:
        out.append(f"{m.path} ({m.status})")
        for side, label in ((m.base, "base"), (m.head, "head")):
            if side is not None and side.error_text is not None:
                out.append(f"  cannot be checked on {label}:")
                out += ["    " + line for line in side.error_text.splitlines()]
        names = max((len(ch.name) for ch in m.changes), default=0)
        for ch in m.changes:
            line = f"  {ch.category.title:<{width}}  {ch.name:<{names}}"
            line += f"  ({verdict_text(ch.base)} -> {verdict_text(ch.head)})"
            if ch.trace_changed:
                b, h = ch.trace_lengths
                line += f"  shortest trace {b} -> {h} steps"
            out.append(line)
            if ch.category in review.fail_on and ch.head is not None and ch.head.trace is not None:
                out += ["      " + t for t in _trace_text(ch.head).splitlines()]
    counts = review.counts()
    out.append(
        "summary: "
        + (", ".join(f"{n} {c.title}" for c, n in counts.items() if n) or "no property changed")
    )
    if review.head_errors():
        out.append("result: cannot review (a model on head does not load or verify)")
    elif review.failing():
        out.append(f"result: FAIL ({len(review.failing())} change(s) in --fail-on)")
    else:
        out.append("result: ok")
    return "\n".join(out) + "\n"


def _side_json(r: PropertyResult | None) -> dict[str, Any] | None:
    if r is None:
        return None
    out: dict[str, Any] = {
        "verdict": r.verdict.value,
        "engine": r.engine,
        "method": r.method,
        "scope": r.scope.to_json(),
        "trace_length": r.trace_length,
    }
    if r.trace is not None:
        out["witness"] = r.trace.witness
        out["trace"] = [{"op": s.op, "changes": list(s.changes)} for s in r.trace.steps]
    return out


def json_review(review: ReviewReport) -> str:
    models = []
    for m in review.models:
        models.append(
            {
                "path": m.path,
                "status": m.status,
                "base_error": m.base.error_text if m.base is not None else None,
                "head_error": m.head.error_text if m.head is not None else None,
                "properties": [
                    {
                        "name": ch.name,
                        "category": ch.category.value,
                        "fails": ch.category in review.fail_on,
                        "trace_changed": ch.trace_changed,
                        "base": _side_json(ch.base),
                        "head": _side_json(ch.head),
                    }
                    for ch in m.changes
                ],
            }
        )
    doc = {
        "base": review.base_label,
        "head": review.head_label,
        "fail_on": sorted(c.value for c in review.fail_on),
        "exit_code": review.exit_code(),
        "counts": {c.value: n for c, n in review.counts().items()},
        "models": models,
        "unchanged": review.unchanged,
        "skipped": review.skipped,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ---- entry points ------------------------------------------------------------------------------


def render(
    report: VerifyReport,
    fmt: str,
    model: Model,
    *,
    root: str | None = None,
    link_base: str | None = None,
) -> str:
    """A `verify` report as markdown, sarif or junit; paths relative to `root` (default: cwd)."""
    rel = make_rel(root)
    if fmt == "markdown":
        return markdown_verify(report, model, rel, link_base)
    if fmt == "sarif":
        return sarif_verify(report, model, rel)
    if fmt == "junit":
        return junit_verify(report, model, rel)
    raise ValueError(f"report_ci renders {', '.join(CI_FORMATS)}, not {fmt}")


def render_review(review: ReviewReport, fmt: str, *, link_base: str | None = None) -> str:
    """A review as text, json, markdown, sarif or junit."""
    if fmt == "text":
        return text_review(review)
    if fmt == "json":
        return json_review(review)
    if fmt == "markdown":
        return markdown_review(review, link_base)
    if fmt == "sarif":
        return sarif_review(review)
    if fmt == "junit":
        return junit_review(review)
    raise ValueError(f"a review renders as {', '.join(REVIEW_FORMATS)}, not {fmt}")
