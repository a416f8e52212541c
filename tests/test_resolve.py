"""Resolve: includes, names, units, defaults and the validation rules (all errors at once)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from checker import model as m
from checker.diagnostics import CheckerError, Diagnostic
from checker.resolve import Fragment, load_checked, load_model, load_model_with_warnings
from tests.conftest import BASE_MODEL

Write = Callable[..., str]


def errors_of(path: str) -> list[Diagnostic]:
    with pytest.raises(CheckerError) as exc:
        load_model(path)
    assert exc.value.exit_code == 2
    return exc.value.diagnostics


def messages(path: str) -> list[str]:
    return [d.message for d in errors_of(path)]


def test_base_model_resolves_units_and_defaults(write_m11: Write) -> None:
    model = load_model(write_m11(BASE_MODEL))
    assert model.page_size == 4096
    assert model.platform.ram[0] == m.Region("dram", m.RegionKind.RAM, 0x8000_0000, 2 << 30)
    assert model.platform.mmio[0].dma and not model.platform.mmio[1].dma
    assert model.hypervisor.max_order == 18
    assert model.hypervisor.placement is m.Placement.TOP_DOWN
    assert model.hypervisor.balloon is m.BalloonMode.KEEP_OWNED
    domd, domu = model.domains
    assert (domd.index, domd.memory, domd.pages) == (0, 256 << 20, 65536)
    assert domd.direct_map is m.DirectMap.HOOK and domd.hook_id == 1
    assert domd.rambase_mode is m.RambaseMode.FIXED and domd.rambase == 0xA000_0000
    assert domd.passthrough[0].name == "l4_per" and domd.dma_capable
    assert domu.rambase_mode is m.RambaseMode.LAYOUT and domu.rambase == 0x4000_0000
    assert domu.frontends == (m.Frontend("blk", "domd"),)
    assert domu.symmetry_group is None and not domu.swiotlb


def test_defaults_every_property_and_a_meaningful_loop(write_m11: Write) -> None:
    model = load_model(write_m11(BASE_MODEL))
    assert [p.kind for p in model.properties] == [
        k for k in m.PropertyKind if k is not m.PropertyKind.INVARIANT
    ]
    assert all(p.domains == () for p in model.properties)
    (loop,) = model.scenario.statements
    assert isinstance(loop, m.Loop)
    ops = {(o.kind, o.domain, o.peer, o.buffer) for o in loop.alternatives}
    K = m.OpKind
    assert (K.GRANT, 1, 0, None) in ops
    assert (K.UNMAP, 0, None, None) in ops
    assert (K.DMA, 0, None, "ram") in ops and (K.DMA, 0, None, "grant") in ops
    assert not any(k is K.DMA and d == 1 for k, d, _, _ in ops)
    assert not any(k is K.UNMAP and d == 1 for k, d, _, _ in ops)
    for d in (0, 1):
        for k in (K.CREATE, K.DESTROY, K.BALLOON_OUT, K.BALLOON_IN):
            assert (k, d, None, None) in ops


def test_scenario_and_properties_resolve(write_m11: Write) -> None:
    text = BASE_MODEL + """
scenario {
    create domd
    choose up to 3 { balloon_out domd 16 | grant domu -> domd | dma domd grant }
    loop { unmap domd }
}
property ipa_eq_pa
property boots: create_succeeds(domd, domu)
invariant high: forall d in domains: d.alive and d.direct implies d.ram within region(dram)
"""
    model = load_model(write_m11(text))
    step, choose, loop = model.scenario.statements
    assert isinstance(step, m.Step) and step.op.kind is m.OpKind.CREATE
    assert isinstance(choose, m.Choose) and choose.max_times == 3
    assert choose.alternatives[0].pages == 16
    assert choose.alternatives[1].peer == 0 and choose.alternatives[1].domain == 1
    assert isinstance(loop, m.Loop)
    names = [p.name for p in model.properties]
    assert names == ["ipa_eq_pa", "boots", "high"]
    assert model.property("boots").domains == (0, 1)
    expr = model.property("high").expr
    assert isinstance(expr, m.Quant)
    body = expr.body
    assert isinstance(body, m.BinOp) and body.op == "implies"
    within = body.right
    assert isinstance(within, m.BinOp) and isinstance(within.right, m.RegionRef)
    assert within.right.region.name == "dram"


def test_symmetry_groups(write_m11: Write) -> None:
    text = BASE_MODEL + "domain u1, u2 { memory 64M }\ndomain v1, v2, v3 { memory 64M }\n"
    model = load_model(write_m11(text))
    groups = [d.symmetry_group for d in model.domains]
    assert groups == [None, None, 0, 0, 1, 1, 1]
    assert [d.index for d in model.domains] == list(range(7))


def test_static_memory(write_m11: Write) -> None:
    text = BASE_MODEL + """
