"""Reading files at a git revision, and materialising a revision's models into a directory.

Everything goes through the `git` command (`git rev-parse`, `git ls-tree`, `git ls-files`,
`git cat-file --batch`, the batch form of `git show REV:path`); nothing here parses git's
object store. Errors a user can cause (not a repository, an unknown revision) are
`CheckerError`s with exit code 2.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from checker.diagnostics import CheckerError, Note, error

MODEL_SUFFIX = ".m11"


def _git(root: Path, *args: str, stdin: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), *args],
            input=stdin,
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:
        raise error("git is not installed or not on PATH") from exc
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip() or f"exit {proc.returncode}"
        raise error(
            f"git {args[0]}: {message.splitlines()[0]}",
            None,
            Note(f"command: git {' '.join(args)}"),
        )
    return proc.stdout


def repo_root(start: Path) -> Path:
    """The top of the work tree that contains `start`."""
    try:
        out = _git(start, "rev-parse", "--show-toplevel")
    except CheckerError as exc:
        raise error(
            f"{start} is not inside a git repository",
            None,
            Note("`checker review OLD.m11 NEW.m11` compares two files outside git"),
        ) from exc
    return Path(out.decode("utf-8").strip())


def resolve_rev(root: Path, ref: str) -> str:
    """The full commit id that `ref` names; a bad revision is a usage error (exit 2)."""
    try:
        out = _git(
            root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"
        )
    except CheckerError as exc:
        raise error(
            f"unknown revision `{ref}`", None, Note("give a branch, tag or commit")
        ) from exc
    return out.decode("ascii").strip()


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    path: str  # repository-relative, '/' separated


def tree_entries(root: Path, rev: str) -> list[TreeEntry]:
    """Every file (blob or symlink) in the tree of commit `rev`."""
    out = _git(root, "ls-tree", "-r", "-z", "--full-tree", rev)
    entries: list[TreeEntry] = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, kind, _obj = meta.decode("ascii").split(" ")
        if kind == "blob":
            entries.append(TreeEntry(mode, name.decode("utf-8", "surrogateescape")))
    return entries


def tracked_files(root: Path, rev: str | None, suffix: str = MODEL_SUFFIX) -> list[str]:
    """Repository-relative paths ending in `suffix` at `rev` (None: the working tree's index,
    keeping only files that exist on disk)."""
    if rev is not None:
        return sorted(e.path for e in tree_entries(root, rev) if e.path.endswith(suffix))
    out = _git(root, "ls-files", "-z", "--cached")
    names = {n.decode("utf-8", "surrogateescape") for n in out.split(b"\0") if n}
    return sorted(n for n in names if n.endswith(suffix) and (root / n).is_file())


def read_blobs(root: Path, rev: str, paths: list[str]) -> dict[str, bytes]:
    """The contents of `paths` at `rev`, read in one `git cat-file --batch` (as `git show
    REV:path` would print them). Paths absent at `rev` are left out."""
    if not paths:
        return {}
    request = b"".join(f"{rev}:{p}\n".encode("utf-8", "surrogateescape") for p in paths)
    out = _git(root, "cat-file", "--batch", stdin=request)
    blobs: dict[str, bytes] = {}
    pos = 0
    for p in paths:
        nl = out.index(b"\n", pos)
        header = out[pos:nl].decode("utf-8", "surrogateescape")
        pos = nl + 1
        if header.endswith((" missing", " ambiguous")):
            continue
        _obj, kind, size_text = header.rsplit(" ", 2)
        size = int(size_text)
        if kind == "blob":
            blobs[p] = out[pos : pos + size]
        pos += size + 1  # the contents are followed by a newline
    return blobs


def show(root: Path, rev: str, path: str) -> bytes | None:
    """`git show REV:path`: the file's contents at `rev`, or None when it does not exist there."""
    return read_blobs(root, rev, [path]).get(path)


def _safe_target(dest: Path, rel: str) -> Path:
    parts = PurePosixPath(rel).parts
    if not parts or any(p in ("..", "") for p in parts) or PurePosixPath(rel).is_absolute():
        raise error(f"refusing to materialise the tree path `{rel}`")
    return dest.joinpath(*parts)


def materialise(root: Path, rev: str, dest: Path, suffix: str = MODEL_SUFFIX) -> list[str]:
    """Write every file ending in `suffix` at `rev` under `dest`, keeping the repository layout
    (so relative includes resolve as they do on that side). Returns the paths written.

    Symbolic links are recreated as links; a link that leaves the tree then reads nothing.
    """
    entries = [e for e in tree_entries(root, rev) if e.path.endswith(suffix)]
    blobs = read_blobs(root, rev, [e.path for e in entries])
    written: list[str] = []
    for e in entries:
        if e.path not in blobs:
            continue
        target = _safe_target(dest, e.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        if e.mode == "120000":
            os.symlink(blobs[e.path].decode("utf-8", "surrogateescape"), target)
        else:
            target.write_bytes(blobs[e.path])
        written.append(e.path)
    return sorted(written)


def short(root: Path, rev: str) -> str:
    """The abbreviated commit id, for labels."""
    return _git(root, "rev-parse", "--short", rev).decode("ascii").strip()
