"""CI renderers: markdown, SARIF 2.1.0 (validated against the OASIS schema), JUnit XML, and the
text and JSON forms of a review. Golden files live in tests/golden/review/; regenerate them
with `UPDATE_GOLDEN=1 pytest tests/test_report_ci.py` and read the diff before committing.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from checker import report_ci, report_common
from checker.diagnostics import Span
from checker.model import (
    NO_SPAN,
    BalloonMode,
    Choose,
    DirectMap,
    Domain,
    Hypervisor,
    Model,
    Op,
    OpKind,
    Placement,
    Platform,
    Property,
    PropertyKind,
    RambaseMode,
    Region,
    RegionKind,
    Scenario,
    Step,
)
from checker.results import PropertyResult, Scope, Trace, TraceStep, Verdict, VerifyReport
from checker.review import (
    Category,
    ModelReview,
    ModelSide,
    ReviewReport,
    compare,
)

HERE = Path(__file__).parent
GOLDEN = HERE / "golden" / "review"
SCHEMA = json.loads((HERE / "data" / "sarif-2.1.0.json").read_text(encoding="utf-8"))
F = "models/domd.m11"
PLAT = "models/platforms/board.m11"


def sp(line: int, col: int = 5, width: int = 10, file: str = F) -> Span:
    return Span(file, line, col, line, col + width)


def make_model(scenario: bool = True) -> Model:
    gicd = Region("gicd", RegionKind.MMIO, 0x4821_1000, 0x1000, span=sp(7, file=PLAT))
    ram = Region("ddr", RegionKind.RAM, 0x8000_0000, 0x7F00_0000, span=sp(4, file=PLAT))
    platform = Platform("board", 4096, (ram,), (gicd,), (), span=sp(1, file=PLAT))
    hyp = Hypervisor("xen", (), (), 18, Placement.ANY, BalloonMode.RELEASE_ANY)

    def dom(i: int, name: str, line: int) -> Domain:
        return Domain(
            i,
            name,
            256 << 20,
            65536,
            DirectMap.ALWAYS if i == 0 else DirectMap.NONE,
            None,
            RambaseMode.ALLOCATED,
            None,
            (),
            False,
            (),
            (),
            (),
            None,
            span=sp(line, 1, 8),
        )

    domains = (dom(0, "domd", 10), dom(1, "domu", 16))
    if scenario:
        create = Op(OpKind.CREATE, 0, span=sp(21, 5, 11))
        out = Op(OpKind.BALLOON_OUT, 0, 1, span=sp(23, 9, 17))
        back = Op(OpKind.BALLOON_IN, 0, 1, span=sp(24, 11, 16))
        create_u = Op(OpKind.CREATE, 1, span=sp(22, 5, 11))
        stmts: tuple[Step | Choose, ...] = (
            Step(create, span=create.span),
            Step(create_u, span=create_u.span),
            Choose((out, back), 3, span=sp(23, 5, 40)),
        )
    else:
        stmts = (Step(Op(OpKind.CREATE, 0)),)
    props = (
        Property("ipa_eq_pa", PropertyKind.IPA_EQ_PA, (), span=sp(30, 1, 18)),
        Property("no_ipa_overlap", PropertyKind.NO_IPA_OVERLAP, (), span=sp(31, 1, 23)),
        Property("domd_boots", PropertyKind.CREATE_SUCCEEDS, (0,), span=sp(32, 1, 36)),
        Property("rambase_high", PropertyKind.INVARIANT, (), span=sp(33, 1, 60)),
    )
    return Model(F, (F, PLAT), platform, hyp, domains, Scenario(stmts), props)


def step(op: str, *changes: str) -> TraceStep:
    return TraceStep(op, {}, {}, tuple(changes))


EXACT = Scope(None, True, "exact")
IPA_TRACE = Trace(
    "ipa_eq_pa",
    {},
    (
        step("create domd", "domd: block 0x80000000 (order 16)", "rambase 0x80000000"),
        step("balloon_out domd 1", "IPA 0x80001000 ballooned out; frame 0x80001 freed"),
        step("balloon_in domd 1", "IPA 0x80001000 -> PA 0x90000000", "a", "b", "c"),
    ),
    "domd page IPA 0x80001000 is backed by PA 0x90000000",
)
OVERLAP_TRACE = Trace(
    "no_ipa_overlap",
    {},
    (step("create domu", "domu RAM IPA [0x48000000, 0x58000000)"),),
    "domu: RAM [0x48000000, 0x58000000) overlaps window gicd [0x48211000, 0x48212000)",
)


def make_report() -> VerifyReport:
    results = [
        PropertyResult(
            "ipa_eq_pa",
            Verdict.VIOLATED,
            "explicit",
            "bfs",
            EXACT,
            IPA_TRACE,
            states=812,
            transitions=3120,
            seconds=0.25,
        ),
        PropertyResult(
            "no_ipa_overlap",
            Verdict.VIOLATED,
            "explicit",
            "bfs",
            EXACT,
            OVERLAP_TRACE,
            seconds=0.125,
        ),
        PropertyResult(
            "domd_boots",
            Verdict.PROVED,
            "smt",
            "k-induction(k=2)",
            Scope(None, True, "symbolic"),
            seconds=1.5,
        ),
        PropertyResult(
            "rambase_high",
            Verdict.UNDECIDED,
            "explicit",
            "bfs",
            Scope(12, False, "candidates"),
            warnings=["state budget 100000 reached"],
            seconds=3.0,
        ),
    ]
    return VerifyReport(F, "ab" * 32, "0.1.0", results)


def make_review() -> ReviewReport:
    model = make_model()
    head = make_report()
    # base: ipa_eq_pa held, no_ipa_overlap violated with a longer trace, domd_boots violated,
    # an old property that head removed; rambase_high is new on head.
    longer = Trace("no_ipa_overlap", {}, OVERLAP_TRACE.steps * 2, OVERLAP_TRACE.witness)
    base_results = [
        PropertyResult("ipa_eq_pa", Verdict.PROVED, "explicit", "bfs", EXACT, seconds=0.5),
        PropertyResult("no_ipa_overlap", Verdict.VIOLATED, "explicit", "bfs", EXACT, longer),
        PropertyResult(
            "domd_boots",
            Verdict.VIOLATED,
            "explicit",
            "bfs",
            EXACT,
            Trace("domd_boots", {}, (step("create domd"),), "create domd failed"),
        ),
        PropertyResult("old_check", Verdict.PROVED, "explicit", "bfs", EXACT),
    ]
    base = VerifyReport(F, "cd" * 32, "0.1.0", base_results)
    changed = ModelReview(
        F,
        "changed",
        ModelSide("/base/" + F, "/base", model, base),
        ModelSide(F, ".", model, head),
        compare(base, head),
    )
    broken = ModelSide(
        "models/broken.m11",
        ".",
        error_text=(
            "models/broken.m11:3:7: error: unknown domain `domx`\n    frontend blk -> domx\n"
            "                    ^~~~"
        ),
    )
    broken_review = ModelReview("models/broken.m11", "added", None, broken, [])
    fail_on = frozenset({Category.NEWLY_VIOLATED, Category.REMOVED})
    return ReviewReport(
        "main (1a2b3c4)",
        "working tree",
        [changed, broken_review],
        ["models/same.m11"],
        ["models/lib/spare.m11"],
        fail_on,
        ("/nonexistent-root",),
    )


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def validate_sarif(text: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(text)
    validator = jsonschema.Draft4Validator(SCHEMA)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)
    return doc


# ---- verify reports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name"),
    [("markdown", "verify.md"), ("sarif", "verify.sarif"), ("junit", "verify.junit.xml")],
)
def test_verify_golden(fmt: str, name: str) -> None:
    text = report_ci.render(
        make_report(), fmt, make_model(), link_base="https://example.org/r/blob/abc"
    )
    golden(name, text)


def test_verify_sarif_is_valid_and_locates_everything() -> None:
    doc = validate_sarif(report_ci.render(make_report(), "sarif", make_model()))
    run = doc["runs"][0]
    rule_ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert rule_ids == [k.value for k in PropertyKind]
    results = run["results"]
    assert [r["ruleId"] for r in results] == ["ipa_eq_pa", "no_ipa_overlap"]
    ipa = results[0]
    assert rule_ids[ipa["ruleIndex"]] == "ipa_eq_pa"
    loc = ipa["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == F
    assert loc["region"] == {"startLine": 30, "startColumn": 1, "endLine": 30, "endColumn": 19}
    flow = ipa["codeFlows"][0]["threadFlows"][0]["locations"]
    lines = [s["location"]["physicalLocation"]["region"]["startLine"] for s in flow]
    assert lines == [21, 23, 24]  # create domd, balloon_out domd, balloon_in domd
    assert flow[2]["location"]["message"]["text"].startswith("3. balloon_in domd 1: IPA")
    related = ipa["relatedLocations"][0]["physicalLocation"]
    assert related["region"]["startLine"] == 24  # the last operation caused it
    overlap = results[1]["relatedLocations"][0]
    assert overlap["physicalLocation"]["artifactLocation"]["uri"] == PLAT
    assert overlap["message"]["text"] == "caused by region `gicd`"
    assert run["properties"]["undecided"] == ["rambase_high"]


def test_verify_junit_structure() -> None:
    root = ET.fromstring(report_ci.render(make_report(), "junit", make_model()))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("4", "2", "1")
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [
        "ipa_eq_pa",
        "no_ipa_overlap",
        "domd_boots",
        "rambase_high",
    ]
    failure = cases[0].find("failure")
    assert failure is not None and failure.text is not None
    assert "1. create domd: domd: block 0x80000000" in failure.text
    assert "3. balloon_in domd 1: IPA 0x80001000 -> PA 0x90000000; a; b; …" in failure.text
    skipped = cases[3].find("skipped")
    assert skipped is not None
    assert skipped.get("message") == "undecided: state budget 100000 reached"
    assert cases[2].find("failure") is None and cases[2].find("skipped") is None
    assert cases[0].get("line") == "30" and cases[0].get("time") == "0.250"


def test_verify_markdown_links() -> None:
    md = report_ci.render(make_report(), "markdown", make_model())
    assert "[models/domd.m11:30](models/domd.m11#L30)" in md
    assert "caused by operation `balloon_in domd 1` at [models/domd.m11:24]" in md.lower()
    assert "1. `create domd` — domd: block 0x80000000 (order 16); rambase 0x80000000" in md
    linked = report_ci.render(make_report(), "markdown", make_model(), link_base="https://h/x/")
    assert "(https://h/x/models/platforms/board.m11#L7)" in linked


def test_cause_without_scenario_spans_is_the_domain() -> None:
    model = make_model(scenario=False)
    c = report_common.cause(model, model.properties[0], IPA_TRACE)
    assert c is not None and (c.what, c.name, c.span.line) == ("domain", "domd", 10)
    restricted = model.properties[2]
    c2 = report_common.cause(model, restricted, None)
    assert c2 is not None and c2.name == "domd"
    assert report_common.cause(model, None, Trace("x", {}, (), "")) is None


def test_unspanned_locations_still_validate() -> None:
    model = make_model(scenario=False)
    bare = Model(
        F,
        (F,),
        model.platform,
        model.hypervisor,
        model.domains,
        model.scenario,
        tuple(Property(p.name, p.kind, p.domains, span=NO_SPAN) for p in model.properties),
    )
    report = make_report()
    empty = Trace("ipa_eq_pa", {}, (), "initially broken")
    report.results[0] = PropertyResult(
        "ipa_eq_pa", Verdict.VIOLATED, "explicit", "bfs", EXACT, empty
    )
    doc = validate_sarif(report_ci.render(report, "sarif", bare))
    first = doc["runs"][0]["results"][0]
    assert "region" not in first["locations"][0]["physicalLocation"]
    assert len(first["codeFlows"][0]["threadFlows"][0]["locations"]) == 1


def test_unknown_format() -> None:
    with pytest.raises(ValueError):
        report_ci.render(make_report(), "text", make_model())
    with pytest.raises(ValueError):
        report_ci.render_review(make_review(), "html")


# ---- review reports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("text", "review.txt"),
        ("json", "review.json"),
        ("markdown", "review.md"),
        ("sarif", "review.sarif"),
        ("junit", "review.junit.xml"),
    ],
)
def test_review_golden(fmt: str, name: str) -> None:
    golden(name, report_ci.render_review(make_review(), fmt))


def test_review_categories_of_the_fixture() -> None:
    review = make_review()
    cats = {ch.name: ch.category for ch in review.models[0].changes}
    assert cats == {
        "ipa_eq_pa": Category.NEWLY_VIOLATED,
        "no_ipa_overlap": Category.STILL_VIOLATED,
        "domd_boots": Category.FIXED,
        "rambase_high": Category.ADDED,
        "old_check": Category.REMOVED,
    }
    assert review.exit_code() == 2  # the broken model on head


def test_review_sarif_baselines() -> None:
    doc = validate_sarif(report_ci.render_review(make_review(), "sarif"))
    results = doc["runs"][0]["results"]
    got = [(r["ruleId"], r["level"], r["baselineState"]) for r in results]
    assert got == [("ipa_eq_pa", "error", "new"), ("no_ipa_overlap", "warning", "updated")]
    assert doc["runs"][0]["properties"]["counts"]["fixed"] == 1


def test_review_junit_failures_follow_fail_on() -> None:
    root = ET.fromstring(report_ci.render_review(make_review(), "junit"))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [F, "models/broken.m11"]
    cases = {c.get("name"): c for c in suites[0].findall("testcase")}
    assert cases["ipa_eq_pa"].find("failure") is not None  # newly violated
    assert cases["old_check"].find("failure") is not None  # removed is in fail-on here
    assert cases["no_ipa_overlap"].find("failure") is None  # still violated: not in fail-on
    assert suites[1].find("testcase/error") is not None
    assert (root.get("failures"), root.get("errors")) == ("2", "1")
