"""Entry points of the renderers for continuous integration: markdown (pull-request comments),
SARIF 2.1.0 (code scanning) and JUnit XML (test dashboards), for `verify` reports and `review`
reports; and the text and JSON forms of a review. docs/review.md describes every format exactly.

`render(report, fmt, model)` is the entry point for a `verify` report; `render_review(review,
fmt)` for a review. Paths in the output are relative to `root` (for a review, to the side that
holds the file); links are `LINK_BASE/PATH#L<line>` when a link base is given (for example
`https://github.com/OWNER/REPO/blob/SHA`), `PATH#L<line>` otherwise. One module a format
(`report_markdown`, `report_sarif`, `report_junit`, `report_review`); what they share lives in
`report_common`.
"""

from __future__ import annotations

from checker.model import Model
from checker.report_common import make_rel
from checker.report_junit import junit_review, junit_verify
from checker.report_markdown import markdown_review, markdown_verify
from checker.report_review import json_review, text_review
from checker.report_sarif import sarif_review, sarif_verify
from checker.results import VerifyReport
from checker.review import ReviewReport

CI_FORMATS = ("markdown", "sarif", "junit")
REVIEW_FORMATS = ("text", "json", "markdown", "sarif", "junit")


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