domain st {
    direct_map static
    static_mem at 0xC000_0000 size 64M
    static_mem at 0xD000_0000 size 64M
}
"""
    model = load_model(write_m11(text))
    st = model.domain("st")
    assert st.memory == 128 << 20 and st.pages == 32768
    assert st.rambase_mode is m.RambaseMode.STATIC and st.rambase is None
    assert [r.base for r in st.static_mem] == [0xC000_0000, 0xD000_0000]


def test_includes_relative_to_the_including_file(write_m11: Write, tmp_path: Path) -> None:
    plat, rest = BASE_MODEL.split("hypervisor xen", 1)
    write_m11(plat, "platforms/board.m11")
    write_m11('include "../platforms/board.m11"\nhypervisor xen' + rest.split("domain domd")[0],
              "xen/xen.m11")
    top = write_m11('include "xen/xen.m11"\ninclude "platforms/board.m11"\n'
                    "domain domd" + rest.split("domain domd")[1])
    model = load_model(top)
    assert model.path == top
    assert model.sources == (
        top,
        os.path.normpath(str(tmp_path / "xen" / "xen.m11")),
        os.path.normpath(str(tmp_path / "platforms" / "board.m11")),
    )
    assert model.platform.name == "board" and len(model.domains) == 2
    assert model.platform.ram[0].span.file.endswith("board.m11")


def test_load_is_fast(write_m11: Write) -> None:
    """A few ms of CPU a load; an unchanged include closure is not parsed again."""
    path = write_m11(BASE_MODEL)
    load_model(path)
    start = time.process_time()
    for i in range(10):
        load_model(write_m11(BASE_MODEL + f"# variant {i}\n", f"v{i}.m11"))
    cold = (time.process_time() - start) / 10
    start = time.process_time()
    for _ in range(20):
        load_model(path)
    warm = (time.process_time() - start) / 20
    assert cold < 0.05 and warm < 0.01, (cold, warm)


def test_real_sizes(write_m11: Write) -> None:
    text = BASE_MODEL.replace("size 2G", "size 0x7F_8000_0000").replace(
        "ram dram at 0x8000_0000", "ram dram at 0x80_0000_0000"
    ).replace("reserved cma at 0x9500_0000", "reserved cma at 0x80_9500_0000").replace(
        "rambase fixed 0xA0000000", "rambase fixed 0x80_A000_0000"
    )
    text += "domain big { memory 0x7F_0000_0000 }\n"
    model = load_model(write_m11(text))
    assert model.platform.ram[0].end == 0xFF_8000_0000
    assert model.domain("big").pages == 0x7F_0000_0000 // 4096
    top = BASE_MODEL.replace("ram dram at 0x8000_0000 size 2G",
                             "ram dram at 0x8000_0000 size 2G\n    ram top at 0xFFFF_FFFF_FFFF_0000"
                             " size 64K")
    model = load_model(write_m11(top, "top.m11"))
    assert model.platform.ram[1].end == 1 << 64


def test_warnings_are_separate(write_m11: Write) -> None:
    text = BASE_MODEL.replace("window gicd at 0x03001000 size 4K",
                              "window gicd at 0x48000000 size 4K")
    text += "domain other { memory 64M\n passthrough l4_per }\n"
    model, warnings = load_model_with_warnings(write_m11(text))
    assert len(model.domains) == 3
    msgs = [w.message for w in warnings]
    assert all(w.severity == "warning" for w in warnings)
    assert any("overlaps hypervisor window `gicd`" in s for s in msgs)
    assert any("passed through to both `domd` and `other`" in s for s in msgs)


def test_all_errors_are_reported_together(write_m11: Write) -> None:
    text = BASE_MODEL.replace("size 16M", "size 0").replace("memory 128M", "memory 1000")
    text = text.replace("passthrough l4_per", "passthrough l4_pre")
    msgs = messages(write_m11(text))
    assert len(msgs) == 3
    assert "window `gnttab` has size zero" in msgs[0]
    assert "unknown platform region `l4_pre`" in msgs[1]
    assert "not a multiple of the page size" in msgs[2]


PLATFORM = """platform board {
    ram dram at 0x8000_0000 size 1G
    mmio gicd at 0x4821_1000 size 4K
}
"""
HYPERVISOR = """include "board.m11"

