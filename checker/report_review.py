"""Text and JSON renderings of a `ReviewReport` (docs/review.md)."""

from __future__ import annotations

import json
from typing import Any

from checker.report_common import (
    counts_by_value,
    fail_on_values,
    models_line,
    side_errors,
    trace_text,
    verdict_text,
)
from checker.results import PropertyResult
from checker.review import Category, ReviewReport


def text_review(review: ReviewReport) -> str:
    out = [f"review: {review.base_label} -> {review.head_label}", models_line(review)]
    width = max((len(c.title) for c in Category), default=0)
    for m in review.models:
        out.append(f"{m.path} ({m.status})")
        for label, text in side_errors(m):
            out.append(f"  cannot be checked on {label}:")
            out += ["    " + line for line in text.splitlines()]
        names = max((len(ch.name) for ch in m.changes), default=0)
        for ch in m.changes:
            line = f"  {ch.category.title:<{width}}  {ch.name:<{names}}"
            line += f"  ({verdict_text(ch.base)} -> {verdict_text(ch.head)})"
            if ch.trace_changed:
                b, h = ch.trace_lengths
                line += f"  shortest trace {b} -> {h} steps"
            out.append(line)
            if ch.category in review.fail_on and ch.head is not None and ch.head.trace is not None:
                out += ["      " + t for t in trace_text(ch.head).splitlines()]
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
        "fail_on": fail_on_values(review),
        "exit_code": review.exit_code(),
        "counts": counts_by_value(review),
        "models": models,
        "unchanged": review.unchanged,
        "skipped": review.skipped,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
