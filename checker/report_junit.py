"""JUnit XML for test dashboards, for `verify` reports and reviews (docs/review.md)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from checker.model import Model
from checker.report_common import (
    Rel,
    find_property,
    has_span,
    scope_text,
    trace_text,
    verdict_text,
)
from checker.results import PropertyResult, Verdict, VerifyReport
from checker.review import Category, ModelReview, ReviewReport


def _undecided_text(r: PropertyResult) -> str:
    why = "; ".join(r.warnings) if r.warnings else scope_text(r)
    return f"undecided: {why}"


def _review_model(m: ModelReview) -> Model | None:
    if m.head is not None and m.head.model is not None:
        return m.head.model
    return m.base.model if m.base is not None else None


def _testcase(
    suite: ET.Element,
    classname: str,
    name: str,
    seconds: float,
    model: Model | None,
) -> ET.Element:
    tc = ET.SubElement(suite, "testcase", classname=classname, name=name, time=f"{seconds:.3f}")
    prop = find_property(model, name)
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
        tc = _testcase(suite, path, r.property, r.seconds, model)
        if r.verdict is Verdict.VIOLATED:
            witness = r.trace.witness if r.trace is not None else "violated"
            fail = ET.SubElement(tc, "failure", message=f"violated: {witness}", type="violated")
            fail.text = trace_text(r)
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
            tc = _testcase(suite, m.path, ch.name, seconds, model)
            summary = (
                f"{ch.category.title}: base {verdict_text(ch.base)}, head {verdict_text(ch.head)}"
            )
            if ch.category in review.fail_on:
                fail = ET.SubElement(tc, "failure", message=summary, type=ch.category.value)
                fail.text = trace_text(ch.head) if ch.head is not None else summary
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
