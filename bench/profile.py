"""Speed and memory of the explicit engine on the frag-balloon family.

Each case (size, mode, symmetry) runs in a fresh subprocess, so the peak resident set size
(`os.wait4`'s ru_maxrss) is that of one whole search, imports and model loading included:

    python bench/profile.py                         # every size, both modes, both symmetries
    python bench/profile.py --size small --mode fixed --limit 30
    python bench/profile.py --size tiny --profile   # cProfile top entries of each case
    python bench/profile.py --size tiny --cross-check

A line per case: states, transitions, seconds (of the search), states/s, peak RSS, bytes per
stored state, how the search stopped (`timeout` when it hit `--limit`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == ROOT / "bench":
    del sys.path[0]  # this file's name would shadow the standard `profile` module cProfile uses
SIZES = ["tiny", "small", "wide", "small-r3"]
MODES = ["fixed", "naive"]


def run_case(size: str, mode: str, symmetry: bool, limit: float, profile: bool,
             cross_check: bool) -> dict[str, object]:
    """The search of one case, in this process; what `main` prints."""
    sys.path.insert(0, str(ROOT))
    from bench.frag_balloon import SIZES as DIMS
    from bench.frag_balloon import generate
    from checker.explore import explore
    from checker.resolve import load_model
    from checker.semantics import Semantics

    F, K, R = DIMS[size]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"frag-balloon-{size}-{mode}.m11"
        path.write_text(generate(F, K, R, mode), encoding="utf-8")
        model = load_model(str(path))
    sem = Semantics(model, placement="exact", symmetry=symmetry)
    prof = None
    if profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t0 = time.perf_counter()
    exp = explore(sem, list(model.properties), symmetry=symmetry, timeout=limit,
                  cross_check=cross_check)
    wall = time.perf_counter() - t0
    if prof is not None:
        import pstats

        prof.disable()
        pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(12)
    return {
        "states": exp.states, "transitions": exp.transitions, "seconds": round(exp.seconds, 3),
        "wall": round(wall, 3), "stopped_by": exp.stopped_by or "exhausted", "store": exp.store,
        "verdicts": {r.property: (r.verdict.value, r.trace_length) for r in exp.results},
    }


def spawn(size: str, mode: str, symmetry: bool, args: argparse.Namespace) -> None:
    """Run one case in a fresh interpreter and print its line (and its profile, if asked)."""
    cmd = [sys.executable, __file__, "--case", size, mode, "sym" if symmetry else "nosym",
           "--limit", str(args.limit)]
    if args.profile:
        cmd.append("--profile")
    if args.cross_check:
        cmd.append("--cross-check")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    proc.stdout.close()
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    label = f"{size:9} {mode:5} {'sym' if symmetry else 'nosym':5}"
    if proc.returncode != 0:
        print(f"{label} failed (exit {proc.returncode})", flush=True)
        return
    r = json.loads(out)
    states = int(r["states"])
    seconds = float(r["seconds"])
    rate = states / seconds if seconds > 0 else 0.0
    print(f"{label} states {states:>10,} transitions {int(r['transitions']):>11,} "
          f"{seconds:7.2f} s {rate:>9,.0f} states/s  peak RSS {rss / 2**20:7.1f} MiB "
          f"{rss / max(states, 1):6.0f} B/state  {r['stopped_by']}", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", action="append", choices=SIZES, help="repeatable; default: all")
    ap.add_argument("--mode", action="append", choices=MODES, help="repeatable; default: both")
    ap.add_argument("--symmetry", choices=["both", "on", "off"], default="both")
    ap.add_argument("--limit", type=float, default=60.0, help="seconds per case")
    ap.add_argument("--profile", action="store_true", help="cProfile top entries per case")
    ap.add_argument("--cross-check", action="store_true",
                    help="compare every expanded state with the reference semantics")
    ap.add_argument("--case", nargs=3, metavar=("SIZE", "MODE", "SYM"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.case:
        size, mode, sym = args.case
        print(json.dumps(run_case(size, mode, sym == "sym", args.limit, args.profile,
                                  args.cross_check)))
        return 0
    syms = {"both": [True, False], "on": [True], "off": [False]}[args.symmetry]
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{os.cpu_count()} CPUs", flush=True)
    for size in args.size or SIZES:
        for mode in args.mode or MODES:
            for symmetry in syms:
                spawn(size, mode, symmetry, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
