"""The verdict cache: verification results on disk, keyed by what determines them.

A key is the sha256 of the model file and every file it includes (their contents and their
paths relative to the model's directory, in load order), the verify options and the checker
version. An entry is never trusted across checker versions: the version is part of the key and
is checked again when an entry is read. Entries live under `.memory11-cache/` in the repository
root, or under `$MEMORY11_CACHE`.

NOTE(cache-concurrency): several runs may share one cache. Every entry is written to a
temporary file in the same directory and moved into place with `os.replace`, so a reader sees
either no entry or a whole one. An entry that cannot be read or parsed is ignored (and
rewritten by the next run that verifies the model).

Only results are stored, never the `Model`: a hit reloads the model with the front end (cheap)
so that every span points at the files as they are now.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checker import __version__
from checker.model import Model
from checker.results import PropertyResult, Scope, Trace, TraceStep, Verdict, VerifyReport

CACHE_DIR_NAME = ".memory11-cache"
CACHE_ENV = "MEMORY11_CACHE"
ENTRY_FORMAT = 1

VerifyFn = Callable[[str], tuple[VerifyReport, Model]]
LoadFn = Callable[[str], Model]


# ---- results as JSON (a lossless round trip) --------------------------------------------------


def trace_to_json(trace: Trace) -> dict[str, Any]:
    return {
        "property": trace.property,
        "initial": trace.initial,
        "witness": trace.witness,
        "steps": [
            {"op": s.op, "choices": s.choices, "state": s.state, "changes": list(s.changes)}
            for s in trace.steps
        ],
    }


def trace_from_json(data: Mapping[str, Any]) -> Trace:
    steps = tuple(
        TraceStep(
            op=str(s["op"]),
            choices=dict(s["choices"]),
            state=dict(s["state"]),
            changes=tuple(str(c) for c in s["changes"]),
        )
        for s in data["steps"]
    )
    return Trace(str(data["property"]), dict(data["initial"]), steps, str(data["witness"]))


def result_to_json(r: PropertyResult) -> dict[str, Any]:
    return {
        "property": r.property,
        "verdict": r.verdict.value,
        "engine": r.engine,
        "method": r.method,
        "scope": r.scope.to_json(),
        "trace": trace_to_json(r.trace) if r.trace is not None else None,
        "counterexample": r.counterexample,
        "states": r.states,
        "transitions": r.transitions,
        "seconds": r.seconds,
        "warnings": list(r.warnings),
        "stats": r.stats,
    }


def result_from_json(data: Mapping[str, Any]) -> PropertyResult:
    scope = data["scope"]
    trace = data["trace"]
    return PropertyResult(
        property=str(data["property"]),
        verdict=Verdict(data["verdict"]),
        engine=str(data["engine"]),
        method=str(data["method"]),
        scope=Scope(scope["depth"], bool(scope["exhaustive"]), str(scope["placement"])),
        trace=trace_from_json(trace) if trace is not None else None,
        counterexample=data["counterexample"],
        states=int(data["states"]),
        transitions=int(data["transitions"]),
        seconds=float(data["seconds"]),
        warnings=[str(w) for w in data["warnings"]],
        stats=dict(data["stats"]),
    )


# ---- keys --------------------------------------------------------------------------------------


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def closure_digest(sources: Sequence[str]) -> list[tuple[str, str]]:
    """(path relative to the model's directory, sha256 of the contents) for each source.

    The first source is the model itself. Relative paths make the digest independent of where
    the tree is checked out, so the base and head of an unchanged model share an entry.
    """
    if not sources:
        raise ValueError("a model has at least one source file")
    top = os.path.dirname(os.path.abspath(sources[0]))
    out: list[tuple[str, str]] = []
    for src in sources:
        rel = os.path.relpath(os.path.abspath(src), top).replace(os.sep, "/")
        out.append((rel, file_sha256(src)))
    return out


def cache_key(sources: Sequence[str], options: Mapping[str, Any], version: str) -> str:
    payload = {
        "format": ENTRY_FORMAT,
        "checker": version,
        "options": {k: options[k] for k in sorted(options)},
        "files": closure_digest(sources),
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ---- the cache ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedReport:
    model_sha256: str
    results: list[PropertyResult]


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` via a temporary file in the same directory and `os.replace`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


class VerdictCache:
    """Verification results on disk. `get` never raises for a bad entry; it returns None."""

    def __init__(self, directory: Path, version: str = __version__) -> None:
        self.directory = directory
        self.version = version

    @classmethod
    def default(cls, repo_root: Path | None) -> VerdictCache:
        """`$MEMORY11_CACHE` if set, else `.memory11-cache/` in the repository root (or cwd)."""
        env = os.environ.get(CACHE_ENV)
        if env:
            return cls(Path(env))
        return cls((repo_root if repo_root is not None else Path.cwd()) / CACHE_DIR_NAME)

    def key(self, sources: Sequence[str], options: Mapping[str, Any]) -> str:
        return cache_key(sources, options, self.version)

    def _entry(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> CachedReport | None:
        try:
            data = json.loads(self._entry(key).read_text(encoding="utf-8"))
            if data.get("checker") != self.version or data.get("key") != key:
                return None
            if data.get("format") != ENTRY_FORMAT:
                return None
            results = [result_from_json(r) for r in data["results"]]
            return CachedReport(str(data["model_sha256"]), results)
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, key: str, report: VerifyReport) -> None:
        data = {
            "format": ENTRY_FORMAT,
            "checker": self.version,
            "key": key,
            "model_sha256": report.model_sha256,
            "results": [result_to_json(r) for r in report.results],
        }
        write_atomic(self._entry(key), json.dumps(data, sort_keys=True, indent=1) + "\n")


def cacheable(report: VerifyReport) -> bool:
    """Undecided verdicts depend on budgets and machine speed: they are not cached."""
    return all(r.verdict is not Verdict.UNDECIDED for r in report.results)


class CachedVerifier:
    """Verify a model through the cache: `verify_fn` runs only when no entry matches.

    `load_fn` gives the model (and so its include closure, `Model.sources`) without verifying;
    `options` are the verify options, part of the key. `calls` counts actual verifications.
    """

    def __init__(
        self,
        verify_fn: VerifyFn,
        load_fn: LoadFn,
        cache: VerdictCache | None,
        options: Mapping[str, Any],
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.verify_fn = verify_fn
        self.load_fn = load_fn
        self.cache = cache
        self.options = dict(options)
        self.progress = progress
        self.calls = 0
        self.hits = 0

    def load(self, path: str) -> Model:
        return self.load_fn(path)

    def verify(
        self, path: str, model: Model | None = None, label: str | None = None
    ) -> tuple[VerifyReport, Model]:
        """The report for `path`, from the cache or by verifying; `label` names the model in
        progress messages (which are given only when verification actually runs)."""
        if self.cache is None:
            return self._run(path, label)
        if model is None:
            model = self.load_fn(path)
        key = self.cache.key(model.sources or (path,), self.options)
        hit = self.cache.get(key)
        if hit is not None:
            self.hits += 1
            return VerifyReport(path, hit.model_sha256, self.cache.version, hit.results), model
        report, model = self._run(path, label)
        if cacheable(report):
            self.cache.put(key, report)
        return report, model

    def _run(self, path: str, label: str | None) -> tuple[VerifyReport, Model]:
        self.calls += 1
        if self.progress is not None:
            self.progress(f"verifying {label or path}")
        return self.verify_fn(path)
