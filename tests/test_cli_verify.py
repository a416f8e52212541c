"""`checker verify` end to end: golden text and JSON output, exit codes, counterexample files.

Each golden file in tests/golden/verify/ starts with the command line (`$ checker verify ...`),
then holds the expected stdout and, last, `[exit N]`. Volatile fields (seconds, states per
second, peak memory) are masked. The command runs in a temporary directory holding a copy of
the models, so the paths in the output are stable. `UPDATE_GOLDEN=1` rewrites the files.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from checker.cli import cli
from checker.cmd_verify import run_verify
from checker.results import Verdict

GOLDEN = Path(__file__).parent / "golden" / "verify"
CASES = sorted(p.stem for p in GOLDEN.glob("*.golden"))


def mask(text: str) -> str:
    text = re.sub(r"(\[[a-z]+(?:, chosen by [^,\]]+)?), \d+\.\d+ s\]", r"\1, <T> s]", text)
    text = re.sub(r'"seconds": [0-9.e-]+', '"seconds": "<T>"', text)
    text = re.sub(r'"states_per_second": [0-9.e+-]+|"states_per_second": null',
                  '"states_per_second": "<RATE>"', text)
    return re.sub(r'"peak_memory_mb": [0-9.]+', '"peak_memory_mb": "<MB>"', text)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for m in GOLDEN.glob("*.m11"):
        shutil.copy(m, tmp_path / m.name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str, workdir: Path) -> None:
    golden = GOLDEN / f"{case}.golden"
    first, _, expected = golden.read_text(encoding="utf-8").partition("\n")
    assert first.startswith("$ checker ")
    code, out, _err = run(*shlex.split(first.removeprefix("$ checker ")))
    got = mask(out) + f"[exit {code}]\n"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(first + "\n" + got, encoding="utf-8")
        expected = got
    assert got == expected


def test_violation_writes_a_counterexample_per_property(workdir: Path) -> None:
    code, out, _ = run("verify", "fb-tiny-naive.m11", "-p", "ipa_eq_pa", "--quiet")
    assert code == 1
    path = workdir / "counterexamples" / "fb-tiny-naive" / "ipa_eq_pa.itf.json"
    assert path.is_file()
    doc = json.loads(path.read_text())
    assert doc["#meta"]["property"] == "ipa_eq_pa"
    assert len(doc["states"]) == 4  # the initial state and 3 steps
    assert "counterexample: counterexamples/fb-tiny-naive/ipa_eq_pa.itf.json" in out


def test_out_directory(workdir: Path) -> None:
    code, out, _ = run("verify", "fb-tiny-naive.m11", "-p", "ipa_eq_pa", "--out", "cx",
                       "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["results"][0]["counterexample"] == "cx/ipa_eq_pa.itf.json"
    assert (workdir / "cx" / "ipa_eq_pa.itf.json").is_file()
    assert not (workdir / "counterexamples").exists()


def test_json_report_fields_and_types(workdir: Path) -> None:
    code, out, _ = run("verify", "fb-tiny-fixed.m11", "--format", "json", "--depth", "2")
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"model", "model_sha256", "checker_version", "results"}
    assert re.fullmatch(r"[0-9a-f]{64}", data["model_sha256"])
    for r in data["results"]:
        assert set(r) == {"property", "verdict", "engine", "method", "scope", "trace_length",
                          "counterexample", "states", "transitions", "seconds", "warnings",
                          "stats"}
        assert r["verdict"] == "holds"
        assert r["scope"] == {"depth": 2, "exhaustive": False, "placement": "exact"}
        assert isinstance(r["seconds"], float) and r["states"] > 0


def test_unknown_property_is_bad_input(workdir: Path) -> None:
    code, out, err = run("verify", "fb-tiny-fixed.m11", "-p", "ipa_eq_pb")
    assert code == 2 and out == ""
    assert "error: unknown property 'ipa_eq_pb'" in err
    assert "declares: ipa_eq_pa, domd_create_never_fails, no_frame_shared" in err


def test_unreadable_model_is_bad_input(workdir: Path) -> None:
    code, _out, err = run("verify", "missing.m11")
    assert code == 2 and "Traceback" not in err


def test_bad_graph_suffix_is_rejected_before_running(workdir: Path) -> None:
    code, _out, err = run("verify", "fb-tiny-fixed.m11", "--graph", "g.png")
    assert code == 2 and ".graphml or .dot" in err


@pytest.mark.parametrize("suffix", ["dot", "graphml"])
def test_graph_export(workdir: Path, suffix: str) -> None:
    code, _out, _err = run("verify", "fb-tiny-fixed.m11", "-q", "--graph", f"g.{suffix}")
    assert code == 0
    text = (workdir / f"g.{suffix}").read_text()
    if suffix == "dot":
        assert text.startswith('digraph "fb-tiny-fixed.m11" {')
        assert text.count(" -> ") > 522  # every distinct transition of the 522 states
        assert '[label="create domd"]' in text
    else:
        import networkx as nx

        g = nx.read_graphml(workdir / "g.graphml")
        assert g.number_of_nodes() == 522


def test_progress_line_only_on_a_terminal(workdir: Path) -> None:
    # CliRunner's stderr is not a terminal: no progress line, whatever the duration
    code, _out, err = run("verify", "fb-tiny-fixed.m11")
    assert code == 0 and err == ""


def test_markdown_is_dispatched(workdir: Path) -> None:
    code, out, _err = run("verify", "fb-tiny-fixed.m11", "--format", "markdown", "--depth", "1")
    assert code == 0 and "ipa_eq_pa" in out


def test_run_verify_writes_nothing_unless_asked(workdir: Path) -> None:
    report, model = run_verify("fb-tiny-naive.m11", properties=["ipa_eq_pa"], engine="explicit")
    assert report.results[0].verdict is Verdict.VIOLATED
    assert report.results[0].counterexample is None
    assert model.path == "fb-tiny-naive.m11"
    assert sorted(p.name for p in workdir.iterdir()) == sorted(
        m.name for m in GOLDEN.glob("*.m11"))


# ---- engine selection, with a stand-in for the SMT engine -------------------------------------


def fake_smt(verdicts: dict[str, str], calls: list[str]) -> object:
    """A `verify_property` that answers from a table; a violation gets the explicit engine's
    shortest trace (so that its counterexample replays), relabelled as a solver's."""
    from checker.model import Model, Property
    from checker.results import PropertyResult, Scope

    def verify_property(model: Model, prop: Property, *, depth: int | None,
                        timeout: float | None, effort: int | None = None) -> PropertyResult:
        calls.append(prop.name)
        verdict = Verdict(verdicts[prop.name])
        trace = None
        if verdict is Verdict.VIOLATED:
            report, _m = run_verify(model.path, properties=[prop.name], engine="explicit",
                                    model=model)
            trace = report.results[0].trace
        method = "bmc" if verdict is not Verdict.PROVED else "k-induction(k=1)"
        return PropertyResult(prop.name, verdict, "smt", method,
                              Scope(None if verdict is Verdict.PROVED else 3,
                                    verdict is Verdict.PROVED, "exact"), trace=trace)

    return verify_property


