"""Spec review: verify the models that differ between two revisions and compare, per property.

A *side* is a directory holding one revision's `.m11` files in the repository's layout (a
revision materialised from git, or the working tree itself). On each side every `.m11` file is
loaded; a file that another one includes is a fragment, every other file is a *model* (a file
that fails to load and declares no `domain` is taken for an unused fragment and skipped). A
model differs between the sides when its own file or any file in its include closure
(`Model.sources`) differs, or moved. Only models that differ are verified, on both sides, and
each property lands in one `Category` (docs/review.md has the table).
"""

from __future__ import annotations

import enum
import hashlib
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from checker import gitfiles
from checker.cache import CachedVerifier, file_sha256
from checker.diagnostics import CheckerError, Exit, Note, error
from checker.model import Model
from checker.results import PropertyResult, Verdict, VerifyReport


class Category(enum.Enum):
    """What happened to one property between base and head."""

    NEWLY_VIOLATED = "newly-violated"
    STILL_VIOLATED = "still-violated"
    UNDECIDED = "undecided"
    FIXED = "fixed"
    ADDED = "added"
    REMOVED = "removed"
    STILL_HOLDS = "still-holds"

    @property
    def title(self) -> str:
        return self.value.replace("-", " ")


DEFAULT_FAIL_ON = frozenset({Category.NEWLY_VIOLATED})


def parse_fail_on(text: str) -> frozenset[Category]:
    """A comma list of category names (`newly-violated,undecided`); `none` fails on nothing."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    if names == ["none"]:
        return frozenset()
    known = {c.value: c for c in Category}
    out: set[Category] = set()
    for name in names:
        cat = known.get(name.replace("_", "-"))
        if cat is None:
            raise error(
                f"unknown review category `{name}` in --fail-on",
                None,
                Note("categories: " + ", ".join(c.value for c in Category) + ", or none"),
            )
        out.add(cat)
    return frozenset(out)


def classify(base: PropertyResult | None, head: PropertyResult | None) -> Category:
    """A definite violation on head wins; otherwise an undecided side makes the pair undecided."""
    if base is None and head is None:
        raise ValueError("a property is on at least one side")
    if base is None:
        return Category.ADDED
    if head is None:
        return Category.REMOVED
    if head.verdict is Verdict.VIOLATED:
        return (
            Category.STILL_VIOLATED if base.verdict is Verdict.VIOLATED else Category.NEWLY_VIOLATED
        )
    if head.verdict is Verdict.UNDECIDED:
        return Category.UNDECIDED
    if base.verdict is Verdict.VIOLATED:
        return Category.FIXED
    if base.verdict is Verdict.UNDECIDED:
        return Category.UNDECIDED
    return Category.STILL_HOLDS


@dataclass(frozen=True)
class Change:
    name: str  # the property
    category: Category
    base: PropertyResult | None
    head: PropertyResult | None

    @property
    def trace_lengths(self) -> tuple[int | None, int | None]:
        b = self.base.trace_length if self.base is not None else None
        h = self.head.trace_length if self.head is not None else None
        return b, h

    @property
    def trace_changed(self) -> bool:
        """Still violated, and the shortest trace got shorter or longer."""
        b, h = self.trace_lengths
        return self.category is Category.STILL_VIOLATED and b != h


def compare(base: VerifyReport | None, head: VerifyReport | None) -> list[Change]:
    """One `Change` per property: head's order first, then the properties only base has."""
    b = {r.property: r for r in base.results} if base is not None else {}
    h = {r.property: r for r in head.results} if head is not None else {}
    order = list(h) + [name for name in b if name not in h]
    return [Change(n, classify(b.get(n), h.get(n)), b.get(n), h.get(n)) for n in order]


def under(file: str, root: str | Path) -> str | None:
    """`file` relative to `root` ('/' separated) if it lies inside it, else None."""
    for norm in (os.path.abspath, os.path.realpath):
        full, top = norm(file), norm(str(root))
        if full == top or full.startswith(top.rstrip(os.sep) + os.sep):
            return os.path.relpath(full, top).replace(os.sep, "/")
    return None


@dataclass
class ModelSide:
    """One side of one model: the file it was loaded from and what came of it.

    `error_text` is the rendered diagnostic (with paths relative to the side's root), made
    while the side's files still exist.
    """

    path: str
    root: str
    model: Model | None = None
    report: VerifyReport | None = None
    error: CheckerError | None = None
    error_text: str | None = None
    digest: str | None = None
    label: str = ""  # the side, for progress messages

    @property
    def broken(self) -> bool:
        return self.error is not None or self.error_text is not None

    def fail(self, exc: CheckerError) -> None:
        self.error = exc
        text = exc.render()
        for norm in (os.path.realpath, os.path.abspath):
            top = norm(self.root).rstrip(os.sep) + os.sep
            text = text.replace(top, "")
        self.error_text = text


