"""`checker replay` on traces written by `checker verify`, intact and tampered with."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from checker.cli import cli

GOLDEN = Path(__file__).parent / "golden" / "verify"
TRACE = "counterexamples/fb-tiny-naive/ipa_eq_pa.itf.json"


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


@pytest.fixture
def trace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A counterexample written by verify (3 steps: create, balloon_out, balloon_in)."""
    shutil.copy(GOLDEN / "fb-tiny-naive.m11", tmp_path / "fb-tiny-naive.m11")
    monkeypatch.chdir(tmp_path)
    code, _out, _err = run("verify", "fb-tiny-naive.m11", "-p", "ipa_eq_pa", "-q")
    assert code == 1
    path = tmp_path / TRACE
    assert path.is_file()
    return path


def edit(path: Path, fn: Any) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc, indent=2) + "\n")


def test_replay_reproduces(trace: Path) -> None:
    code, out, err = run("replay", TRACE)
    assert code == 0, err
    assert "   1. create domd  [block=pfn 0x80000]" in out
    assert "   3. balloon_in domd 1  [ipa=pfn 0x80000 frames=pfn 0x80002+1]" in out
    assert "witness: domd: RAM page at IPA 0x80000000 is backed by PA 0x80002000" in out
    assert out.rstrip().endswith("reproduced: ipa_eq_pa is violated after 3 steps")


def test_replay_with_explicit_model(trace: Path) -> None:
    code, _out, _err = run("replay", TRACE, "--model", "fb-tiny-naive.m11")
    assert code == 0


def test_edited_state_is_not_reproduced_and_names_the_field(trace: Path) -> None:
    edit(trace, lambda d: d["states"][2]["domains"]["domd"]["rambase"].update(
        {"#bigint": "524289"}))
    code, out, _err = run("replay", TRACE)
    assert code == 1
    assert ("not reproduced: step 2 (balloon_out domd 1) diverges: .domains.domd.rambase: "
            "replay gives 524288, the trace records 524289") in out


def test_edited_choice_in_the_action_is_not_reproduced(trace: Path) -> None:
    def fn(d: dict[str, Any]) -> None:
        meta = d["states"][3]["#meta"]
        meta["action"]["choices"]["frames"] = [[524291, 1]]
        meta["choices"]["frames"] = [[524291, 1]]

    edit(trace, fn)
    code, out, _err = run("replay", TRACE)
    assert code == 1
    assert "not reproduced: step 3 (balloon_in domd 1) diverges:" in out


def test_choice_that_is_not_allowed_is_not_enabled(trace: Path) -> None:
    def fn(d: dict[str, Any]) -> None:
        meta = d["states"][1]["#meta"]
        meta["action"]["choices"]["block"] = 524289  # not aligned to the block's order
        meta["choices"]["block"] = 524289

    edit(trace, fn)
    code, out, _err = run("replay", TRACE)
    assert code == 1
    assert "not reproduced: step 1 (create domd) is not enabled:" in out


def test_choices_that_disagree_with_the_action_are_tampering(trace: Path) -> None:
    edit(trace, lambda d: d["states"][2]["#meta"]["choices"].update(ipa=524289))
    code, _out, err = run("replay", TRACE)
    assert code == 2
    assert f"{TRACE}:" in err and "step 2: the recorded operation/choices" in err
    assert "^" in err  # a caret under the step in the file


def test_invalid_action_is_tampering(trace: Path) -> None:
    edit(trace, lambda d: d["states"][1]["#meta"].update(action={"nonsense": 1}))
    code, _out, err = run("replay", TRACE)
    assert code == 2 and "step 1: invalid action" in err and "Traceback" not in err


def test_broken_json(trace: Path) -> None:
    text = trace.read_text()
    trace.write_text(text.replace('"vars": [', '"vars": [,', 1))
    code, _out, err = run("replay", TRACE)
    assert code == 2
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if '"vars"' in ln)
    assert err.startswith(f"{TRACE}:{line}:")
    assert "malformed JSON" in err


def test_truncated_trace_is_not_reproduced(trace: Path) -> None:
    edit(trace, lambda d: d["states"].pop())
    code, out, _err = run("replay", TRACE)
    assert code == 1
    assert "not reproduced: ipa_eq_pa holds in the final state" in out


