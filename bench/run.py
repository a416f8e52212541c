"""The benchmark harness: frag-balloon at every size and the shipped models, one fresh process a case.

    python -m bench.run                       # every size, both modes, every property, explicit + auto
    python -m bench.run --sizes tiny,small --engines explicit,smt,auto --limit 120
    python -m bench.run --models-only         # only the shipped models under models/

Each case runs `python -m checker verify MODEL --property P --engine E --format json` in a new
process; wall time and peak resident memory are that process's own (os.wait4 rusage), so the
figures include interpreter start-up and model loading, as a user would see them (after
`warm_up`: the checker byte-compiled and the parser cached, as after an installation and a
first run). A case that exceeds --limit seconds is killed and reported as `killed`. Results: a
table on stdout, JSON in bench/results/latest.json and a markdown table in
bench/results/RESULTS.md (machine, command, date). These are measurements, not tests: nothing
here fails on speed.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
FRAG_PROPERTIES = ("ipa_eq_pa", "domd_create_never_fails", "no_frame_shared")


@dataclass
class Case:
    family: str  # "frag-balloon" or "models"
    name: str  # e.g. "small/fixed" or "models/domd.m11"
    model: str
    prop: str
    engine: str
    verdict: str = "?"
    engine_used: str = ""
    method: str = ""
    states: int | None = None
    transitions: int | None = None
    trace_length: int | None = None
    wall_s: float = 0.0
    engine_s: float | None = None
    states_per_s: float | None = None
    peak_rss_mb: float = 0.0
    bytes_per_state: float | None = None
    exit_code: int | None = None
    note: str = ""
    stats: dict[str, Any] = field(default_factory=dict)


def warm_up() -> None:
    """What a user's installation already has before the first timed run: the checker's
    modules byte-compiled (`pip install` does it; with an editable install Python does it on
    first import, unless PYTHONDONTWRITEBYTECODE is set, when every run would compile ~60
    modules again, ~0.15 s) and the parser tables in the per-user cache (NOTE(parser-cache) in
    checker/parse.py). Stale bytecode is harmless: Python checks each file's source."""
    import compileall

    compileall.compile_dir(str(ROOT / "checker"), quiet=1)
    subprocess.run([sys.executable, "-m", "checker", "check", str(ROOT / "models" / "domd.m11")],
                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def _run_with_rusage(case: Case, limit: float, extra: list[str], outdir: str) -> Case:
    """Run a case and read the child's own peak RSS with os.wait4."""
    cmd = [sys.executable, "-m", "checker", "verify", case.model, "--property", case.prop,
           "--engine", case.engine, "--format", "json", "--quiet", "--out", outdir, *extra]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=err, start_new_session=True)
        deadline = start + limit
        killed = False
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                pid, status, usage = os.wait4(proc.pid, 0)
                killed = True
                break
            time.sleep(0.01)
        proc.returncode = os.waitstatus_to_exitcode(status)
        case.wall_s = time.perf_counter() - start
        case.peak_rss_mb = usage.ru_maxrss / 1024.0  # Linux: KiB
        case.exit_code = proc.returncode
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if killed:
        case.verdict = "killed"
        case.note = f"no verdict within {limit:g} s"
        return case
    try:
        res = json.loads(stdout.decode())["results"][0]
    except (ValueError, KeyError, IndexError):
        lines = stderr.decode(errors="replace").strip().splitlines()
        case.verdict = "error"
        case.note = lines[-1] if lines else f"exit {proc.returncode}"
        return case
    case.verdict = res["verdict"]
    case.engine_used = res.get("engine", "")
    case.method = res.get("method", "")
    case.states = res.get("states")
    case.transitions = res.get("transitions")
    case.trace_length = res.get("trace_length")
    case.engine_s = res.get("seconds")
    case.stats = res.get("stats", {})
    if case.states and case.engine_s:
        case.states_per_s = round(case.states / case.engine_s) if case.engine_s > 0 else None
    if case.states and case.engine_used == "explicit":
        case.bytes_per_state = round(case.peak_rss_mb * 1024 * 1024 / case.states, 1)
    if case.verdict == "undecided":
        case.note = "; ".join(res.get("warnings", [])[:1])
    return case


def _frag_cases(sizes: list[str], modes: list[str], engines: list[str], tmp: Path) -> list[Case]:
    from bench.frag_balloon import SIZES, generate

    cases = []
    for size in sizes:
        f, k, r = SIZES[size]
        for mode in modes:
            path = tmp / f"frag-balloon-{size}-{mode}.m11"
            path.write_text(generate(f, k, r, mode), encoding="utf-8")
            for prop in FRAG_PROPERTIES:
                for engine in engines:
                    cases.append(Case("frag-balloon", f"{size}/{mode}", str(path), prop, engine))
    return cases