@dataclass
class ModelReview:
    path: str  # repository-relative (the NEW file as given, for two files)
    status: str  # "changed" | "added" | "removed"
    base: ModelSide | None
    head: ModelSide | None
    changes: list[Change] = field(default_factory=list)

    @property
    def head_model(self) -> Model | None:
        return self.head.model if self.head is not None else None


@dataclass
class ReviewReport:
    base_label: str
    head_label: str
    models: list[ModelReview]
    unchanged: list[str]
    skipped: list[str]
    fail_on: frozenset[Category]
    roots: tuple[str, ...]  # directories whose prefix is cut from the files spans name

    def counts(self) -> dict[Category, int]:
        out = {c: 0 for c in Category}
        for m in self.models:
            for ch in m.changes:
                out[ch.category] += 1
        return out

    def failing(self) -> list[tuple[ModelReview, Change]]:
        return [(m, ch) for m in self.models for ch in m.changes if ch.category in self.fail_on]

    def head_errors(self) -> list[ModelReview]:
        """Models that the change left unloadable: broken on head, not already on base."""
        return [
            m
            for m in self.models
            if m.head is not None and m.head.broken and not (m.base is not None and m.base.broken)
        ]

    def exit_code(self) -> int:
        """2 when the change left a model that cannot be loaded or verified (`head_errors`);
        1 when a failing category occurred (`--fail-on`, default newly-violated); else 0."""
        if self.head_errors():
            return int(Exit.BAD_INPUT)
        return int(Exit.VIOLATED) if self.failing() else int(Exit.OK)

    def relpath(self, file: str) -> str:
        """`file` relative to whichever side's root holds it ('/' separated)."""
        for root in self.roots:
            rel = under(file, root)
            if rel is not None:
                return rel
        return file


# ---- sides -------------------------------------------------------------------------------------

_DOMAIN_DECL = re.compile(rb"^[ \t]*domain[ \t]", re.MULTILINE)


@dataclass(frozen=True)
class SideTree:
    label: str
    root: Path
    files: tuple[str, ...]  # repository-relative .m11 files on this side


def _rel(root: Path, file: str) -> str:
    rel = under(file, root)
    return rel if rel is not None else os.path.abspath(file)


def _digest(root: Path, sources: Sequence[str]) -> str:
    h = hashlib.sha256()
    for src in sources:
        h.update(f"{_rel(root, src)}\0{file_sha256(src)}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def scan_side(
    side: SideTree, verifier: CachedVerifier, forced: frozenset[str], prefixes: tuple[str, ...]
) -> tuple[dict[str, ModelSide], list[str]]:
    """The models on one side (repository-relative path -> loaded side), and skipped files.

    `forced` files are models whatever they look like; with `prefixes`, only files under one
    of them (or forced) are considered models.
    """
    loaded: dict[str, ModelSide] = {}
    included: set[str] = set()
    for rel in side.files:
        path = str(side.root / rel)
        if not Path(path).is_file():
            continue  # a dangling symbolic link
        entry = ModelSide(path, str(side.root), label=side.label)
        try:
            entry.model = verifier.load(path)
            sources = entry.model.sources or (path,)
            entry.digest = _digest(side.root, sources)
            included.update(_rel(side.root, s) for s in sources if _rel(side.root, s) != rel)
        except CheckerError as exc:
            entry.fail(exc)
            entry.digest = "unloadable:" + file_sha256(path)
        loaded[rel] = entry
    models: dict[str, ModelSide] = {}
    skipped: list[str] = []
    for rel, entry in loaded.items():
        if rel in forced:
            models[rel] = entry
            continue
        if (forced or prefixes) and not any(
            rel == p or rel.startswith(p.rstrip("/") + "/") for p in prefixes
        ):
            continue
        if rel in included:
            continue
        if entry.error is not None and not _DOMAIN_DECL.search(Path(entry.path).read_bytes()):
            skipped.append(rel)
            continue
        models[rel] = entry
    return models, skipped


def _verify_side(entry: ModelSide, verifier: CachedVerifier) -> None:
    if entry.error is not None:
        return
    try:
        name = under(entry.path, entry.root) or entry.path
        label = f"{name} ({entry.label})" if entry.label else name
        entry.report, entry.model = verifier.verify(entry.path, entry.model, label)
    except CheckerError as exc:
        if exc.exit_code is Exit.INTERNAL:
            raise  # a checker bug stops the review (exit 4); it is not a property of the model
        entry.fail(exc)