hypervisor xen {
    window guest_gicd at 0x0300_1000 size 4K
    host_window gicd
    guest_ram ram0 at 0x4000_0000 size 1G
}
"""


def test_a_file_without_domains_is_a_fragment(write_m11: Write) -> None:
    board = write_m11(PLATFORM, "board.m11")
    frag, warnings = load_checked(board)
    assert isinstance(frag, Fragment) and warnings == ()
    assert frag.platform is not None and frag.platform.name == "board"
    assert frag.hypervisor is None
    xen = write_m11(HYPERVISOR, "xen.m11")
    frag, _ = load_checked(xen)
    assert isinstance(frag, Fragment) and len(frag.sources) == 2
    assert frag.hypervisor is not None and frag.hypervisor.host_windows == ("gicd",)


def test_a_hypervisor_fragment_alone_does_not_look_up_host_windows(write_m11: Write) -> None:
    frag, _ = load_checked(write_m11(HYPERVISOR.replace('include "board.m11"', "")))
    assert isinstance(frag, Fragment) and frag.platform is None
    assert frag.hypervisor is not None and frag.hypervisor.host_windows == ("gicd",)


def test_a_fragment_is_validated(write_m11: Write) -> None:
    path = write_m11(PLATFORM.replace("size 4K", "size 6K"), "board.m11")
    with pytest.raises(CheckerError) as exc:
        load_checked(path)
    assert [d.message for d in exc.value.diagnostics] == [
        "the size of MMIO region `gicd` (6K) is not a multiple of the page size"]


def test_load_model_rejects_a_fragment(write_m11: Write) -> None:
    path = write_m11(PLATFORM, "board.m11")
    assert messages(path) == [f"{path} is a fragment (no domain); verify a model that includes it"]
    bad = write_m11(PLATFORM.replace("size 4K", "size 0"), "bad.m11")
    assert messages(bad)[1:] == ["MMIO region `gicd` has size zero"]


def test_a_complete_model_loads_the_same_through_load_checked(write_m11: Write) -> None:
    path = write_m11(BASE_MODEL)
    assert load_checked(path)[0] == load_model(path)


def test_a_model_without_domain_but_with_properties_is_not_a_fragment(write_m11: Write) -> None:
    path = write_m11(PLATFORM + HYPERVISOR.replace('include "board.m11"', "")
                     + "property ipa_eq_pa\n")
    with pytest.raises(CheckerError) as exc:
        load_checked(path)
    assert [d.message for d in exc.value.diagnostics] == ["the model declares no domain"]


# ---- hypervisor extends ------------------------------------------------------------------------

BASE_XEN = """hypervisor xen {
    window gicd at 0x0300_1000 size 4K
    window gnttab at 0x3800_0000 size 16M
    guest_ram ram0 at 0x4000_0000 size 1G
    guest_ram ram1 at 0x2_0000_0000 size 4G
    allocator buddy max_order 20 placement top-down
    balloon release_any
}
"""
MODEL_REST = """platform board {
    ram dram at 0x8000_0000 size 1G
}

