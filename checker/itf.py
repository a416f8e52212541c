"""Counterexamples in the ITF trace format (the Informal Trace Format of Apalache and Quint).

A file is one JSON object:

    {"#meta": {...}, "vars": ["alive", ...], "states": [{"#meta": {...}, "alive": ..., ...}, ...]}

Values: integers are `{"#bigint": "123"}`, booleans and strings are JSON's, lists are JSON
arrays, records are JSON objects, and the absent value (JSON `null` in a state's JSON form) is
the variant `{"tag": "None", "value": {"#tup": []}}` as Quint writes an empty `Option`.
The top-level `#meta` names the format, the model (its path, the sha256 of the model file and of
every included source), the property, the engine, the method, the witness and the checker's
version. State 0 is the initial state; the `#meta` of state i > 0 records the operation taken
(`op`, its label), the choices made (`choices`) and the action in the semantics' JSON form
(`action`), which is what `replay` re-executes.

The reader validates the whole structure and raises `CheckerError` (exit 2) located at
`file:line:col` of the offending JSON value; writes are atomic (a temporary file in the same
directory, then `os.replace`), so an existing file is only ever replaced by a complete one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checker.diagnostics import CheckerError, Diagnostic, Exit, Note, Span

FORMAT = "ITF"
FORMAT_DESCRIPTION = "https://apalache-mc.org/docs/adr/015adr-trace.html"
NONE_VALUE: dict[str, Any] = {"tag": "None", "value": {"#tup": []}}
_HEX64 = re.compile(r"[0-9a-f]{64}")
_BIGINT = re.compile(r"-?[0-9]+")

JsonPath = tuple[str | int, ...]


# ---- files ------------------------------------------------------------------------------------


def write_atomic(path: str | Path, text: str) -> None:
    """Write `text` to `path` through a temporary file in the same directory and os.replace."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def source_digests(model_path: str, sources: tuple[str, ...] | list[str]) -> list[dict[str, str]]:
    """`[{"path", "sha256"}]` for the model file and every source it includes, in load order."""
    paths = list(dict.fromkeys([model_path, *sources]))
    out = []
    for p in paths:
        try:
            out.append({"path": p, "sha256": sha256_file(p)})
        except OSError as exc:
            raise CheckerError([Diagnostic(f"cannot read {p}: {exc.strerror}")]) from exc
    return out


# ---- values -----------------------------------------------------------------------------------


def to_itf(value: Any) -> Any:
    """A state's JSON form (semantics.state_to_json) as an ITF value."""
    if value is None:
        return json.loads(json.dumps(NONE_VALUE))
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return {"#bigint": str(value)}
    if isinstance(value, (list, tuple)):
        return [to_itf(v) for v in value]
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str) or k.startswith("#"):
                raise ValueError(f"record field {k!r} cannot be written as ITF")
            out[k] = to_itf(v)
        return out
    raise ValueError(f"{type(value).__name__} value {value!r} cannot be written as ITF")


