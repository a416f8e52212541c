"""The language commands: `check`, `show` and `fmt`. Each returns an exit code."""

from __future__ import annotations

import os
import sys
import tempfile

import click

from checker import model as m
from checker.diagnostics import CheckerError, Diagnostic, Exit, render
from checker.resolve import Fragment, human, load_checked, load_model_with_warnings
from checker.tables import table


def _warn(diags: tuple[Diagnostic, ...]) -> None:
    for d in diags:
        click.echo(render(d), err=True)


def _platform(p: m.Platform) -> str:
    banks = sum(r.size for r in p.ram)
    return (f"platform {p.name} ({len(p.ram)} RAM bank{'s' if len(p.ram) != 1 else ''}, "
            f"{human(banks)}, page {human(p.page_size)})")


def _included(sources: tuple[str, ...]) -> str:
    return f", {len(sources) - 1} included" if len(sources) > 1 else ""


def fragment_summary(frag: Fragment) -> str:
    """One line: what an include-only file declares."""
    parts = [_platform(frag.platform)] if frag.platform is not None else []
    if frag.hypervisor is not None:
        parts.append(f"hypervisor {frag.hypervisor.name}")
    return f"{frag.path}: ok (fragment): " + ", ".join(parts) + _included(frag.sources)


def summary(model: m.Model) -> str:
    """One line: what the model holds."""
    steps = len(model.scenario.statements)
    return (
        f"{model.path}: ok: {_platform(model.platform)}, hypervisor {model.hypervisor.name}, "
        f"{len(model.domains)} domain{'s' if len(model.domains) != 1 else ''}, "
        f"{steps} scenario statement{'s' if steps != 1 else ''}, "
        f"{len(model.properties)} propert{'ies' if len(model.properties) != 1 else 'y'}"
        + _included(model.sources)
    )


def check(files: list[str]) -> int:
    """Load every file; print one summary line per good file and every error of the bad ones.

    A file that declares only a platform and/or a hypervisor is checked as an include fragment.
    """
    errors: list[CheckerError] = []
    for path in files:
        try:
            loaded, warnings = load_checked(path)
        except CheckerError as exc:
            errors.append(exc)
            continue
        _warn(warnings)
        if isinstance(loaded, Fragment):
            click.echo(fragment_summary(loaded))
        else:
            click.echo(summary(loaded))
    if not errors:
        return int(Exit.OK)
    for earlier in errors[:-1]:
        click.echo(earlier.render(), err=True)
    raise errors[-1]


# ---- show --------------------------------------------------------------------------------------


def _hex(n: int) -> str:
    return f"0x{n:08x}"


def _size(n: int) -> str:
    return f"{human(n)} ({n:#x})"


def host_rows(model: m.Model) -> list[list[str]]:
    owners: dict[str, list[str]] = {}
    for d in model.domains:
        for r in d.passthrough:
            owners.setdefault(r.name, []).append(d.name)
    rows: list[tuple[int, list[str]]] = []
    p = model.platform
    for r in p.ram:
        rows.append((r.base, ["ram", r.name, _hex(r.base), _hex(r.end), _size(r.size), "", ""]))
    for r in p.mmio:
        rows.append((r.base, ["mmio", r.name, _hex(r.base), _hex(r.end), _size(r.size),
                              "dma" if r.dma else "", ", ".join(owners.get(r.name, []))]))
    for r in p.reserved:
        rows.append((r.base, ["reserved", r.name, _hex(r.base), _hex(r.end), _size(r.size), "",
                              ""]))
    for d in model.domains:
        for r in d.static_mem:
            rows.append((r.base, ["static_mem", r.name, _hex(r.base), _hex(r.end), _size(r.size),
                                  "", d.name]))
    rows.sort(key=lambda x: (x[0], x[1][0]))
    return [r for _, r in rows]