def review_sides(
    base: SideTree,
    head: SideTree,
    verifier: CachedVerifier,
    fail_on: frozenset[Category] = DEFAULT_FAIL_ON,
    paths: Sequence[str] = (),
) -> ReviewReport:
    """Review every model that differs between `base` and `head`.

    `paths` (repository-relative) restrict the review: a file is reviewed as a model, a
    directory keeps the models under it.
    """
    forced = frozenset(p for p in paths if p.endswith(gitfiles.MODEL_SUFFIX))
    prefixes = tuple(p for p in paths if p not in forced)
    base_models, base_skipped = scan_side(base, verifier, forced, prefixes)
    head_models, head_skipped = scan_side(head, verifier, forced, prefixes)
    reviews: list[ModelReview] = []
    unchanged: list[str] = []
    for rel in sorted(set(base_models) | set(head_models)):
        b, h = base_models.get(rel), head_models.get(rel)
        if b is not None and h is not None and b.digest == h.digest:
            unchanged.append(rel)
            continue
        status = "changed" if b is not None and h is not None else "added" if h else "removed"
        for entry in (b, h):
            if entry is not None:
                _verify_side(entry, verifier)
        # NOTE(head-error): a model that cannot be checked on head has no property changes (its
        # properties are not "removed"); the error itself fails the review with exit code 2.
        broken = h is not None and h.broken
        changes = [] if broken else compare(b.report if b else None, h.report if h else None)
        reviews.append(ModelReview(rel, status, b, h, changes))
    skipped = sorted(set(base_skipped) | set(head_skipped))
    roots = (str(head.root), str(base.root))
    return ReviewReport(base.label, head.label, reviews, unchanged, skipped, fail_on, roots)


def review_files(
    old: str, new: str, verifier: CachedVerifier, fail_on: frozenset[Category] = DEFAULT_FAIL_ON
) -> ReviewReport:
    """Compare two model files outside git (each with its own includes)."""
    sides: list[ModelSide] = []
    for path in (old, new):
        if not Path(path).is_file():
            raise error(f"{path}: no such file")
        entry = ModelSide(path, os.getcwd(), label="old" if path == old else "new")
        try:
            entry.model = verifier.load(path)
        except CheckerError as exc:
            entry.fail(exc)
        _verify_side(entry, verifier)
        sides.append(entry)
    b, h = sides
    changes = [] if h.broken else compare(b.report, h.report)  # NOTE(head-error)
    review = ModelReview(new, "changed", b, h, changes)
    return ReviewReport(old, new, [review], [], [], fail_on, (os.getcwd(),))


def review_git(
    root: Path,
    base_ref: str,
    head_ref: str | None,
    verifier: CachedVerifier,
    fail_on: frozenset[Category] = DEFAULT_FAIL_ON,
    paths: Sequence[str] = (),
) -> ReviewReport:
    """Review `base_ref` against `head_ref` (None: the working tree) of the repository at
    `root`. Each revision's `.m11` files are read from git into a temporary directory."""
    base_rev = gitfiles.resolve_rev(root, base_ref)
    with tempfile.TemporaryDirectory(prefix="memory11-review-") as tmp:
        base_dir = Path(tmp) / "base"
        base_files = gitfiles.materialise(root, base_rev, base_dir)
        base = SideTree(_label(root, base_ref, base_rev), base_dir, tuple(base_files))
        if head_ref is None:
            files = set(gitfiles.tracked_files(root, None))
            files.update(
                p for p in paths if p.endswith(gitfiles.MODEL_SUFFIX) and (root / p).is_file()
            )
            head = SideTree("working tree", root, tuple(sorted(files)))
        else:
            head_rev = gitfiles.resolve_rev(root, head_ref)
            head_dir = Path(tmp) / "head"
            head_files = gitfiles.materialise(root, head_rev, head_dir)
            head = SideTree(_label(root, head_ref, head_rev), head_dir, tuple(head_files))
        return review_sides(base, head, verifier, fail_on, paths)


def _label(root: Path, ref: str, commit: str) -> str:
    """`main (1a2b3c4)`, or just the abbreviated id when the ref is itself a commit id."""
    short = gitfiles.short(root, commit)
    return short if commit.startswith(ref.lower()) else f"{ref} ({short})"


def repo_paths(root: Path, paths: Sequence[str]) -> list[str]:
    """Command-line PATHs (relative to the current directory) as repository-relative paths."""
    out: list[str] = []
    top = os.path.abspath(root)
    for p in paths:
        full = os.path.abspath(p)
        if full != top and not full.startswith(top + os.sep):
            raise error(f"{p}: not inside the repository at {root}")
        rel = os.path.relpath(full, top).replace(os.sep, "/")
        out.append("" if rel == "." else rel)
    return [p for p in out if p] if all(out) else []