def test_changed_model_is_a_sha_mismatch(trace: Path) -> None:
    model = Path("fb-tiny-naive.m11")
    model.write_text(model.read_text() + "\n# an edit\n")
    code, out, err = run("replay", TRACE)
    assert code == 2 and out == ""
    assert "the model changed since" in err and "sha256" in err and "--force" in err
    # a comment does not change the semantics: --force replays it and it reproduces
    code, out, err = run("replay", TRACE, "--force")
    assert code == 0
    assert "reproduced" in out and "replaying anyway" in err


def test_changed_semantics_with_force_is_not_reproduced(trace: Path) -> None:
    model = Path("fb-tiny-naive.m11")
    model.write_text(model.read_text().replace("release_any", "release_same"))
    code, _out, _err = run("replay", TRACE)
    assert code == 2
    code, out, _err = run("replay", TRACE, "--force")
    assert code == 1 and "not reproduced: step 3 (balloon_in domd 1)" in out


def test_missing_model(trace: Path) -> None:
    Path("fb-tiny-naive.m11").unlink()
    code, _out, err = run("replay", TRACE)
    assert code == 2 and "cannot read model" in err and "--model" in err


def test_trace_found_under_symmetry_replays_without_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(GOLDEN / "fb-k2-fixed.m11", tmp_path / "fb-k2-fixed.m11")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("verify", "fb-k2-fixed.m11", "-q", "--engine", "explicit")
    assert code == 1
    # u1 and u2 are one symmetry group: the search stored fewer states than the unreduced space
    assert "proved (exhaustive, exact placement, " in out and " without symmetry)" in out
    path = "counterexamples/fb-k2-fixed/domd_create_never_fails.itf.json"
    doc = json.loads(Path(path).read_text())
    assert doc["#meta"]["symmetry"] is True
    assert [s["#meta"]["op"] for s in doc["states"]] == [
        "initial", "create u1", "create u2", "create domd"]
    code, out, _ = run("replay", path)
    assert code == 0 and "reproduced: domd_create_never_fails is violated after 3 steps" in out


def test_replay_from_another_directory(trace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(trace.parent)
    code, out, _ = run("replay", trace.name)
    assert code == 0 and "reproduced" in out


def test_changed_include_is_a_sha_mismatch(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    text = (GOLDEN / "fb-tiny-naive.m11").read_text()
    head, sep, rest = text.partition("domain domd {")
    (tmp_path / "board.m11").write_text(head)
    (tmp_path / "top.m11").write_text('include "board.m11"\n\n' + sep + rest)
    monkeypatch.chdir(tmp_path)
    code, _out, _ = run("verify", "top.m11", "-p", "ipa_eq_pa", "-q")
    assert code == 1
    path = "counterexamples/top/ipa_eq_pa.itf.json"
    doc = json.loads(Path(path).read_text())
    assert doc["#meta"]["sources"][0]["path"] == "top.m11"
    assert len(doc["#meta"]["sources"]) == 2
    board = tmp_path / "board.m11"
    board.write_text(board.read_text() + "# edited\n")
    code, _out, err = run("replay", path)
    assert code == 2 and "board.m11: sha256" in err


def test_unwritable_counterexample_directory(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(GOLDEN / "fb-tiny-naive.m11", tmp_path / "fb-tiny-naive.m11")
    (tmp_path / "cx").write_text("a file, not a directory\n")
    monkeypatch.chdir(tmp_path)
    code, out, err = run("verify", "fb-tiny-naive.m11", "-p", "ipa_eq_pa", "--out", "cx/sub")
    assert code == 2 and out == ""
    assert "cannot write the counterexample" in err and "Traceback" not in err


SHIPPED = ["domd.m11", "domd-alloc11.m11", "findings/hook-id1-recreate.m11",
           "findings/balloon-release-same-stolen.m11", "findings/grant-dma-swiotlb-off.m11"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_counterexamples_replay_and_are_shortest(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from checker.cmd_verify import run_verify
    from checker.explore import explore
    from checker.results import Verdict
    from checker.semantics import Semantics

    path = str(Path(__file__).parent.parent / "models" / name)
    monkeypatch.chdir(tmp_path)
    report, model = run_verify(path, engine="explicit", max_states=20_000,
                               write_counterexamples=True)
    violated = [r for r in report.results if r.verdict is Verdict.VIOLATED]
    assert violated
    for r in violated:
        assert r.counterexample is not None and r.trace_length
        code, out, _ = run("replay", r.counterexample)
        assert code == 0, out
        # one step fewer: every state within that depth was searched, none violates
        sem = Semantics(model)
        shorter = explore(sem, [model.property(r.property)], depth=r.trace_length - 1)
        assert shorter.results[0].verdict in (Verdict.HOLDS, Verdict.PROVED)
