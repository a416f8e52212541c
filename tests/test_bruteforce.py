"""The independent frag-balloon enumerator against the numbers of the benchmark definition.

`small` takes about half a minute in plain Python: it runs only with MEMORY11_SLOW=1; `wide`
(about ten minutes, 0.5 GB) only with MEMORY11_SLOW=2.
"""

from __future__ import annotations

import math
import os

import pytest
from bruteforce import PROPERTIES, SIZES, Family, explore, family

SLOW = os.environ.get("MEMORY11_SLOW", "0")
slow = pytest.mark.skipif(SLOW not in ("1", "2"), reason="slow enumeration; set MEMORY11_SLOW=1")
very_slow = pytest.mark.skipif(SLOW != "2", reason="ten-minute enumeration; set MEMORY11_SLOW=2")


def test_tiny_fixed_counts_and_verdicts() -> None:
    res = explore(family("tiny", "fixed"))
    assert res.states == 522  # the definition's exact count
    assert [res.verdict(p) for p in PROPERTIES] == ["holds", "holds", "holds"]


def test_tiny_naive_counts_and_verdicts() -> None:
    res = explore(family("tiny", "naive"))
    assert res.states == 7262  # the definition's exact count
    assert res.verdict("ipa_eq_pa") == "violated"
    assert res.shortest("ipa_eq_pa") == 3
    # K*R = 2 < 4: the one ordinary domain cannot reach all four aligned blocks.
    assert res.verdict("domd_create_never_fails") == "holds"
    assert res.verdict("no_frame_shared") == "holds"


def test_tiny_naive_shortest_ipa_trace_is_the_documented_one() -> None:
    fam = family("tiny", "naive")
    trace = explore(fam).violations["ipa_eq_pa"]
    assert trace is not None
    assert trace[0].startswith("create_domd(")
    assert trace[1].startswith("balloon_out_domd(o=")
    assert trace[2].startswith("balloon_in_domd(o=")
    # balloon-in repopulated the hole it made, with a frame other than base + o
    o_out = trace[1].split("o=")[1].rstrip(")")
    o_in, m = trace[2].split("o=")[1].rstrip(")").split(",m=")
    base = int(trace[0].split("b=")[1].rstrip(")"))
    assert o_out == o_in
    assert int(m) != base + int(o_in)


def test_replaying_a_trace_reaches_a_violating_state() -> None:
    fam = family("tiny", "naive")
    trace = explore(fam).violations["ipa_eq_pa"]
    assert trace is not None
    state = fam.initial()
    for label in trace:
        state = dict(fam.successors(state))[label]
    assert fam.violates(state, "ipa_eq_pa")
    assert not fam.violates(state, "no_frame_shared")


def test_create_fails_once_ordinary_domains_cover_every_block() -> None:
    # K*R >= 4: shortest is ceil(4/R) ordinary creations, then create_domd.
    fam = Family(8, 2, 2, "fixed")
    res = explore(fam)
    assert res.verdict("domd_create_never_fails") == "violated"
    assert res.shortest("domd_create_never_fails") == math.ceil(4 / 2) + 1
    trace = res.violations["domd_create_never_fails"]
    assert trace is not None and trace[-1] == "create_domd(failed)"
    assert res.verdict("ipa_eq_pa") == "holds"


def test_fixed_is_a_restriction_of_naive() -> None:
    # fixed only removes balloon-in choices: every fixed state is reachable in naive.
    fixed, naive = family("tiny", "fixed"), family("tiny", "naive")
    for fam in (fixed, naive):
        assert fam.initial() == Family(8, 1, 2, "naive").initial()
    res_f, res_n = explore(fixed), explore(naive)
    assert res_f.states < res_n.states
    assert res_f.transitions < res_n.transitions


def test_initial_state_is_the_destroy_state() -> None:
    fam = family("tiny", "fixed")
    view = fam.decode(fam.initial())
    assert view["alive"] is False and view["base"] == 0
    assert view["p2m"] == [None, None]
    assert view["owner"] == [0] * 8
    # create then destroy returns exactly to the initial state
    s = dict(fam.successors(fam.initial()))["create_domd(b=4)"]
    assert dict(fam.successors(s))["destroy_domd"] == fam.initial()


def test_rejects_malformed_parameters() -> None:
    for bad in ((12, 1, 2, "fixed"), (8, 0, 2, "fixed"), (8, 1, 2, "lazy"), (4, 1, 1, "naive")):
        with pytest.raises(ValueError):
            Family(*bad)


def test_size_table_matches_the_definition() -> None:
    assert SIZES["tiny"] == (8, 1, 2)
    assert SIZES["small"] == (16, 2, 2)
    assert SIZES["huge"] == (64, 3, 4)


@slow
def test_small_fixed_count() -> None:
    res = explore(family("small", "fixed"), traces=False)
    assert res.states == 610_768  # the benchmark reference
    assert res.transitions == 9_236_200  # as counted by the explicit engine too
    assert res.verdict("ipa_eq_pa") == "holds"
    assert res.verdict("no_frame_shared") == "holds"
    assert res.shortest("domd_create_never_fails") == 3  # ceil(4/2) + 1


@very_slow
def test_wide_fixed_count() -> None:
    res = explore(family("wide", "fixed"), traces=False)
    assert res.states == 3_806_578  # "about 3.8 M states" in the definition
    # K*R = 3 < 4: the one ordinary domain cannot reach all four blocks
    assert [res.verdict(p) for p in PROPERTIES] == ["holds", "holds", "holds"]
