"""The `checker` command: thin click wrappers; each command is a function returning an exit code.

The work of each command lives in its own module (`cmd_lang`, `cmd_verify`, `cmd_review`);
this file only declares the command-line surface and turns `CheckerError` into a rendered
diagnostic and its exit code (see the exit-code table in README.md).
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable

import click

from checker import __version__
from checker.diagnostics import CheckerError, Exit


def _run(fn: Callable[[], int]) -> None:
    try:
        code = fn()
    except CheckerError as exc:
        click.echo(exc.render(), err=True)
        code = int(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("checker: interrupted", err=True)
        code = int(Exit.UNDECIDED)
    except Exception as exc:  # a checker bug, never a user error: no traceback unless asked
        if os.environ.get("MEMORY11_TRACEBACK"):
            raise
        click.echo(f"checker: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("note: this is a bug in the checker; set MEMORY11_TRACEBACK=1 for the "
                   "traceback and report it with the model", err=True)
        code = int(Exit.INTERNAL)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="memory11 checker")
def cli() -> None:
    """memory11: prove or break the memory invariants of a hypervisor configuration.

    \b
    Exit codes: 0 all good, 1 a property is violated (replay: not reproduced;
    review: a regression), 2 bad input, 3 undecided (a bound, budget or timeout
    was hit), 4 internal error (engines disagree, a solver trace did not replay).
    """


@cli.command()
@click.argument("files", nargs=-1, required=True)
def check(files: tuple[str, ...]) -> None:
    """Parse and validate FILES; exit 0 or 2."""
    from checker import cmd_lang

    _run(lambda: cmd_lang.check(list(files)))


@cli.command()
@click.argument("file")
def show(file: str) -> None:
    """Show the resolved host PA map and each domain's IPA map as tables."""
    from checker import cmd_lang

    _run(lambda: cmd_lang.show(file))


@cli.command()
@click.option("--check", "check_only", is_flag=True, help="Only report files that would change.")
@click.argument("files", nargs=-1, required=True)
def fmt(check_only: bool, files: tuple[str, ...]) -> None:
    """Rewrite FILES in canonical form (`-` reads stdin, writes stdout)."""
    from checker import cmd_lang

    _run(lambda: cmd_lang.fmt(list(files), check_only))


FORMATS = ["text", "json", "markdown", "sarif", "junit"]


@cli.command()
@click.argument("file")
@click.option("--property", "-p", "properties", multiple=True, help="Check only this property.")
@click.option("--engine", type=click.Choice(["auto", "explicit", "smt", "both"]), default="auto")
@click.option("--depth", type=click.IntRange(min=0), default=None, help="Bound on trace length.")
@click.option("--max-states", type=click.IntRange(min=1), default=None)
@click.option("--timeout", type=click.FloatRange(min=0), default=None, help="Seconds: one budget for the explicit search, per property for the SMT engine.")
@click.option("--placement", type=click.Choice(["auto", "exact", "candidates"]), default="auto")
@click.option("--no-symmetry", is_flag=True, help="Do not merge states of identical domains.")
@click.option("--format", "fmt_", type=click.Choice(FORMATS), default="text")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Counterexample dir.")
@click.option("--graph", type=click.Path(dir_okay=False), default=None, help="GraphML/DOT export.")
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
def verify(
    file: str,
    properties: tuple[str, ...],
    engine: str,
    depth: int | None,
    max_states: int | None,
    timeout: float | None,
    placement: str,
    no_symmetry: bool,
    fmt_: str,
    out: str | None,
    graph: str | None,
    quiet: bool,
) -> None:
    """Prove each property of FILE, or print the shortest trace that breaks it."""
    from checker import cmd_verify

    _run(
        lambda: cmd_verify.verify(
            file,
            properties=list(properties),
            engine=engine,
            depth=depth,
            max_states=max_states,
            timeout=timeout,
            placement=placement,
            symmetry=not no_symmetry,
            fmt=fmt_,
            out=out,
            graph=graph,
            quiet=quiet,
        )
    )


@cli.command()
@click.argument("trace")
@click.option("--model", "model_path", default=None, help="Model file (default: from the trace).")
@click.option("--force", is_flag=True, help="Replay even if the model's sha256 changed.")
def replay(trace: str, model_path: str | None, force: bool) -> None:
    """Re-run a counterexample TRACE with the reference semantics."""
    from checker import cmd_verify

    _run(lambda: cmd_verify.replay(trace, model_path, force))


@cli.command()
@click.argument("args", nargs=-1, metavar="[PATH...] | OLD.m11 NEW.m11")
@click.option("--base", default=None, help="Base revision (a branch, tag or commit).")
@click.option("--head", default=None, help="Head revision (default: the working tree).")
@click.option(
    "--fail-on",
    default="newly-violated",
    show_default=True,
    help="Comma list of categories that fail the review (or `none`).",
)
@click.option("--format", "fmt_", type=click.Choice(FORMATS), default="text")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Write here, not stdout.")
@click.option("--link-base", default=None, help="URL prefix for markdown links to .m11 lines.")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the verdict cache.")
@click.option("--engine", type=click.Choice(["auto", "explicit", "smt", "both"]), default="auto")
@click.option("--depth", type=click.IntRange(min=0), default=None, help="Bound on trace length.")
@click.option("--max-states", type=click.IntRange(min=1), default=None)
@click.option("--timeout", type=click.FloatRange(min=0), default=None, help="Seconds: one budget for the explicit search, per property for the SMT engine.")
@click.option("--placement", type=click.Choice(["auto", "exact", "candidates"]), default="auto")
@click.option("--no-symmetry", is_flag=True, help="Do not merge states of identical domains.")
@click.option("--quiet", "-q", is_flag=True, help="No progress lines on stderr.")
def review(
    args: tuple[str, ...],
    base: str | None,
    head: str | None,
    fail_on: str,
    fmt_: str,
    out: str | None,
    link_base: str | None,
    no_cache: bool,
    engine: str,
    depth: int | None,
    max_states: int | None,
    timeout: float | None,
    placement: str,
    no_symmetry: bool,
    quiet: bool,
) -> None:
    """Compare verdicts between two revisions (or two files) and report what changed.

    \b
    checker review --base REF [--head REF] [PATH...]
    checker review OLD.m11 NEW.m11
    Exit 1 when a --fail-on category occurs (default: a newly violated property).
    """
    from checker import cmd_review

    options = {
        "engine": engine,
        "depth": depth,
        "max_states": max_states,
        "timeout": timeout,
        "placement": placement,
        "symmetry": not no_symmetry,
    }
    _run(
        lambda: cmd_review.review(
            list(args),
            base=base,
            head=head,
            fmt=fmt_,
            fail_on=fail_on,
            out=out,
            link_base=link_base,
            options=options,
            use_cache=not no_cache,
            quiet=quiet,
        )
    )


def main() -> None:
    """The console entry point. NOTE(fast-exit): once a command has finished, the interpreter's
    teardown (freeing every module and object one by one: ~0.05 s after a search or a solver
    run) buys nothing, so the exit handlers run, the standard streams are flushed and the
    process ends with `os._exit`. Files are written atomically and closed before this point."""
    try:
        cli(prog_name="checker")
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: exit as Python does when flushing fails
            code = code or 120
    os._exit(code)
