"""`checker review`: classification, model discovery, git sides, two files, exit codes.

The front end and the verifier are replaced by a small stand-in (`FakeFrontEnd`): `.m11`
files whose lines are `include "PATH"`, `domain NAME`, `property NAME [KIND]` and
`verdict NAME holds|violated N|undecided`. It follows includes exactly like the real front end
(relative to the including file, normalised), so which files a model depends on is real; only
the verdicts are read from the text instead of computed.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from checker import cmd_review, report_ci
from checker.cache import CachedVerifier, VerdictCache
from checker.diagnostics import CheckerError, Exit, Span, error
from checker.model import (
    BalloonMode,
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
    ReviewReport,
    SideTree,
    classify,
    parse_fail_on,
    review_files,
    review_git,
    review_sides,
)

SCOPE = Scope(depth=None, exhaustive=True, placement="exact")


# ---- the stand-in front end and verifier --------------------------------------------------------


class FakeFrontEnd:
    """Loads the stand-in syntax; counts verifications per model path."""

    def __init__(self) -> None:
        self.verified: list[str] = []

    def _closure(self, path: str) -> tuple[list[str], list[tuple[str, int, str]]]:
        sources: list[str] = []
        lines: list[tuple[str, int, str]] = []

        def visit(p: str, via: Span | None) -> None:
            if p in sources:
                return
            try:
                text = Path(p).read_text(encoding="utf-8")
            except OSError:
                raise error(f"cannot read include `{p}`", via) from None
            sources.append(p)
            for i, line in enumerate(text.splitlines(), 1):
                words = line.split()
                if words[:1] == ["include"]:
                    target = os.path.normpath(os.path.join(os.path.dirname(p), words[1].strip('"')))
                    visit(target, Span(p, i, 1, i, len(line) + 1))
                elif words:
                    lines.append((p, i, line))

        visit(path, None)
        return sources, lines

    def load(self, path: str) -> Model:
        sources, lines = self._closure(path)
        domains: list[Domain] = []
        props: list[Property] = []
        for file, i, line in lines:
            words = line.split()
            span = Span(file, i, 1, i, len(line) + 1)
            if words[0] == "domain":
                domains.append(_domain(len(domains), words[1], span))
            elif words[0] == "property":
                kind = PropertyKind(words[2]) if len(words) > 2 else PropertyKind.IPA_EQ_PA
                props.append(Property(words[1], kind, (), span=span))
            elif words[0] == "syntax-error":
                raise error("unexpected token `syntax-error`", span)
        if not domains:
            raise error("a model declares at least one domain", Span(path, 1, 1, 1, 2))
        ops = tuple(Step(Op(OpKind.CREATE, d.index, span=d.span)) for d in domains)
        return Model(
            path,
            tuple(sources),
            _platform(),
            _hypervisor(),
            tuple(domains),
            Scenario(ops),
            tuple(props),
        )

    def verify(self, path: str) -> tuple[VerifyReport, Model]:
        self.verified.append(path)
        model = self.load(path)
        _, lines = self._closure(path)
        verdicts = {
            ln.split()[1]: ln.split()[2:] for _, _, ln in lines if ln.split()[0] == "verdict"
        }
        results = []
        for p in model.properties:
            v = verdicts.get(p.name, ["holds"])
            if v[0] == "violated":
                n = int(v[1])
                steps = tuple(
                    TraceStep(f"create {model.domains[0].name}", {}, {}, (f"step {k}",))
                    for k in range(n)
                )
                trace = Trace(p.name, {}, steps, f"page 0x{n:x} IPA != PA")
                results.append(
                    PropertyResult(p.name, Verdict.VIOLATED, "explicit", "bfs", SCOPE, trace)
                )
            elif v[0] == "undecided":
                results.append(
                    PropertyResult(
                        p.name,
                        Verdict.UNDECIDED,
                        "explicit",
                        "bfs",
                        SCOPE,
                        warnings=["state budget reached"],
                    )
                )
            else:
                results.append(PropertyResult(p.name, Verdict.PROVED, "explicit", "bfs", SCOPE))
        return VerifyReport(path, "0" * 64, "0.1.0", results), model


def _platform() -> Platform:
    ram = Region("ddr", RegionKind.RAM, 0x8000_0000, 0x4000_0000)
    return Platform("board", 4096, (ram,), (), ())


def _hypervisor() -> Hypervisor:
    return Hypervisor("xen", (), (), 18, Placement.ANY, BalloonMode.KEEP_OWNED)


def _domain(index: int, name: str, span: Span) -> Domain:
    return Domain(
        index,
        name,
        1 << 20,
        256,
        DirectMap.ALWAYS,
        None,
        RambaseMode.ALLOCATED,
        None,
        (),
        False,
        (),
        (),
        (),
        None,
        span,
    )


def verifier_for(fe: FakeFrontEnd, cache_dir: Path | None = None) -> CachedVerifier:
    cache = VerdictCache(cache_dir) if cache_dir is not None else None
    return CachedVerifier(fe.verify, fe.load, cache, {"engine": "auto"})


# ---- classification ----------------------------------------------------------------------------


def _r(verdict: Verdict, n: int | None = None) -> PropertyResult:
    trace = None
    if n is not None:
        trace = Trace("p", {}, tuple(TraceStep("create d", {}, {}) for _ in range(n)), "w")
    return PropertyResult("p", verdict, "explicit", "bfs", SCOPE, trace)


@pytest.mark.parametrize(
    ("base", "head", "expected"),
    [
        (Verdict.PROVED, Verdict.VIOLATED, Category.NEWLY_VIOLATED),
        (Verdict.HOLDS, Verdict.VIOLATED, Category.NEWLY_VIOLATED),
        (Verdict.UNDECIDED, Verdict.VIOLATED, Category.NEWLY_VIOLATED),
        (Verdict.VIOLATED, Verdict.VIOLATED, Category.STILL_VIOLATED),
        (Verdict.VIOLATED, Verdict.PROVED, Category.FIXED),
        (Verdict.VIOLATED, Verdict.HOLDS, Category.FIXED),
        (Verdict.VIOLATED, Verdict.UNDECIDED, Category.UNDECIDED),
        (Verdict.PROVED, Verdict.UNDECIDED, Category.UNDECIDED),
        (Verdict.UNDECIDED, Verdict.PROVED, Category.UNDECIDED),
        (Verdict.PROVED, Verdict.HOLDS, Category.STILL_HOLDS),
        (Verdict.HOLDS, Verdict.PROVED, Category.STILL_HOLDS),
    ],
)
def test_classify(base: Verdict, head: Verdict, expected: Category) -> None:
    assert classify(_r(base), _r(head)) is expected


def test_classify_one_sided() -> None:
    assert classify(None, _r(Verdict.VIOLATED)) is Category.ADDED
    assert classify(_r(Verdict.PROVED), None) is Category.REMOVED
    with pytest.raises(ValueError):
        classify(None, None)


def test_parse_fail_on() -> None:
    assert parse_fail_on("newly-violated") == {Category.NEWLY_VIOLATED}
    assert parse_fail_on("newly-violated, undecided,still_violated") == {
        Category.NEWLY_VIOLATED,
        Category.UNDECIDED,
        Category.STILL_VIOLATED,
    }
    assert parse_fail_on("none") == frozenset()
    with pytest.raises(CheckerError) as exc:
        parse_fail_on("newly-violated,regressed")
    assert "unknown review category `regressed`" in exc.value.render()
    assert exc.value.exit_code is Exit.BAD_INPUT


# ---- a git repository with two commits ---------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    env = dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
    )
    proc = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout.strip()


def write(repo: Path, rel: str, text: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


BASE_FILES = {
    "models/platforms/board.m11": "# a fragment: no domain\nproperty ipa_eq_pa\n",
    "models/lib/spare.m11": "# an unused fragment\nplatform-only-stuff\n",
    "models/domd.m11": (
        'include "platforms/board.m11"\n'
        "domain domd\n"
        "property regress no_ipa_overlap\n"
        "property fix\n"
        "property gone\n"
        "property stays\n"
        "verdict fix violated 2\n"
        "verdict stays violated 3\n"
    ),
    "models/inc.m11": 'include "inc/layout.m11"\ndomain domu\nproperty layout_ok\n',
    "models/inc/layout.m11": "verdict layout_ok holds\n",
    "models/same.m11": 'include "platforms/board.m11"\ndomain one\nproperty fine\n',
}


def make_repo(tmp_path: Path) -> tuple[Path, str, str]:
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for rel, text in BASE_FILES.items():
        write(repo, rel, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    write(
        repo,
        "models/domd.m11",
        (
            'include "platforms/board.m11"\n'
            "domain domd\n"
            "property regress no_ipa_overlap\n"
            "property fix\n"
            "property stays\n"
            "property fresh\n"
            "verdict regress violated 1\n"
            "verdict stays violated 2\n"
        ),
    )
    write(repo, "models/inc/layout.m11", "verdict layout_ok violated 4\n")  # only the include
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "head")
    head = git(repo, "rev-parse", "HEAD")
    return repo, base, head


def _by_name(report_models: list, path: str) -> dict[str, Category]:  # type: ignore[type-arg]
    for m in report_models:
        if m.path == path:
            return {ch.name: ch.category for ch in m.changes}
    raise AssertionError(f"{path} not reviewed")


def test_review_two_commits(tmp_path: Path) -> None:
    repo, base, head = make_repo(tmp_path)
    fe = FakeFrontEnd()
    report = review_git(repo, base, head, verifier_for(fe))
    assert [m.path for m in report.models] == ["models/domd.m11", "models/inc.m11"]
    assert report.unchanged == ["models/same.m11"]
    assert report.skipped == ["models/lib/spare.m11"]
    domd = _by_name(report.models, "models/domd.m11")
    assert domd == {
        "regress": Category.NEWLY_VIOLATED,
        "fix": Category.FIXED,
        "stays": Category.STILL_VIOLATED,
        "fresh": Category.ADDED,
        "ipa_eq_pa": Category.STILL_HOLDS,
        "gone": Category.REMOVED,
    }
    stays = next(ch for ch in report.models[0].changes if ch.name == "stays")
    assert stays.trace_lengths == (3, 2) and stays.trace_changed
    # a change in an included file only
    assert _by_name(report.models, "models/inc.m11") == {"layout_ok": Category.NEWLY_VIOLATED}
    # the unchanged model is never verified, on either side
    assert not any(p.endswith("same.m11") for p in fe.verified)
    assert len(fe.verified) == 4
    assert report.exit_code() == Exit.VIOLATED
    assert {(m.path, ch.name) for m, ch in report.failing()} == {
        ("models/domd.m11", "regress"),
        ("models/inc.m11", "layout_ok"),
    }


def test_fail_on_decides_the_exit_code(tmp_path: Path) -> None:
    repo, base, head = make_repo(tmp_path)
    fe = FakeFrontEnd()
    assert review_git(repo, base, head, verifier_for(fe), parse_fail_on("none")).exit_code() == 0
    only_removed = review_git(repo, base, head, verifier_for(fe), parse_fail_on("removed"))
    assert only_removed.exit_code() == Exit.VIOLATED
    assert [ch.name for _, ch in only_removed.failing()] == ["gone"]
    # reversed, the regression is a fix and the fix a regression
    back = _by_name(review_git(repo, head, base, verifier_for(fe)).models, "models/domd.m11")
    assert back["regress"] is Category.FIXED and back["fix"] is Category.NEWLY_VIOLATED
    assert back["gone"] is Category.ADDED and back["fresh"] is Category.REMOVED


def test_review_working_tree_and_paths(tmp_path: Path) -> None:
    repo, base, _head = make_repo(tmp_path)
    write(
        repo,
        "models/same.m11",
        'include "platforms/board.m11"\ndomain one\nproperty fine\nverdict fine violated 1\n',
    )
    fe = FakeFrontEnd()
    report = review_git(repo, "HEAD", None, verifier_for(fe))
    assert report.head_label == "working tree"
    assert [m.path for m in report.models] == ["models/same.m11"]
    assert _by_name(report.models, "models/same.m11") == {
        "fine": Category.NEWLY_VIOLATED,
        "ipa_eq_pa": Category.STILL_HOLDS,
    }
    # spans of the head side point into the work tree, shown relative to the repository
    head_model = report.models[0].head_model
    assert head_model is not None
    assert report.relpath(head_model.properties[-1].span.file) == "models/same.m11"
    # PATH restricts the review
    only = review_git(repo, base, None, verifier_for(FakeFrontEnd()), paths=["models/inc.m11"])
    assert [m.path for m in only.models] == ["models/inc.m11"]
    under = review_git(repo, base, None, verifier_for(FakeFrontEnd()), paths=["models/inc"])
    assert under.models == []  # a directory of fragments holds no model


def test_a_model_broken_on_head_is_bad_input(tmp_path: Path) -> None:
    repo, _base, _head = make_repo(tmp_path)
    write(repo, "models/inc.m11", 'include "inc/layout.m11"\ndomain domu\nsyntax-error here\n')
    report = review_git(repo, "HEAD", None, verifier_for(FakeFrontEnd()))
    broken = next(m for m in report.models if m.path == "models/inc.m11")
    assert broken.head is not None and broken.head.error_text is not None
    assert broken.head.error_text.startswith("models/inc.m11:3:1: error: unexpected token")
    assert broken.changes == []
    assert report.exit_code() == Exit.BAD_INPUT
    assert "Cannot be checked on head" in report_ci.render_review(report, "markdown")
    assert "result: cannot review" in report_ci.render_review(report, "text")


def test_added_and_removed_models(tmp_path: Path) -> None:
    repo, _base, head = make_repo(tmp_path)
    git(repo, "rm", "-q", "models/same.m11")
    write(repo, "models/new.m11", "domain n\nproperty born\nverdict born violated 1\n")
    git(repo, "add", "models/new.m11")
    report = review_git(repo, head, None, verifier_for(FakeFrontEnd()))
    status = {m.path: m.status for m in report.models}
    assert status == {"models/new.m11": "added", "models/same.m11": "removed"}
    assert _by_name(report.models, "models/new.m11") == {"born": Category.ADDED}
    assert set(_by_name(report.models, "models/same.m11").values()) == {Category.REMOVED}
    assert report.exit_code() == Exit.OK


def test_bad_revision_is_bad_input(tmp_path: Path) -> None:
    repo, _base, _head = make_repo(tmp_path)
    with pytest.raises(CheckerError) as exc:
        review_git(repo, "no-such-branch", None, verifier_for(FakeFrontEnd()))
    assert "unknown revision `no-such-branch`" in exc.value.render()
    assert exc.value.exit_code is Exit.BAD_INPUT


def test_review_two_files_outside_git(tmp_path: Path) -> None:
    old, new = tmp_path / "old.m11", tmp_path / "new.m11"
    old.write_text("domain d\nproperty a\nproperty b\nverdict b violated 2\n", encoding="utf-8")
    new.write_text("domain d\nproperty a\nproperty b\nverdict a undecided\n", encoding="utf-8")
    report = review_files(str(old), str(new), verifier_for(FakeFrontEnd()))
    assert _by_name(report.models, str(new)) == {"a": Category.UNDECIDED, "b": Category.FIXED}
    assert report.exit_code() == Exit.OK
    assert (
        review_files(
            str(old), str(new), verifier_for(FakeFrontEnd()), parse_fail_on("undecided")
        ).exit_code()
        == Exit.VIOLATED
    )
    with pytest.raises(CheckerError):
        review_files(str(old), str(tmp_path / "missing.m11"), verifier_for(FakeFrontEnd()))


def test_run_review_usage_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, base, head = make_repo(tmp_path)
    monkeypatch.delenv("MEMORY11_CACHE", raising=False)
    fe = FakeFrontEnd()
    with pytest.raises(CheckerError) as exc:
        cmd_review.run_review(
            ["a.m11"], base=None, head=None, cwd=repo, verify_fn=fe.verify, load_fn=fe.load
        )
    assert "exactly two files" in exc.value.render()
    with pytest.raises(CheckerError):
        cmd_review.run_review(
            [], base=None, head="HEAD", cwd=repo, verify_fn=fe.verify, load_fn=fe.load
        )
    report, verifier = cmd_review.run_review(
        [], base=base, head=head, cwd=repo, verify_fn=fe.verify, load_fn=fe.load
    )
    assert verifier.calls == 4 and verifier.hits == 0
    assert (repo / ".memory11-cache").is_dir()
    again, verifier2 = cmd_review.run_review(
        [], base=base, head=head, cwd=repo, verify_fn=fe.verify, load_fn=fe.load
    )
    assert verifier2.calls == 0 and verifier2.hits == 4
    assert report_ci.render_review(again, "json") == report_ci.render_review(report, "json")
    doc = json.loads(report_ci.render_review(again, "json"))
    assert doc["exit_code"] == 1 and doc["counts"]["newly-violated"] == 2


def test_review_sides_without_git(tmp_path: Path) -> None:
    for side in ("a", "b"):
        write(tmp_path / side, "m.m11", "domain d\nproperty p\n")
    write(tmp_path / "b", "m.m11", "domain d\nproperty p\nverdict p violated 1\n")
    base = SideTree("A", tmp_path / "a", ("m.m11",))
    head = SideTree("B", tmp_path / "b", ("m.m11",))
    report = review_sides(base, head, verifier_for(FakeFrontEnd()))
    assert _by_name(report.models, "m.m11") == {"p": Category.NEWLY_VIOLATED}
    model = report.models[0].head_model
    assert model is not None and report.relpath(model.path) == "m.m11"


def test_cli_review(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from checker.cli import cli

    repo, base, head = make_repo(tmp_path)
    fe = FakeFrontEnd()
    monkeypatch.setattr(cmd_review, "default_verify_fn", lambda options: fe.verify)
    monkeypatch.setattr(cmd_review, "default_load_fn", lambda: fe.load)
    monkeypatch.setenv("MEMORY11_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(repo)
    runner = CliRunner()
    res = runner.invoke(cli, ["review", "--base", base, "--head", head])
    assert res.exit_code == 1, res.output
    progress = sorted(line for line in res.stderr.splitlines() if line.startswith("review: "))
    assert len(progress) == 4  # two changed models, each on both sides
    assert f"review: verifying models/domd.m11 ({base[:7]})" in progress
    assert "newly violated  regress" in res.stdout
    assert "newly violated  regress" in res.output
    assert res.output.rstrip().endswith("result: FAIL (2 change(s) in --fail-on)")
    out = tmp_path / "review.sarif"
    res = runner.invoke(
        cli,
        [
            "review",
            "--base",
            base,
            "--head",
            head,
            "--format",
            "sarif",
            "--out",
            str(out),
            "--fail-on",
            "none",
            "models/domd.m11",
        ],
    )
    assert res.exit_code == 0 and res.output == ""
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert [r["properties"]["model"] for r in doc["runs"][0]["results"]] == ["models/domd.m11"] * 2
    assert not list(tmp_path.glob("*.tmp"))
    res = runner.invoke(cli, ["review", "--base", base, "--fail-on", "worse"])
    assert res.exit_code == 2
    assert "checker: error: unknown review category `worse` in --fail-on" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(cli, ["review", "only-one.m11"])
    assert res.exit_code == 2 and "exactly two files" in res.output


def test_internal_error_stops_the_review(tmp_path: Path) -> None:
    repo, base, head = make_repo(tmp_path)
    fe = FakeFrontEnd()

    def disagree(path: str) -> tuple[VerifyReport, Model]:
        raise CheckerError([], Exit.INTERNAL)

    verifier = CachedVerifier(disagree, fe.load, None, {})
    with pytest.raises(CheckerError) as exc:
        review_git(repo, base, head, verifier)
    assert exc.value.exit_code is Exit.INTERNAL


def test_real_pipeline_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real front end and verifier on a shipped finding: turning swiotlb-xen off in a
    1:1 backend is a regression of dma_reaches_intended; the second run reads the cache."""
    pytest.importorskip("checker.semantics")
    from checker.cmd_verify import run_verify

    shipped = Path(__file__).resolve().parent.parent / "models"
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for rel in ("platforms/omap5.m11", "xen/xen-current.m11", "findings/grant-dma-swiotlb-on.m11"):
        write(repo, "models/" + rel, (shipped / rel).read_text(encoding="utf-8"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    model = repo / "models/findings/grant-dma-swiotlb-on.m11"
    text = model.read_text(encoding="utf-8")
    assert "    swiotlb on\n" in text
    model.write_text(text.replace("    swiotlb on\n", "    swiotlb off\n"), encoding="utf-8")
    monkeypatch.setenv("MEMORY11_CACHE", str(tmp_path / "cache"))
    calls: list[str] = []

    def counting(path: str) -> tuple[VerifyReport, Model]:
        calls.append(path)
        return run_verify(path)

    def run() -> ReviewReport:
        report, _ = cmd_review.run_review(
            [],
            base="main",
            head=None,
            cwd=repo,
            verify_fn=counting,
            load_fn=cmd_review.default_load_fn(),
        )
        return report

    report = run()
    assert report.skipped == [] and report.unchanged == []
    assert [m.path for m in report.models] == ["models/findings/grant-dma-swiotlb-on.m11"]
    cats = {ch.name: ch.category for ch in report.models[0].changes}
    assert cats == {
        "dma_reaches_intended": Category.NEWLY_VIOLATED,
        "ipa_eq_pa": Category.STILL_HOLDS,
    }
    assert report.exit_code() == Exit.VIOLATED and len(calls) == 2
    sarif = json.loads(report_ci.render_review(report, "sarif"))
    (result,) = sarif["runs"][0]["results"]
    assert result["ruleId"] == "dma_reaches_intended" and result["baselineState"] == "new"
    loc = result["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "models/findings/grant-dma-swiotlb-on.m11"
    assert text.splitlines()[loc["region"]["startLine"] - 1].startswith("property dma_reaches")
    flow = result["codeFlows"][0]["threadFlows"][0]["locations"]
    assert flow[-1]["location"]["message"]["text"].startswith("4. dma domd grant")
    md = report_ci.render_review(report, "markdown")
    assert "caused by operation `dma domd grant`" in md
    again = run()
    assert len(calls) == 2  # both sides came from the cache
    assert report_ci.render_review(again, "json") == report_ci.render_review(report, "json")


def test_a_model_broken_on_both_sides_is_not_blamed_on_the_change(tmp_path: Path) -> None:
    repo, _base, _head = make_repo(tmp_path)
    write(repo, "models/bad.m11", "domain z\nsyntax-error\n")
    write(repo, "models/worse.m11", "domain z\nsyntax-error\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "broken models")
    write(repo, "models/worse.m11", "domain z\nsyntax-error again\n")
    report = review_git(repo, "HEAD", None, verifier_for(FakeFrontEnd()))
    assert "models/bad.m11" in report.unchanged
    assert [m.path for m in report.models] == ["models/worse.m11"]
    assert report.head_errors() == [] and report.exit_code() == Exit.OK
    junit = ET.fromstring(report_ci.render_review(report, "junit"))
    assert junit.find("testsuite/testcase/skipped") is not None
    assert junit.get("errors") == "0"


def test_gitfiles_reads_a_revision(tmp_path: Path) -> None:
    from checker import gitfiles

    repo, base, head = make_repo(tmp_path)
    write(repo, "models/odd name é.m11", "domain q\n")
    (repo / "models/link.m11").symlink_to("same.m11")
    (repo / "models/dangling.m11").symlink_to("nowhere.m11")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "odd names")
    assert gitfiles.repo_root(repo / "models") == repo.resolve()
    assert gitfiles.resolve_rev(repo, "main~1") == head
    assert gitfiles.show(repo, base, "models/inc/layout.m11") == b"verdict layout_ok holds\n"
    assert gitfiles.show(repo, head, "models/inc/layout.m11") == b"verdict layout_ok violated 4\n"
    assert gitfiles.show(repo, base, "models/odd name é.m11") is None
    assert "models/odd name é.m11" in gitfiles.tracked_files(repo, "HEAD")
    dest = tmp_path / "tree"
    written = gitfiles.materialise(repo, "HEAD", dest)
    assert written == gitfiles.tracked_files(repo, "HEAD")
    assert (dest / "models/odd name é.m11").read_text(encoding="utf-8") == "domain q\n"
    assert (dest / "models/link.m11").is_symlink()
    assert (dest / "models/link.m11").read_text(encoding="utf-8") == BASE_FILES["models/same.m11"]
    # a dangling link is neither a model nor an error
    report = review_git(repo, base, "HEAD", verifier_for(FakeFrontEnd()))
    assert "models/dangling.m11" not in [m.path for m in report.models] + report.skipped
    with pytest.raises(CheckerError) as exc:
        gitfiles.repo_root(tmp_path)
    assert "not inside a git repository" in exc.value.render()
