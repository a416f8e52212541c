"""The symbolic engine on shipped models at real size (2 GiB of 4 KiB pages): proofs under the
allocator policies where no step leaves the extent bound, and an honest scope where one does
(NOTE(cut) in checker/smt.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checker.cmd_verify import run_verify
from checker.resolve import load_model
from checker.results import Verdict
from checker.smt import verify_property

MODELS = Path(__file__).resolve().parent.parent / "models"


@pytest.mark.parametrize("name, prop, placement", [
    ("findings/two-banks-placement-topdown.m11", "ipa_eq_pa", "top-down"),
    ("findings/rambase-by-hand-topdown.m11", "domd_boots", "top-down"),
    ("findings/two-banks-placement-bottomup.m11", "domd_boots", "bottom-up"),
    ("findings/rambase-by-hand-any.m11", "domd_boots", "symbolic"),
    ("findings/rambase-default-l4per-128m.m11", "no_ipa_overlap", "top-down"),
])
def test_real_size_proofs(name: str, prop: str, placement: str) -> None:
    model = load_model(str(MODELS / name))
    r = verify_property(model, model.property(prop), depth=None, timeout=120)
    assert r.verdict is Verdict.PROVED, (r.verdict, r.warnings)
    assert r.scope.exhaustive and r.scope.placement == placement
    assert r.method.startswith("k-induction") and "cut_depth" not in r.stats


@pytest.mark.parametrize("name, prop, length", [
    ("findings/two-banks-placement-bottomup.m11", "ipa_eq_pa", 1),
    ("findings/rambase-default-l4per-256m.m11", "no_ipa_overlap", 1),
    ("findings/hook-id1-recreate.m11", "ipa_eq_pa", 3),
])
def test_real_size_violations_replay(name: str, prop: str, length: int) -> None:
    model = load_model(str(MODELS / name))
    r = verify_property(model, model.property(prop), depth=None, timeout=120)
    assert r.verdict is Verdict.VIOLATED and r.trace_length == length
    assert r.trace is not None  # replayed by the reference semantics


def test_a_cut_limits_the_scope_and_the_engines_still_agree() -> None:
    """512 MiB under top-down takes more buddies than an ordinary domain has extent slots: the
    create is cut at depth 1, so the symbolic engine cannot see the 1-step violation and says
    only `holds` up to depth 0; `--engine both` accepts that against explicit's violation."""
    path = str(MODELS / "findings/rambase-default-l4per-512m.m11")
    model = load_model(path)
    r = verify_property(model, model.property("no_ipa_overlap"), depth=None, timeout=120)
    assert r.verdict is Verdict.HOLDS and not r.scope.exhaustive
    assert r.stats["cut_depth"] == 1 and r.scope.depth == 0
    assert any("leaves out" in w for w in r.warnings)
    report, _ = run_verify(path, engine="both", timeout=120)
    (res,) = report.results
    assert res.verdict is Verdict.VIOLATED and res.trace_length == 1
