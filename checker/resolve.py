"""AST to model: the entry points `load_model`, `load_model_with_warnings` and `load_checked`.

A load reads the file and its include closure (`resolve_include`), merges the declarations in
textual order, resolves every name, converts sizes to bytes and pages, and validates: the
platform and hypervisor (`resolve_host`; a derived hypervisor is first put together by
`resolve_extends`), the domains (`resolve_domains`), the scenario and
properties (`resolve_scenario`) and invariants (`resolve_expr`). Every error found is reported at
once in one CheckerError; warnings never stop a load (`load_model_with_warnings` returns them).

A file whose closure declares a platform or a hypervisor and nothing else (no domain, scenario
or property) is a *fragment*, meant to be included: `load_checked` validates it on its own, and
`load_model` rejects it, since only a complete model can be verified.
"""

from __future__ import annotations

from dataclasses import dataclass

from checker import ast
from checker import model as m
from checker.diagnostics import CheckerError, Diagnostic, Note
from checker.resolve_domains import Domains
from checker.resolve_extends import effective_hypervisor
from checker.resolve_host import DEFAULT_MAX_ORDER, Host, human
from checker.resolve_include import Loaded, load_files
from checker.resolve_scenario import Scenario

__all__ = ["Fragment", "Loaded", "human", "load_checked", "load_files", "load_model",
           "load_model_with_warnings"]

_MODEL_ONLY = (ast.DomainDecl, ast.ScenarioDecl, ast.PropertyDecl, ast.InvariantDecl)


@dataclass(frozen=True)
class Fragment:
    """An include-only file, validated on its own: its platform and/or hypervisor."""

    path: str
    sources: tuple[str, ...]
    platform: m.Platform | None
    hypervisor: m.Hypervisor | None


def is_fragment(loaded: Loaded) -> bool:
    """Whether the closure declares a platform or hypervisor and nothing a model adds to them."""
    items = loaded.items
    return (any(isinstance(i, (ast.PlatformDecl, ast.HypervisorDecl)) for i in items)
            and not any(isinstance(i, _MODEL_ONLY) for i in items))


def _one(r: Host, items: list[ast.Item], kind: type, what: str, required: bool) -> ast.Item | None:
    decls = [i for i in items if isinstance(i, kind)]
    if not decls:
        if required:
            r.err(f"the model declares no {what}", r.root_span(),
                  Note(f"a model needs exactly one `{what}`, in this file or one it includes"))
        return None
    for extra in decls[1:]:
        r.err(f"a second {what} is declared", extra.span,
              Note(f"the first {what} is declared here", decls[0].span),
              Note(f"a model has exactly one {what}"))
    return decls[0]


def _model(r: Host, path: str, loaded: Loaded) -> m.Model | None:
    items = loaded.items
    pdecl = _one(r, items, ast.PlatformDecl, "platform", True)
    hdecl = effective_hypervisor(r, items, True)
    if isinstance(pdecl, ast.PlatformDecl):
        platform = r.platform(pdecl)
    else:
        platform = m.Platform("?", r.page, (), (), ())
    if hdecl is not None:
        hyp = r.hypervisor(hdecl, platform)
    else:
        r.have_hypervisor = False
        hyp = m.Hypervisor("?", (), (), DEFAULT_MAX_ORDER, m.Placement.ANY,
                           m.BalloonMode.KEEP_OWNED)
    ddecls = [i for i in items if isinstance(i, ast.DomainDecl)]
    if not ddecls:
        r.err("the model declares no domain", r.root_span(),
              Note("a model needs at least one `domain NAME { ... }`"))
    dres = Domains(r, platform, hyp)
    domains = dres.domains(ddecls)
    sres = Scenario(dres)
    scen = [i for i in items if isinstance(i, ast.ScenarioDecl)]
    for extra in scen[1:]:
        r.err("a second scenario is declared", extra.span,
              Note("the first scenario is declared here", scen[0].span))
    scenario = sres.scenario(scen[0]) if scen else sres.default_scenario()
    props = sres.properties(
        [i for i in items if isinstance(i, (ast.PropertyDecl, ast.InvariantDecl))]
    )
    if r.errors:
        return None
    return m.Model(path, tuple(loaded.sources), platform, hyp, tuple(domains), scenario, props)


def _fragment(r: Host, path: str, loaded: Loaded) -> Fragment:
    items = loaded.items
    pdecl = _one(r, items, ast.PlatformDecl, "platform", False)
    hdecl = effective_hypervisor(r, items, False)
    platform = r.platform(pdecl) if isinstance(pdecl, ast.PlatformDecl) else None
    hyp = r.hypervisor(hdecl, platform) if hdecl is not None else None
    return Fragment(path, tuple(loaded.sources), platform, hyp)


def load_checked(
    path: str, text: str | None = None
) -> tuple[m.Model | Fragment, tuple[Diagnostic, ...]]:
    """What `checker check` accepts: a complete model, or a fragment validated on its own."""
    loaded = load_files(path, text)
    r = Host(path)
    if is_fragment(loaded):
        result: m.Model | Fragment | None = _fragment(r, path, loaded)
    else:
        result = _model(r, path, loaded)
    if r.errors:
        raise CheckerError(r.errors)
    assert result is not None
    return result, tuple(r.warnings)


def load_model_with_warnings(
    path: str, text: str | None = None
) -> tuple[m.Model, tuple[Diagnostic, ...]]:
    """The model of `path` and the warnings found while validating it."""
    loaded = load_files(path, text)
    r = Host(path)
    if is_fragment(loaded):
        _fragment(r, path, loaded)
        raise CheckerError([Diagnostic(
            f"{path} is a fragment (no domain); verify a model that includes it", r.root_span(),
            (Note("it declares only a platform or a hypervisor; `checker check` validates it on "
                  "its own"),),
        ), *r.errors])
    model = _model(r, path, loaded)
    if r.errors:
        raise CheckerError(r.errors)
    assert model is not None
    return model, tuple(r.warnings)


def load_model(path: str) -> m.Model:
    """Load, resolve and validate the model in `path`; raises CheckerError (exit 2)."""
    return load_model_with_warnings(path)[0]
