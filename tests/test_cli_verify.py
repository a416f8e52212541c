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