@pytest.fixture
def smt_calls() -> list[str]:
    return []


def use_smt(monkeypatch: pytest.MonkeyPatch, verdicts: dict[str, str], calls: list[str]) -> None:
    import checker.cmd_verify as cv

    monkeypatch.setattr(cv, "_smt", lambda: fake_smt(verdicts, calls))


def test_both_agree(workdir: Path, monkeypatch: pytest.MonkeyPatch, smt_calls: list[str]) -> None:
    use_smt(monkeypatch, {"ipa_eq_pa": "violated", "no_frame_shared": "proved"}, smt_calls)
    code, out, _ = run("verify", "fb-tiny-naive.m11", "--engine", "both", "-p", "ipa_eq_pa",
                       "-p", "no_frame_shared")
    assert code == 1 and smt_calls == ["ipa_eq_pa", "no_frame_shared"]
    assert "violated (shortest trace: 3 steps)  [explicit, cross-checked by smt," in out
    assert "proved (exhaustive, exact placement, 7,262 states)  [explicit, cross-checked by smt" \
        in out


def test_both_disagree_is_an_internal_error(workdir: Path, monkeypatch: pytest.MonkeyPatch,
                                           smt_calls: list[str]) -> None:
    use_smt(monkeypatch, {"ipa_eq_pa": "proved"}, smt_calls)
    code, out, err = run("verify", "fb-tiny-naive.m11", "--engine", "both", "-p", "ipa_eq_pa")
    assert code == 4 and out == ""
    assert "engines disagree on ipa_eq_pa: explicit says violated, smt says proved" in err


def test_auto_falls_back_to_smt_when_explicit_is_undecided(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, smt_calls: list[str]) -> None:
    use_smt(monkeypatch, {"no_frame_shared": "proved", "ipa_eq_pa": "violated"}, smt_calls)
    code, out, _ = run("verify", "fb-tiny-fixed.m11", "--max-states", "50", "-p",
                       "no_frame_shared")
    assert code == 0 and smt_calls == ["no_frame_shared"]
    assert "proved (k-induction(k=1), exact placement)  [smt, chosen by auto (explicit was " \
        "undecided)" in out
    # a decided explicit verdict is not handed to the solver
    smt_calls.clear()
    code, out, _ = run("verify", "fb-tiny-fixed.m11", "-p", "no_frame_shared")
    assert code == 0 and smt_calls == [] and "[explicit, chosen by auto" in out


