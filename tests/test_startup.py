"""Start-up cost: the cached parser (NOTE(parser-cache)), lazy imports (NOTE(lazy-networkx)),
the bottom strongly connected components without networkx, and the `--engine auto` state budget
(NOTE(auto-budget))."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from array import array
from pathlib import Path

import pytest

from checker import parse, stategraph
from checker.diagnostics import CheckerError

ROOT = Path(__file__).resolve().parent.parent
_CACHE_DIR = parse.parser_cache_dir
BAD = "platform p {\n    page_size 4K\n    ram bank at 0x8000_0000 size\n}\n"


def _fresh_parser(monkeypatch: pytest.MonkeyPatch, cache: Path | None) -> parse._Parser:
    if cache is None:
        monkeypatch.setattr(parse, "parser_cache_dir", lambda: None)
    else:
        monkeypatch.setattr(parse, "parser_cache_dir", _CACHE_DIR)
        monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    monkeypatch.setattr(parse, "_PARSER", None)
    parse._CACHE.clear()
    return parse.parser()


def _error(text: str) -> str:
    parse._CACHE.clear()
    with pytest.raises(CheckerError) as info:
        parse.parse_text("m.m11", text)
    return info.value.render()


def test_the_parser_is_cached_and_behaves_like_a_built_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = (ROOT / "models" / "domd.m11").read_text(encoding="utf-8")
    _fresh_parser(monkeypatch, None)
    built_tree = parse.parse_text("m.m11", model)
    built_error = _error(BAD)
    _fresh_parser(monkeypatch, tmp_path)
    (entry,) = (tmp_path / "memory11").glob("parser-*.lark.pickle")
    assert not [p for p in entry.parent.iterdir() if p.name.endswith(".tmp")]
    p = _fresh_parser(monkeypatch, tmp_path)  # now loaded from the file
    assert p.lark.source_path == "<deserialized>"
    parse._CACHE.clear()
    assert parse.parse_text("m.m11", model) == built_tree
    assert parse.parse_text("m.m11", model).comments == built_tree.comments
    assert _error(BAD) == built_error
    assert p.terminal_text("PAGE_SIZE") == "`page_size`"


def test_a_broken_or_unwritable_cache_is_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fresh_parser(monkeypatch, tmp_path)
    (entry,) = (tmp_path / "memory11").glob("parser-*.lark.pickle")
    entry.write_bytes(entry.read_bytes()[:1000])
    p = _fresh_parser(monkeypatch, tmp_path)
    assert p.lark.source_path != "<deserialized>"
    assert "expected a size" in _error(BAD)
    assert len(entry.read_bytes()) > 1000  # rewritten whole
    blocked = tmp_path / "file"
    blocked.write_text("not a directory", encoding="utf-8")
    p = _fresh_parser(monkeypatch, blocked)
    assert p.lark.source_path != "<deserialized>"
    assert "expected a size" in _error(BAD)


def _reference_traps(n: int, src: list[int], dst: list[int],
                     ops: list[int]) -> list[tuple[list[int], set[int]]]:
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from(zip(src, dst))
    cond = nx.condensation(g)
    mapping = cond.graph["mapping"]
    bottom = {c for c in cond.nodes
              if cond.out_degree(c) == 0 and len(cond.nodes[c]["members"]) > 1}
    inside: dict[int, set[int]] = {c: set() for c in bottom}
    for s, t, o in zip(src, dst, ops):
        if mapping[s] in bottom and mapping[t] == mapping[s]:
            inside[mapping[s]].add(o)
    out = []
    for c in sorted(bottom, key=lambda c: min(cond.nodes[c]["members"])):
        lost = set(ops) - inside[c]
        if lost:
            out.append((sorted(cond.nodes[c]["members"]), lost))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_traps_agree_with_networkx(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 60)
    m = rng.randint(0, 3 * n)
    src = [rng.randrange(n) for _ in range(m)]
    dst = [rng.randrange(n) for _ in range(m)]
    ops = [rng.randrange(5) for _ in range(m)]
    got = stategraph.traps(n, array("i", src), array("i", dst), array("i", ops))
    assert got == _reference_traps(n, src, dst, ops)


def test_a_long_chain_needs_no_recursion() -> None:
    n = 200_000
    src = array("i", range(n - 1))
    dst = array("i", range(1, n))
    comp = stategraph.components(n, src, dst)
    assert len(set(comp)) == n


def _modules_after(code: str) -> set[str]:
    code += "\nimport sys\nprint(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code],
                         cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    return set(out.stdout.split())


def test_networkx_and_z3_are_imported_only_when_used(tmp_path: Path) -> None:
    loaded = _modules_after("import checker.cli, checker.cmd_verify, checker.cmd_lang")
    assert "networkx" not in loaded and "z3" not in loaded
    assert "checker.report_ci" not in loaded
    model = ROOT / "models" / "domd.m11"
    loaded = _modules_after(
        "from checker.cmd_verify import run_verify\n"
        f"run_verify({str(model)!r}, engine='auto')")
    assert "networkx" not in loaded and "z3" not in loaded
    loaded = _modules_after(
        "from checker.cmd_verify import run_verify\n"
        f"run_verify({str(model)!r}, engine='explicit', graph={str(tmp_path / 'g.dot')!r})")
    assert "networkx" in loaded and "z3" not in loaded


def _frag(tmp_path: Path, size: str, mode: str) -> str:
    from bench.frag_balloon import SIZES, generate

    path = tmp_path / f"{size}-{mode}.m11"
    path.write_text(generate(*SIZES[size], mode), encoding="utf-8")
    return str(path)


def test_auto_keeps_small_spaces_explicit_and_hands_large_ones_over_by_state_count(
        tmp_path: Path) -> None:
    from checker import cmd_verify

    report, _ = cmd_verify.run_verify(_frag(tmp_path, "tiny", "fixed"), engine="auto")
    assert {(r.engine, r.verdict.value, r.states) for r in report.results} == {
        ("explicit", "proved", 522)}
    assert {r.stats["engine_selected_by"] for r in report.results} == {"auto"}
    report, _ = cmd_verify.run_verify(_frag(tmp_path, "small", "fixed"), engine="auto",
                                      properties=["ipa_eq_pa"])
    (r,) = report.results
    assert r.engine == "smt" and r.verdict.value == "proved"
    assert r.stats["engine_selected_by"] == (
        f"auto (explicit was undecided after {cmd_verify.AUTO_EXPLICIT_STATES} states)")
    # a shallow violation in a space far too large to enumerate: found within the budget
    report, _ = cmd_verify.run_verify(_frag(tmp_path, "huge", "naive"), engine="auto",
                                      properties=["ipa_eq_pa"])
    (r,) = report.results
    assert (r.engine, r.verdict.value, r.trace_length) == ("explicit", "violated", 3)


def test_auto_searches_on_without_the_budget_what_the_solver_cannot_decide(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from checker import cmd_verify

    monkeypatch.setattr(cmd_verify, "AUTO_EXPLICIT_STATES", 100)
    monkeypatch.setattr(cmd_verify, "_smt_supports", lambda model, prop: False)
    report, _ = cmd_verify.run_verify(_frag(tmp_path, "tiny", "fixed"), engine="auto",
                                      properties=["no_frame_shared"])
    (r,) = report.results
    assert (r.engine, r.verdict.value, r.states) == ("explicit", "proved", 522)
    assert r.stats["engine_selected_by"] == "auto (the smt engine cannot decide it)"


def test_the_fast_exit_keeps_the_exit_code_and_the_whole_output(tmp_path: Path) -> None:
    """NOTE(fast-exit): `main` ends the process with os._exit after flushing."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    model = _frag(tmp_path, "tiny", "naive")
    run = subprocess.run([sys.executable, "-m", "checker", "verify", model, "--format", "json",
                          "--out", str(tmp_path / "cx"), "-q"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 1
    data = json.loads(run.stdout)
    assert [r["property"] for r in data["results"]] == [
        "ipa_eq_pa", "domd_create_never_fails", "no_frame_shared"]
    missing = str(tmp_path / "missing.m11")
    run = subprocess.run([sys.executable, "-m", "checker", "check", missing],
                         cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 2 and "cannot read" in run.stderr
    run = subprocess.run([sys.executable, "-m", "checker", "verify", "--no-such-option", "x"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, check=False)
    assert run.returncode == 2 and "No such option" in run.stderr
