"""Invariant expressions: type checking and conversion to model expressions.

The types are number, truth value, interval, domain and mapping (docs/language.md); "?" marks
an operand already reported wrong, so one mistake gives one error.
"""

from __future__ import annotations

from checker import ast
from checker import model as m
from checker.diagnostics import Note
from checker.resolve_host import Host, suggest

DOMAIN_FIELDS = {"alive": "bool", "id": "int", "rambase": "int", "memory": "int",
                 "direct": "bool", "ram": "interval"}
MAPPING_FIELDS = {"ipa": "int", "pa": "int", "size": "int"}
TYPE_NAMES = {"int": "a number", "bool": "a truth value", "interval": "an interval",
              "domain": "a domain", "mapping": "a mapping", "?": "?"}


class Expr:
    """Type-checks an invariant and turns it into model expressions (see docs/language.md)."""

    def __init__(self, r: Host) -> None:
        self.r = r

    def want(self, e: ast.Expr, env: dict[str, str], ty: str, ctx: str) -> m.Expr:
        out, got = self.check(e, env)
        if got not in (ty, "?"):
            self.r.err(f"{ctx} needs {TYPE_NAMES[ty]}, but this is {TYPE_NAMES[got]}", e.span)
        return out

    def typed(self, result: m.Expr, ty: str, before: int) -> tuple[m.Expr, str]:
        """`ty`, or "?" when an operand was wrong (so one mistake gives one error)."""
        return result, ("?" if len(self.r.errors) > before else ty)

    def check(self, e: ast.Expr, env: dict[str, str]) -> tuple[m.Expr, str]:
        if isinstance(e, ast.Num):
            return m.Num(e.value, e.span), "int"
        if isinstance(e, ast.Paren):
            return self.check(e.inner, env)
        if isinstance(e, ast.Var):
            name = e.name.text
            if name not in env:
                hint = Note("variables are introduced by `forall X in ...:` or `exists X in ...:`")
                self.r.err(f"unknown variable `{name}`", e.span, hint)
                return m.Var(name, e.span), "?"
            return m.Var(name, e.span), env[name]
        if isinstance(e, ast.Attr):
            obj, ty = self.check(e.obj, env)
            fields = {"domain": DOMAIN_FIELDS, "mapping": MAPPING_FIELDS}.get(ty)
            if ty == "?":
                return m.Attr(obj, e.attr.text, e.span), "?"
            if fields is None:
                self.r.err(f"`.{e.attr.text}` needs a domain or a mapping, but this is "
                           f"{TYPE_NAMES[ty]}", e.obj.span)
                return m.Attr(obj, e.attr.text, e.span), "?"
            if e.attr.text not in fields:
                self.r.err(f"a {ty} has no field `{e.attr.text}`", e.attr.span,
                           Note(f"{ty} fields: " + ", ".join(fields)))
                return m.Attr(obj, e.attr.text, e.span), "?"
            return m.Attr(obj, e.attr.text, e.span), fields[e.attr.text]
        if isinstance(e, ast.RegionRef):
            reg = self.r.regions.get(e.name.text)
            if reg is None:
                self.r.err(f"unknown region `{e.name.text}`", e.name.span,
                           *suggest(e.name.text, {k: v.span for k, v in self.r.regions.items()}))
                return m.Num(0, e.span), "?"
            return m.RegionRef(reg, e.span), "interval"
        before = len(self.r.errors)
        if isinstance(e, ast.Interval):
            lo = self.want(e.lo, env, "int", "an interval bound")
            hi = self.want(e.hi, env, "int", "an interval bound")
            return self.typed(m.Interval(lo, hi, e.span), "interval", before)
        if isinstance(e, ast.Not):
            operand = self.want(e.operand, env, "bool", "`not`")
            return self.typed(m.Not(operand, e.span), "bool", before)
        if isinstance(e, ast.Quant):
            inner = dict(env)
            of = None
            if e.over == "mappings":
                assert e.of is not None
                of = e.of.text
                if env.get(of) != "domain":
                    self.r.err(f"`mappings({of})` needs a domain variable", e.of.span)
                inner[e.var.text] = "mapping"
            else:
                inner[e.var.text] = "domain"
            body = self.want(e.body, inner, "bool", f"the body of `{e.kind}`")
            return self.typed(m.Quant(e.kind, e.var.text, e.over, of, body, e.span), "bool",
                              before)
        assert isinstance(e, ast.BinOp)
        op = e.op
        if op in ("+", "-", "*"):
            a = self.want(e.left, env, "int", f"`{op}`")
            b = self.want(e.right, env, "int", f"`{op}`")
            return self.typed(m.BinOp(op, a, b, e.span), "int", before)
        if op in ("and", "or", "implies"):
            a = self.want(e.left, env, "bool", f"`{op}`")
            b = self.want(e.right, env, "bool", f"`{op}`")
            return self.typed(m.BinOp(op, a, b, e.span), "bool", before)
        if op in ("overlaps", "within"):
            a = self.want(e.left, env, "interval", f"`{op}`")
            b = self.want(e.right, env, "interval", f"`{op}`")
            return self.typed(m.BinOp(op, a, b, e.span), "bool", before)
        if op in ("==", "!="):
            a, ta = self.check(e.left, env)
            b, tb = self.check(e.right, env)
            if "?" not in (ta, tb) and (ta != tb or ta not in ("int", "bool")):
                self.r.err(f"`{op}` compares two numbers or two truth values, not "
                           f"{TYPE_NAMES[ta]} and {TYPE_NAMES[tb]}", e.span)
            return self.typed(m.BinOp(op, a, b, e.span), "bool", before)
        a = self.want(e.left, env, "int", f"`{op}`")
        b = self.want(e.right, env, "int", f"`{op}`")
        return self.typed(m.BinOp(op, a, b, e.span), "bool", before)