def domain_rows(model: m.Model, d: m.Domain) -> list[list[str]]:
    """The IPA map of `d`: RAM, passthrough MMIO, hypervisor windows; overlaps are noted."""
    entries: list[tuple[int, int, list[str]]] = []  # (base, end, row)
    ram_at = {
        m.RambaseMode.ALLOCATED: "allocated at create",
        m.RambaseMode.STATIC: "static",
    }.get(d.rambase_mode)
    if d.rambase is not None:
        base = d.rambase
        entries.append((base, base + d.memory, ["ram", "ram", _hex(base), _hex(base + d.memory),
                                                 _size(d.memory), d.rambase_mode.value]))
    elif d.rambase_mode is m.RambaseMode.STATIC and d.static_mem:
        for r in d.static_mem:  # static memory is mapped where it lies (IPA == PA)
            entries.append((r.base, r.end, ["ram", r.name, _hex(r.base), _hex(r.end),
                                            _size(r.size), "static"]))
    else:
        entries.append((-1, -1, ["ram", "ram", ram_at or "?", "", _size(d.memory),
                                 d.rambase_mode.value]))
    for r in d.passthrough:
        entries.append((r.base, r.end, ["mmio", r.name, _hex(r.base), _hex(r.end), _size(r.size),
                                        "passthrough, 1:1" + (", dma" if r.dma else "")]))
    for r in model.hypervisor.windows:
        entries.append((r.base, r.end, ["window", r.name, _hex(r.base), _hex(r.end),
                                        _size(r.size), "hypervisor"]))
    for name in model.hypervisor.host_windows if d.wants_direct_map else ():
        hr = model.platform.region(name)
        if hr is not None:
            entries.append((hr.base, hr.end, ["host_window", hr.name, _hex(hr.base),
                                              _hex(hr.end), _size(hr.size),
                                              "hypervisor, at the host address"]))
    for i, (lo, hi, row) in enumerate(entries):
        if row[0] == "window" or lo < 0:
            continue
        hits = [o[2][1] for j, o in enumerate(entries)
                if j != i and o[0] >= 0 and lo < o[1] and o[0] < hi
                and {row[0], o[2][0]} != {"window"}]
        if hits:
            row[5] += ", overlaps " + ", ".join(hits)
    entries.sort(key=lambda x: (x[0], x[2][1]))
    return [row for _, _, row in entries]


def _direct(d: m.Domain) -> str:
    if d.direct_map is m.DirectMap.HOOK:
        return f"1:1 when id == {d.hook_id}"
    return {m.DirectMap.NONE: "not 1:1", m.DirectMap.ALWAYS: "1:1",
            m.DirectMap.STATIC: "1:1 from static memory"}[d.direct_map]


def show_text(model: m.Model) -> str:
    p, h = model.platform, model.hypervisor
    out = [f"host physical map of {p.name} (page size {human(p.page_size)})", ""]
    out += table(["kind", "name", "base", "end", "size", "flags", "owner"], host_rows(model))
    out += ["", (f"hypervisor {h.name}: buddy allocator, max_order {h.max_order}, placement "
            f"{h.placement.value}, balloon {h.balloon.value}")]
    for d in model.domains:
        extras = [_direct(d), f"swiotlb {'on' if d.swiotlb else 'off'}"]
        if d.backends:
            extras.append("backend " + ", ".join(d.backends))
        if d.frontends:
            extras.append("frontend " + ", ".join(f"{f.kind} -> {f.backend}" for f in d.frontends))
        out += ["", f"domain {d.name}: {human(d.memory)} ({d.pages} pages), "
                + ", ".join(extras), ""]
        out += table(["kind", "name", "base", "end", "size", "notes"], domain_rows(model, d))
    return "\n".join(out)


def show(path: str) -> int:
    model, warnings = load_model_with_warnings(path)
    _warn(warnings)
    click.echo(show_text(model))
    return int(Exit.OK)


# ---- fmt ---------------------------------------------------------------------------------------


def write_atomic(path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory and os.replace."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fmt-", suffix=".m11", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def fmt(files: list[str], check_only: bool) -> int:
    from checker.fmt import format_text
    from checker.source import STDIN, decode, read

    changed: list[str] = []
    errors: list[CheckerError] = []
    for path in files:
        try:
            if path == "-":
                src = decode(STDIN, sys.stdin.buffer.read())
                try:
                    out = format_text(STDIN, src.text)
                except CheckerError as exc:
                    click.echo(exc.render({STDIN: src.text}), err=True)
                    return int(Exit.BAD_INPUT)
                if check_only:
                    if out != src.text:
                        click.echo(STDIN)
                        changed.append(path)
                else:
                    click.echo(out, nl=False)
                continue
            src = read(path)
            out = format_text(path, src.text)
        except CheckerError as exc:
            errors.append(exc)
            continue
        if out != src.text:
            changed.append(path)
            if check_only:
                click.echo(path)
            else:
                write_atomic(path, out)
                click.echo(f"formatted {path}", err=True)
    if errors:
        for earlier in errors[:-1]:
            click.echo(earlier.render(), err=True)
        raise errors[-1]
    return int(Exit.VIOLATED) if check_only and changed else int(Exit.OK)
