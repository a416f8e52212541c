"""The symbolic engine on shipped models at real size (2 GiB of 4 KiB pages): proofs under the
allocator policies where no step leaves the extent bound, and an honest scope where one does
(NOTE(cut) in checker/smt.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from checker import model as m
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


def test_a_cut_limits_the_scope() -> None:
    """Under placement `any` a 128 MiB create may take its frames as more runs than the
    extent bound holds: the create is cut at depth 1, so for a property that reads those
    frames no violation up to there is only `holds` with scope depth 0, never `proved`."""
    model = load_model(str(MODELS / "findings/heap-fragmented.m11"))
    shared = m.Property("no_frame_shared", m.PropertyKind.NO_FRAME_SHARED, (), None)
    model = dataclasses.replace(model, properties=(shared,))
    r = verify_property(model, shared, depth=None, timeout=120)
    assert r.verdict is Verdict.HOLDS and not r.scope.exhaustive
    assert r.stats["cut_depth"] == 1 and r.scope.depth == 0
    assert "localized" not in r.stats
    assert any("leaves out" in w for w in r.warnings)


def test_a_cut_of_frames_the_property_does_not_read() -> None:
    """NOTE(localization): `ipa_eq_pa` reads only domd's mapping, so past the same cut it is
    proved over every run with domu's frames abstracted away, at real size."""
    model = load_model(str(MODELS / "findings/heap-fragmented.m11"))
    r = verify_property(model, model.property("ipa_eq_pa"), depth=None, timeout=120)
    assert r.verdict is Verdict.PROVED and r.scope.exhaustive, (r.verdict, r.warnings)
    assert r.method == "localization(domu)+k-induction(k=3)"
    assert r.stats["localized"] == ["domu"] and "cut_depth" not in r.stats


@pytest.mark.parametrize("name, prop, verdict, length", [
    # NOTE(forward-propagation): the concrete initial state folds the policy's circuits away
    ("findings/hook-id1-domu-first.m11", "ipa_eq_pa", Verdict.VIOLATED, 2),
    ("findings/hook-id1-domu-first.m11", "domd_boots", Verdict.PROVED, None),
    ("findings/balloon-keep-owned.m11", "ipa_eq_pa", Verdict.PROVED, None),
    ("findings/balloon-keep-owned.m11", "domd_balloon_in", Verdict.PROVED, None),
    ("findings/balloon-keep-owned.m11", "no_frame_shared", Verdict.PROVED, None),
    # NOTE(policy-slots): 512 MiB under top-down takes 10 buddies
    ("findings/rambase-by-hand-other-domain.m11", "ipa_eq_pa", Verdict.VIOLATED, 2),
    ("findings/rambase-by-hand-other-domain.m11", "domd_boots", Verdict.PROVED, None),
    ("findings/rambase-default-l4per-512m.m11", "no_ipa_overlap", Verdict.VIOLATED, 1),
])
def test_short_scenarios_at_real_size(name: str, prop: str, verdict: Verdict,
                                      length: int | None) -> None:
    """BMC over every run of a loop-free scenario (NOTE(scenario-bound)): a proof is
    `k-induction(k=L+1)` with L the scenario's length, a violation the shortest one."""
    model = load_model(str(MODELS / name))
    r = verify_property(model, model.property(prop), depth=None, timeout=120)
    assert r.verdict is verdict, (r.verdict, r.warnings)
    assert "cut_depth" not in r.stats
    if verdict is Verdict.PROVED:
        bound = r.stats["scenario_bound"]
        assert r.scope.exhaustive and r.method == f"k-induction(k={bound + 1})"
    else:
        assert r.trace_length == length and r.trace is not None


@pytest.mark.parametrize("name, prop", [
    ("findings/hook-id1-domu-first.m11", "ipa_eq_pa"),
    ("findings/hook-id1-domu-first.m11", "domd_boots"),
    ("findings/balloon-keep-owned.m11", "no_frame_shared"),
    ("findings/grant-dma-swiotlb-off.m11", "dma_reaches_intended"),
    ("findings/rambase-by-hand-other-domain.m11", "ipa_eq_pa"),
])
def test_split_bmc_agrees_with_the_joint_query(name: str, prop: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTE(bmc-split): with the joint query given no effort at all, BMC one operation
    sequence at a time (with its queries asked as integers first, NOTE(bv-as-int)) reaches
    the verdict, the length and the very trace of the joint query."""
    from checker import smt

    model = load_model(str(MODELS / name))
    joint = verify_property(model, model.property(prop), depth=None, timeout=120)
    assert "joint_gave_up_at" not in joint.stats
    monkeypatch.setattr(smt, "JOINT_RLIMIT", 1)
    split = verify_property(model, model.property(prop), depth=None, timeout=120)
    assert split.stats["joint_gave_up_at"] == 0
    assert (split.verdict, split.method, split.scope) == (joint.verdict, joint.method, joint.scope)
    if joint.trace is not None:
        assert split.trace is not None
        assert [(s.op, s.choices) for s in split.trace.steps] == \
            [(s.op, s.choices) for s in joint.trace.steps]
