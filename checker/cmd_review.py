"""`checker review`: compare the verdicts of the models that differ between two revisions.

Two forms (docs/review.md):
  checker review --base REF [--head REF] [PATH...]   models in git; head defaults to the work tree
  checker review OLD.m11 NEW.m11                     two files outside git

Verification goes through the verdict cache (`checker.cache`); `verify_fn` and `load_fn` are
injectable so the pipeline can be exercised with synthetic reports.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from checker import gitfiles, report_ci
from checker.cache import CachedVerifier, LoadFn, VerdictCache, VerifyFn, write_atomic
from checker.diagnostics import CheckerError, Note, error
from checker.model import Model
from checker.results import VerifyReport
from checker.review import ReviewReport, parse_fail_on, repo_paths, review_files, review_git

DEFAULT_FAIL_ON = "newly-violated"


def default_load_fn() -> LoadFn:
    from checker import resolve

    return resolve.load_model


def default_verify_fn(options: Mapping[str, Any]) -> VerifyFn:
    """The verify pipeline of `checker verify`, with the same options for every model."""

    def verify(path: str) -> tuple[VerifyReport, Model]:
        from checker import cmd_verify

        return cmd_verify.run_verify(path, **dict(options))

    return verify


def run_review(
    args: Sequence[str],
    *,
    base: str | None,
    head: str | None,
    fail_on: str = DEFAULT_FAIL_ON,
    options: Mapping[str, Any] | None = None,
    use_cache: bool = True,
    cwd: Path | None = None,
    verify_fn: VerifyFn | None = None,
    load_fn: LoadFn | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[ReviewReport, CachedVerifier]:
    """Run a review and return it (nothing is printed). Raises CheckerError on bad usage."""
    opts = dict(options or {})
    failing = parse_fail_on(fail_on)
    here = cwd if cwd is not None else Path.cwd()
    if base is None:
        if head is not None:
            raise error("--head needs --base", None, Note("checker review --base REF --head REF"))
        if len(args) != 2:
            raise error(
                "give --base REF to review a git repository, or exactly two files",
                None,
                Note("checker review --base main [PATH...]"),
                Note("checker review OLD.m11 NEW.m11"),
            )
        root = _maybe_repo(here)
        verifier = _verifier(
            root if root is not None else here, opts, use_cache, verify_fn, load_fn
        )
        return review_files(args[0], args[1], verifier, failing), verifier
    root = gitfiles.repo_root(here)
    verifier = _verifier(root, opts, use_cache, verify_fn, load_fn, progress)
    paths = repo_paths(root, [str(here / a) for a in args])
    return review_git(root, base, head, verifier, failing, paths), verifier


def _maybe_repo(here: Path) -> Path | None:
    try:
        return gitfiles.repo_root(here)
    except CheckerError:  # outside git the cache lives in the current directory
        return None


def _verifier(
    root: Path,
    options: Mapping[str, Any],
    use_cache: bool,
    verify_fn: VerifyFn | None,
    load_fn: LoadFn | None,
    progress: Callable[[str], None] | None = None,
) -> CachedVerifier:
    cache = VerdictCache.default(root) if use_cache else None
    return CachedVerifier(
        verify_fn if verify_fn is not None else default_verify_fn(options),
        load_fn if load_fn is not None else default_load_fn(),
        cache,
        options,
        progress,
    )


def _progress(message: str) -> None:
    """One line per model actually verified, on stderr (stdout carries the report)."""
    sys.stderr.write(f"review: {message}\n")
    sys.stderr.flush()


def review(
    args: Sequence[str],
    *,
    base: str | None,
    head: str | None,
    fmt: str = "text",
    fail_on: str = DEFAULT_FAIL_ON,
    out: str | None = None,
    link_base: str | None = None,
    options: Mapping[str, Any] | None = None,
    use_cache: bool = True,
    quiet: bool = False,
) -> int:
    """The `checker review` command: render the review to stdout (or `out`); the exit code is
    2 if a model on head cannot be checked, 1 if a `--fail-on` category occurred, else 0."""
    report, _verifier_used = run_review(
        args,
        base=base,
        head=head,
        fail_on=fail_on,
        options=options,
        use_cache=use_cache,
        progress=None if quiet else _progress,
    )
    text = report_ci.render_review(report, fmt, link_base=link_base)
    if out is not None:
        write_atomic(Path(out), text)
    else:
        sys.stdout.write(text)
        sys.stdout.flush()
    return report.exit_code()
