"""Shared fixtures: a small, valid model text and a helper that writes .m11 files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

BASE_MODEL = """\
platform board {
    page_size 4K
    ram dram at 0x8000_0000 size 2G
    mmio l4_per at 0x48000000 size 4M dma
    mmio uart at 0x4806A000 size 4K
    reserved cma at 0x9500_0000 size 8M
}

hypervisor xen {
    window gicd at 0x03001000 size 4K
    window gnttab at 0x38000000 size 16M
    guest_ram ram0 at 0x40000000 size 3G
    allocator buddy max_order 18 placement top-down
    balloon keep_owned
}

domain domd {
    memory 256M
    direct_map when id == 1
    rambase fixed 0xA0000000
    backend blk
    passthrough l4_per
}

domain domu {
    memory 128M
    frontend blk -> domd
}
"""


@pytest.fixture
def write_m11(tmp_path: Path) -> Callable[..., str]:
    """write_m11(text, name="model.m11") -> path of the written file (under tmp_path)."""

    def write(text: str, name: str = "model.m11") -> str:
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        return str(p)

    return write