def _model_cases(engines: list[str]) -> list[Case]:
    sys.path.insert(0, str(ROOT))
    from checker.diagnostics import CheckerError
    from checker.resolve import load_model

    cases = []
    for path in sorted((ROOT / "models").rglob("*.m11")):
        rel = path.relative_to(ROOT)
        if rel.parts[1] in ("platforms", "xen"):
            continue
        try:
            model = load_model(str(rel))
        except CheckerError as exc:  # an include-only fragment or a broken model: not a case
            print(f"skipped {rel}: {exc}", file=sys.stderr)
            continue
        for prop in model.properties:
            for engine in engines:
                cases.append(Case("models", str(rel), str(rel), prop.name, engine))
    return cases


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.2f}" if v < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


COLUMNS = [("case", "name"), ("property", "prop"), ("engine", "engine"), ("used", "engine_used"),
           ("method", "method"), ("verdict", "verdict"), ("states", "states"),
           ("transitions", "transitions"), ("trace", "trace_length"), ("wall s", "wall_s"),
           ("engine s", "engine_s"), ("states/s", "states_per_s"), ("peak MB", "peak_rss_mb"),
           ("B/state", "bytes_per_state"), ("note", "note")]


def table(cases: list[Case]) -> str:
    head = "| " + " | ".join(c for c, _ in COLUMNS) + " |"
    sep = "| " + " | ".join("---" for _ in COLUMNS) + " |"
    rows = ["| " + " | ".join(_fmt(getattr(x, a)) for _, a in COLUMNS) + " |" for x in cases]
    return "\n".join([head, sep, *rows])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, Python {platform.python_version()}"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="tiny,small,wide,small-r3,medium,large,huge")
    ap.add_argument("--modes", default="naive,fixed")
    ap.add_argument("--engines", default="explicit,smt,auto")
    ap.add_argument("--limit", type=float, default=60.0, help="wall seconds per case")
    ap.add_argument("--max-states", type=int, default=None, help="passed to the explicit engine")
    ap.add_argument("--models-only", action="store_true")
    ap.add_argument("--no-models", action="store_true")
    ap.add_argument("--sweep", type=int, default=0, help="engine-agreement sweep: N random models")
    ap.add_argument("--extent-sweep", type=int, default=0,
                    help="the extent-level encoding against the explicit engine: N random models")
    ap.add_argument("--output", default=str(RESULTS / "latest.json"))
    args = ap.parse_args(argv)

    engines = args.engines.split(",")
    extra = ["--max-states", str(args.max_states)] if args.max_states else []
    started = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    warm_up()
    with tempfile.TemporaryDirectory(prefix="m11-bench-") as tmpdir:
        tmp = Path(tmpdir)
        cases: list[Case] = []
        if not args.models_only:
            cases += _frag_cases(args.sizes.split(","), args.modes.split(","), engines, tmp)
        if not args.no_models:
            cases += _model_cases(engines)
        done: list[Case] = []
        for case in cases:
            x = _run_with_rusage(case, args.limit, extra, str(tmp / "cex"))
            done.append(x)
            print(f"{x.name:24} {x.prop:28} {x.engine:8} {x.verdict:10} "
                  f"{_fmt(x.states):>12} states {x.wall_s:8.2f} s {x.peak_rss_mb:8.1f} MB "
                  f"{x.engine_used} {x.method}", flush=True)
    sweep: dict[str, Any] | None = None
    if args.sweep:
        sys.path.insert(0, str(ROOT / "tests"))
        from test_engines_agree import sweep as run_sweep  # type: ignore[import-not-found]

        t0 = time.perf_counter()
        sweep = {"models": args.sweep, "result": run_sweep(args.sweep, 0),
                 "seconds": round(time.perf_counter() - t0, 2)}
    extent_sweep: dict[str, Any] | None = None
    if args.extent_sweep:
        sys.path.insert(0, str(ROOT / "tests"))
        from test_encode_extent_grants import sweep_extent  # type: ignore[import-not-found]

        t0 = time.perf_counter()
        extent_sweep = {"models": args.extent_sweep,
                        "result": sweep_extent(args.extent_sweep, 0),
                        "seconds": round(time.perf_counter() - t0, 2)}
    command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    doc = {"machine": machine(), "date": started, "command": command.strip(),
           "cases": [asdict(c) for c in done], "sweep": sweep, "extent_sweep": extent_sweep}
    _write_atomic(Path(args.output), json.dumps(doc, indent=2) + "\n")
    md = (f"# Benchmark results\n\n- machine: {machine()}\n- date: {started}\n"
          f"- command: `{command.strip()}`\n- wall s and peak MB are the whole `checker verify` "
          f"process (start-up included); engine s is the engine's own time.\n\n{table(done)}\n")
    if sweep:
        md += f"\nEngine agreement sweep: {json.dumps(sweep)}\n"
    if extent_sweep:
        md += f"\nExtent-level agreement sweep: {json.dumps(extent_sweep)}\n"
    _write_atomic(Path(args.output).with_name("RESULTS.md"), md)
    print()
    print(table(done))
    return 0


if __name__ == "__main__":
    sys.exit(main())
