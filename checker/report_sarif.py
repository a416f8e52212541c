"""SARIF 2.1.0 for code scanning, for `verify` reports and reviews (docs/review.md)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from checker import __version__
from checker.diagnostics import Span
from checker.model import Model, PropertyKind
from checker.report_common import (
    Rel,
    cause,
    counts_by_value,
    fail_on_values,
    find_property,
    has_span,
    step_span,
    step_text,
    steps,
)
from checker.results import PropertyResult, Verdict, VerifyReport
from checker.review import Category, ReviewReport

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

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


def _flow_location(physical: dict[str, Any], text: str, order: int | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "location": {"physicalLocation": physical, "message": {"text": text}},
    }
    if order is not None:
        out["executionOrder"] = order
    return out


def sarif_result(
    r: PropertyResult, model: Model, rel: Rel, level: str, baseline: str | None
) -> dict[str, Any]:
    prop = find_property(model, r.property)
    kind = prop.kind if prop is not None else PropertyKind.INVARIANT
    where = _physical(prop.span if prop is not None else None, model.path, rel)
    witness = r.trace.witness if r.trace is not None and r.trace.witness else "violated"
    n = r.trace_length
    text = f"Property '{r.property}' is violated"
    text += f" after {steps(n)}: {witness}" if n is not None else f": {witness}"
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
        locs = [
            _flow_location(
                _physical(step_span(model, step.op), model.path, rel),
                f"{i}. {step_text(step.op, step.changes)}",
                i,
            )
            for i, step in enumerate(r.trace.steps, 1)
        ]
        if not locs:
            locs.append(_flow_location(where, "the initial state violates the property", None))
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
        "failOn": fail_on_values(review),
        "counts": counts_by_value(review),
    }
    return _sarif_log(results, props, "memory11/review/")