def test_auto_searches_on_when_smt_is_undecided(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, smt_calls: list[str]) -> None:
    """NOTE(auto-budget): a property the symbolic engine leaves undecided is searched by the
    explicit engine without the state budget, so auto answers what the explicit search can."""
    use_smt(monkeypatch, {"no_frame_shared": "undecided"}, smt_calls)
    code, out, _ = run("verify", "fb-tiny-naive.m11", "-p", "no_frame_shared")
    assert code == 0 and smt_calls == ["no_frame_shared"]
    assert "proved (exhaustive, exact placement, 7,262 states)  [explicit, chosen by auto " \
        "(the smt engine was undecided)" in out


def test_smt_counterexample_is_matched_to_actions_and_replays(
        workdir: Path, monkeypatch: pytest.MonkeyPatch, smt_calls: list[str]) -> None:
    use_smt(monkeypatch, {"ipa_eq_pa": "violated"}, smt_calls)
    code, out, _ = run("verify", "fb-tiny-naive.m11", "--engine", "smt", "-p", "ipa_eq_pa")
    assert code == 1 and "[smt," in out
    path = "counterexamples/fb-tiny-naive/ipa_eq_pa.itf.json"
    doc = json.loads((workdir / path).read_text())
    assert doc["#meta"]["engine"] == "smt" and doc["#meta"]["method"] == "bmc"
    assert doc["states"][1]["#meta"]["action"]["label"] == "create domd"
    code, out, _ = run("replay", path)
    assert code == 0 and "reproduced" in out


def test_timeout_is_undecided(workdir: Path) -> None:
    code, out, _ = run("verify", "fb-k2-fixed.m11", "--engine", "explicit", "--timeout", "0",
                       "-p", "no_frame_shared")
    assert code == 3
    assert "no_frame_shared  undecided (timeout; no violation up to depth " in out


def report_schema() -> dict[str, object]:
    text = (Path(__file__).parent.parent / "docs" / "json.md").read_text(encoding="utf-8")
    block = text.split("```json schema\n", 1)[1].split("```", 1)[0]
    schema: dict[str, object] = json.loads(block)
    return schema


@pytest.mark.parametrize("args", [
    ["fb-tiny-naive.m11", "-p", "ipa_eq_pa"],
    ["fb-tiny-fixed.m11", "--depth", "2"],
    ["fb-tiny-fixed.m11", "--max-states", "10", "--engine", "explicit"],
    ["stuck-create.m11"],
    ["fb-tiny-fixed.m11", "--placement", "candidates", "--engine", "explicit"],
])
def test_json_reports_follow_the_documented_schema(workdir: Path, args: list[str]) -> None:
    import jsonschema

    code, out, _ = run("verify", *args, "--format", "json")
    assert code in (0, 1, 3)
    data = json.loads(out)
    jsonschema.validate(data, report_schema())
    # the documented verdict rules are not vacuous: a violated result fails the schema
    # once its trace length is removed
    for i, r in enumerate(data["results"]):
        if r["verdict"] == "violated":
            broken = json.loads(out)
            broken["results"][i]["trace_length"] = None
            with pytest.raises(jsonschema.ValidationError):
                jsonschema.validate(broken, report_schema())


def test_auto_hands_a_space_too_large_to_enumerate_to_the_symbolic_engine(tmp_path: Path) -> None:
    """NOTE(auto-budget): frag-balloon huge has about 1e22 states; auto still proves ipa_eq_pa."""
    from bench.frag_balloon import SIZES, generate
    from checker import cmd_verify

    path = tmp_path / "huge-fixed.m11"
    path.write_text(generate(*SIZES["huge"], "fixed"), encoding="utf-8")
    report, _ = cmd_verify.run_verify(str(path), properties=["ipa_eq_pa"], engine="auto")
    (r,) = report.results
    assert r.engine == "smt"
    assert r.verdict.value == "proved"
    assert r.method.startswith("k-induction")
    assert "explicit was undecided" in r.stats["engine_selected_by"]


def test_an_internal_error_is_exit_4_without_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from checker import cmd_lang
    from checker.cli import cli

    def boom(files: list[str]) -> int:
        raise RuntimeError("invariant broken")

    monkeypatch.setattr(cmd_lang, "check", boom)
    monkeypatch.delenv("MEMORY11_TRACEBACK", raising=False)
    result = CliRunner().invoke(cli, ["check", "x.m11"])
    assert result.exit_code == 4
    assert "internal error: RuntimeError: invariant broken" in result.output
    assert "Traceback" not in result.output