class _Bad(Exception):
    def __init__(self, path: JsonPath, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message


def from_itf(value: Any, path: JsonPath = ()) -> Any:
    """The inverse of `to_itf`; raises `_Bad` (with the JSON path) for what is not ITF."""
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        raise _Bad(path, "a bare JSON number: ITF integers are {\"#bigint\": \"...\"}")
    if value is None:
        raise _Bad(path, "a JSON null is not an ITF value")
    if isinstance(value, list):
        return [from_itf(v, (*path, i)) for i, v in enumerate(value)]
    assert isinstance(value, dict)
    special = [k for k in value if k.startswith("#")]
    if special:
        if len(value) != 1:
            raise _Bad(path, f"{special[0]} must be the only field of its object")
        key = special[0]
        inner = value[key]
        if key == "#bigint":
            if not isinstance(inner, str) or not _BIGINT.fullmatch(inner):
                raise _Bad((*path, key), "#bigint must be a string of decimal digits")
            return int(inner)
        if key in ("#tup", "#set"):
            if not isinstance(inner, list):
                raise _Bad((*path, key), f"{key} must be an array")
            return [from_itf(v, (*path, key, i)) for i, v in enumerate(inner)]
        raise _Bad(path, f"unsupported ITF form {key}")
    if value == NONE_VALUE:
        return None
    return {k: from_itf(v, (*path, k)) for k, v in value.items()}


# ---- documents --------------------------------------------------------------------------------


def document(
    *,
    model_path: str,
    sources: list[dict[str, str]],
    prop: str,
    engine: str,
    method: str,
    witness: str,
    version: str,
    initial: Any,
    steps: list[tuple[str, dict[str, Any], Any, Any]],
) -> dict[str, Any]:
    """The ITF object. `steps`: (operation label, choices, action JSON, state JSON after it)."""
    states = [initial] + [s for _op, _ch, _act, s in steps]
    vars_: list[str] = sorted(initial) if isinstance(initial, dict) else ["state"]
    itf_states: list[dict[str, Any]] = []
    for i, st in enumerate(states):
        meta: dict[str, Any] = {"index": i}
        if i == 0:
            meta["op"] = "initial"
        else:
            op, choices, action, _s = steps[i - 1]
            meta.update(op=op, choices=choices, action=action)
        body = to_itf(st) if isinstance(st, dict) else {"state": to_itf(st)}
        itf_states.append({"#meta": meta, **body})
    return {
        "#meta": {
            "format": FORMAT,
            "format-description": FORMAT_DESCRIPTION,
            "description": f"counterexample to {prop}",
            "source": model_path,
            "model": model_path,
            "model_sha256": sources[0]["sha256"] if sources else "",
            "sources": sources,
            "property": prop,
            "witness": witness,
            "engine": engine,
            "method": method,
            "checker_version": version,
        },
        "vars": vars_,
        "states": itf_states,
    }


def dumps(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class ItfStep:
    op: str
    choices: dict[str, Any]
    action: Any
    state: Any  # the state's JSON form after the step


@dataclass(frozen=True)
class ItfTrace:
    path: str
    meta: dict[str, Any]
    initial: Any
    steps: tuple[ItfStep, ...]

    @property
    def model(self) -> str:
        return str(self.meta["model"])

    @property
    def property(self) -> str:
        return str(self.meta["property"])

    def locate(self, path: JsonPath) -> Span:
        """Where the JSON value at `path` starts in the file."""
        text = Path(self.path).read_text(encoding="utf-8")
        return locate(self.path, text, path)


_META_STR = ("format", "model", "model_sha256", "property", "engine", "method",
             "checker_version", "witness")


def read(path: str) -> ItfTrace:
    """Read and validate an ITF counterexample; CheckerError (exit 2) on anything malformed."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CheckerError([Diagnostic(f"cannot read trace {path}: {exc}")]) from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        span = Span(path, exc.lineno, exc.colno, exc.lineno, exc.colno + 1)
        raise CheckerError([Diagnostic(f"malformed JSON: {exc.msg}", span)]) from exc
    try:
        return _validate(path, doc)
    except _Bad as bad:
        span = locate(path, text, bad.path)
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in bad.path) or "."
        raise CheckerError(
            [Diagnostic(f"invalid ITF trace: {bad.message}", span,
                        (Note(f"at {where}; the file was edited or is not a memory11 trace"),))],
            Exit.BAD_INPUT,
        ) from None


def _validate(path: str, doc: Any) -> ItfTrace:
    if not isinstance(doc, dict):
        raise _Bad((), "the top level must be an object")
    for key in ("#meta", "vars", "states"):
        if key not in doc:
            raise _Bad((), f"missing field {key}")
    meta = doc["#meta"]
    if not isinstance(meta, dict):
        raise _Bad(("#meta",), "#meta must be an object")
    for key in _META_STR:
        if not isinstance(meta.get(key), str):
            raise _Bad(("#meta", key) if key in meta else ("#meta",), f"#meta.{key} must be a string")
    if meta["format"] != FORMAT:
        raise _Bad(("#meta", "format"), f"format must be {FORMAT!r}")
    if not _HEX64.fullmatch(meta["model_sha256"]):
        raise _Bad(("#meta", "model_sha256"), "model_sha256 must be 64 lowercase hex digits")
    sources = meta.get("sources")
    if not isinstance(sources, list) or not sources:
        raise _Bad(("#meta", "sources") if "sources" in meta else ("#meta",),
                   "#meta.sources must be a non-empty array")
    for i, src in enumerate(sources):
        if not (isinstance(src, dict) and set(src) == {"path", "sha256"}
                and isinstance(src["path"], str) and isinstance(src["sha256"], str)
                and _HEX64.fullmatch(src["sha256"])):
            raise _Bad(("#meta", "sources", i), "a source is {\"path\": str, \"sha256\": hex}")
    vars_ = doc["vars"]
    if not (isinstance(vars_, list) and all(isinstance(v, str) for v in vars_)):
        raise _Bad(("vars",), "vars must be an array of names")
    states = doc["states"]
    if not isinstance(states, list) or not states:
        raise _Bad(("states",), "states must be a non-empty array")
    decoded: list[Any] = []
    steps: list[ItfStep] = []
    for i, st in enumerate(states):
        where: JsonPath = ("states", i)
        if not isinstance(st, dict):
            raise _Bad(where, "a state must be an object")
        smeta = st.get("#meta")
        if not isinstance(smeta, dict):
            raise _Bad(where, "a state needs a #meta object")
        if smeta.get("index") != i:
            raise _Bad((*where, "#meta"), f"state #meta.index must be {i}")
        fields = sorted(k for k in st if k != "#meta")
        if fields != sorted(vars_):
            missing = sorted(set(vars_) - set(fields))
            extra = sorted(set(fields) - set(vars_))
            raise _Bad(where, f"state fields differ from vars (missing {missing}, extra {extra})")
        body = {k: from_itf(st[k], (*where, k)) for k in vars_}
        decoded.append(body["state"] if vars_ == ["state"] else body)
        if i == 0:
            continue
        op, choices = smeta.get("op"), smeta.get("choices")
        if not isinstance(op, str):
            raise _Bad((*where, "#meta"), "a step's #meta.op must be a string")
        if not isinstance(choices, dict):
            raise _Bad((*where, "#meta"), "a step's #meta.choices must be an object")
        if "action" not in smeta:
            raise _Bad((*where, "#meta"), "a step's #meta needs the action")
        steps.append(ItfStep(op, choices, smeta["action"], decoded[-1]))
    return ItfTrace(path, meta, decoded[0], tuple(steps))


# ---- positions --------------------------------------------------------------------------------

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\n\r]*")
_SCALAR = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|null")


def locate(file: str, text: str, target: JsonPath) -> Span:
    """The span of the JSON value at `target` (or of the deepest enclosing value found)."""
    best = 0
    try:
        best = _find(text, target)
    except (ValueError, IndexError):
        pass
    line = text.count("\n", 0, best) + 1
    col = best - (text.rfind("\n", 0, best) + 1) + 1
    return Span(file, line, col, line, col + 1)


def _find(text: str, target: JsonPath) -> int:
    """Offset of the value at `target`, walking a syntactically valid JSON text."""
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    for key in target:
        if text[pos] == "{" and isinstance(key, str):
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            while text[pos] != "}":
                name, pos = _DECODER.raw_decode(text, pos)
                pos = _WS.match(text, pos).end() + 1  # type: ignore[union-attr]
                pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
                if name == key:
                    break
                pos = _skip(text, pos)
            else:
                return pos
        elif text[pos] == "[" and isinstance(key, int):
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            for _ in range(key):
                pos = _skip(text, pos)
        else:
            return pos
    return pos


def _skip(text: str, pos: int) -> int:
    """Skip the value at `pos` and the comma after it; return the next value's offset."""
    c = text[pos]
    if c == '"':
        _s, pos = _DECODER.raw_decode(text, pos)
    elif c in "{[":
        depth = 0
        while True:
            c = text[pos]
            if c == '"':
                _s, pos = _DECODER.raw_decode(text, pos)
                continue
            if c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    pos += 1
                    break
            pos += 1
    else:
        m = _SCALAR.match(text, pos)
        if m is None:
            raise ValueError(pos)
        pos = m.end()
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if pos < len(text) and text[pos] == ",":
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    return pos