domain d {
    memory 16M
}
"""


def _hyp(write_m11: Write, derived: str, base: str = BASE_XEN) -> m.Hypervisor:
    write_m11(base, "xen.m11")
    return load_model(write_m11('include "xen.m11"\n' + MODEL_REST + derived)).hypervisor


def test_a_derived_hypervisor_replaces_statements_of_the_same_kind(write_m11: Write) -> None:
    hyp = _hyp(write_m11, """hypervisor xen-any extends xen {
    guest_ram ram0 at 0x6000_0000 size 512M
    window magic at 0x3900_0000 size 16M
    allocator buddy placement any
}
""")
    assert hyp.name == "xen-any"
    assert [w.name for w in hyp.windows] == ["gicd", "gnttab", "magic"]
    # replaced where it stood: ram0 is still the first guest RAM window (the default rambase)
    assert [(g.name, g.base) for g in hyp.guest_ram] == [("ram0", 0x6000_0000),
                                                          ("ram1", 0x2_0000_0000)]
    # the whole statement is replaced: an omitted max_order is the default, not the base's
    assert (hyp.max_order, hyp.placement) == (18, m.Placement.ANY)
    assert hyp.balloon is m.BalloonMode.RELEASE_ANY  # inherited
    assert hyp.windows[0].span.file.endswith("xen.m11")
    assert hyp.windows[2].span.file.endswith("model.m11")


def test_extends_chains_in_any_order_and_only_the_last_counts(write_m11: Write) -> None:
    hyp = _hyp(write_m11, """hypervisor c extends b {
    balloon keep_owned
}

hypervisor b extends xen {
    allocator buddy max_order 20 placement bottom-up
}
""")
    assert (hyp.name, hyp.max_order, hyp.placement, hyp.balloon) == (
        "c", 20, m.Placement.BOTTOM_UP, m.BalloonMode.KEEP_OWNED)


def test_a_derived_hypervisor_fragment(write_m11: Write) -> None:
    path = write_m11(BASE_XEN + "hypervisor xen-any extends xen {\n"
                     "    allocator buddy max_order 20 placement any\n}\n")
    frag, _ = load_checked(path)
    assert isinstance(frag, Fragment) and frag.hypervisor is not None
    assert (frag.hypervisor.name, frag.hypervisor.placement) == ("xen-any", m.Placement.ANY)
    assert [g.name for g in frag.hypervisor.guest_ram] == ["ram0", "ram1"]


def test_statements_given_twice_in_the_derived_hypervisor_are_errors(write_m11: Write) -> None:
    write_m11(BASE_XEN, "xen.m11")
    path = write_m11('include "xen.m11"\n' + MODEL_REST + """hypervisor x extends xen {
    balloon keep_owned
    balloon release_same
    window magic at 0x3900_0000 size 16M
    guest_ram magic at 0x3900_0000 size 16M
}
""")
    assert messages(path) == ["duplicate region name `magic`", "balloon is given twice"]


@pytest.mark.parametrize("hyps,expected", [
    ("hypervisor x extends xne { }",
     ["unknown hypervisor `xne` to extend"]),
    ("hypervisor x extends x { }",
     ["hypervisor extends cycle: x -> x"]),
    ("hypervisor x extends y { }\nhypervisor y extends x { }\nhypervisor z extends y { }",
     ["hypervisor extends cycle: x -> y -> x", "a second hypervisor is declared"]),
    ("hypervisor x extends xen { }\nhypervisor y extends xen { }",
     ["a second hypervisor is declared"]),
    ("hypervisor x { }",
     ["a second hypervisor is declared"]),
    ("hypervisor xen extends xen { }",
     ["hypervisor `xen` is declared twice"]),
])
def test_extends_errors(write_m11: Write, hyps: str, expected: list[str]) -> None:
    write_m11(BASE_XEN, "xen.m11")
    assert messages(write_m11('include "xen.m11"\n' + MODEL_REST + hyps)) == expected


def test_a_second_hypervisor_from_the_same_base_says_so(write_m11: Write) -> None:
    write_m11(BASE_XEN, "xen.m11")
    diags = errors_of(write_m11('include "xen.m11"\n' + MODEL_REST
                                + "hypervisor x extends xen { }\nhypervisor y extends xen { }"))
    assert [n.message for n in diags[0].notes][1:] == [
        "a model has exactly one hypervisor; one that another extends is not counted",
        "both extend `xen`: derive one from the other, or keep one of them"]
