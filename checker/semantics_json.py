"""The portable JSON forms of states and actions (a `State` means something only to its `Semantics`)."""

from __future__ import annotations

from typing import Any

from checker import extents as ex
from checker.extents import Extents
from checker.model import (
    Choose,
)
from checker.semantics_state import StateBase
from checker.semantics_types import (
    COUNT,
    D_DIRECT,
    D_GRANTS,
    D_ID,
    D_OWNED,
    D_RAM,
    D_RAMBASE,
    DMA_BAD,
    DOM0,
    FAILED,
    NEXT_ID,
    PC,
    Action,
    ChoiceValue,
    DomState,
    State,
)


class JsonForms(StateBase):
    """States and actions to and from plain JSON values."""

    def state_to_json(self, state: State) -> dict[str, Any]:
        """Plain JSON values; every address is a frame number (multiply by the page size)."""
        v = self.view(state)
        doms: dict[str, Any] = {}
        for d, info in enumerate(self.doms):
            dom = v[DOM0 + d]
            if dom is None:
                doms[info.name] = None
                continue
            entry: dict[str, Any] = {}
            if self.track_ids:
                entry["id"] = dom[D_ID]
            entry["direct"] = bool(dom[D_DIRECT])
            entry["rambase"] = dom[D_RAMBASE]
            entry["ram"] = [list(r) for r in dom[D_RAM]]
            entry["owned"] = _json_ext(dom[D_OWNED])
            entry["grants"] = [
                {"ipa": i, "frame": m, "frontend": self.doms[f].name} for i, m, f in dom[D_GRANTS]
            ]
            doms[info.name] = entry
        out: dict[str, Any] = {"pc": v[PC], "count": v[COUNT]}
        if self.track_ids:
            out["next_id"] = v[NEXT_ID]
        out["failed"] = [{"op": op, "domain": self.doms[d].name} for op, d in v[FAILED]]
        bad = v[DMA_BAD]
        out["dma_bad"] = None if bad is None else {
            "domain": self.doms[bad[0]].name, "ipa": bad[1], "intended": bad[2], "reached": bad[3]
        }
        out["domains"] = doms
        return out

    def _dom_index(self, name: Any, what: str) -> int:
        for i, info in enumerate(self.doms):
            if info.name == name:
                return i
        raise ValueError(f"{what}: unknown domain {name!r}")

    def state_from_json(self, obj: Any) -> State:
        """The state `state_to_json` wrote; ValueError with a reason on anything malformed."""
        req = {"pc", "count", "failed", "dma_bad", "domains"} | ({"next_id"} if self.track_ids else set())
        obj = _keys(obj, "state", req)
        pc = _int(obj["pc"], "state.pc")
        count = _int(obj["count"], "state.count")
        if pc > len(self.stmts) or pc != self._norm_pc(pc):
            raise ValueError(f"state.pc: {pc} is not a scenario position")
        stmt = self.stmts[pc] if pc < len(self.stmts) else None
        limit = stmt.max_times if isinstance(stmt, Choose) else 1
        if count >= limit:
            raise ValueError(f"state.count: {count} is out of range at position {pc}")
        next_id = _int(obj["next_id"], "state.next_id", 1) if self.track_ids else 0
        if next_id > self.id_cap:
            raise ValueError(f"state.next_id: saturates at {self.id_cap}")
        if not isinstance(obj["failed"], list):
            raise ValueError("state.failed: expected a list")  # noqa: TRY004
        failed: list[tuple[str, int]] = []
        for item in obj["failed"]:
            item = _keys(item, "state.failed[]", {"op", "domain"})
            if item["op"] not in ("create", "balloon_in"):
                raise ValueError(f"state.failed[]: unknown op {item['op']!r}")
            failed.append((item["op"], self._dom_index(item["domain"], "state.failed[]")))
        if len(set(failed)) != len(failed):
            raise ValueError("state.failed: duplicate entries")
        bad_obj = obj["dma_bad"]
        bad: tuple[int, int, int, int] | None = None
        if bad_obj is not None:
            bad_obj = _keys(bad_obj, "state.dma_bad", {"domain", "ipa", "intended", "reached"})
            bad = (self._dom_index(bad_obj["domain"], "state.dma_bad"),
                   _int(bad_obj["ipa"], "state.dma_bad.ipa"),
                   _int(bad_obj["intended"], "state.dma_bad.intended"),
                   _int(bad_obj["reached"], "state.dma_bad.reached"))
        doms_obj = obj["domains"]
        if not isinstance(doms_obj, dict) or set(doms_obj) != {i.name for i in self.doms}:
            raise ValueError("state.domains: expected one entry per domain, keyed by name")
        doms: list[DomState | None] = []
        taken: Extents = ()
        free = self.heap
        for d, info in enumerate(self.doms):
            e = doms_obj[info.name]
            if e is None:
                doms.append(None)
                continue
            what = f"state.domains.{info.name}"
            e = _keys(e, what, {"direct", "rambase", "ram", "owned", "grants"}
                      | ({"id"} if self.track_ids else set()))
            did = _int(e["id"], f"{what}.id") if self.track_ids else 0
            if type(e["direct"]) is not bool:
                raise ValueError(f"{what}.direct: expected true or false")
            rambase = _int(e["rambase"], f"{what}.rambase")
            if not isinstance(e["ram"], list) or not all(
                isinstance(r, list) and len(r) == 3 and all(type(x) is int and x >= 0 for x in r)
                and r[2] > 0 for r in e["ram"]
            ):
                raise ValueError(f"{what}.ram: expected a list of [ipa, frame, count] runs")
            ram = tuple((r[0], r[1], r[2]) for r in e["ram"])
            try:
                normal = ex.p2m_normalize(ram)
            except ValueError as err:
                raise ValueError(f"{what}.ram: {err}") from None
            if normal != ram:
                raise ValueError(f"{what}.ram: runs must be sorted and merged")
            if ram and not e["direct"]:
                raise ValueError(f"{what}.ram: only a 1:1 domain stores its p2m")
            owned = _ext_from_json(e["owned"], f"{what}.owned")
            if not ex.subset(owned, ex.union(self.heap, info.static)):
                raise ValueError(f"{what}.owned: frames outside the heap and its static memory")
            if ex.overlaps(owned, taken):
                raise ValueError(f"{what}.owned: frames owned by another domain too")
            taken = ex.union(taken, owned)
            free = ex.difference(free, owned)
            if not isinstance(e["grants"], list):
                raise ValueError(f"{what}.grants: expected a list")  # noqa: TRY004
            grants: list[tuple[int, int, int]] = []
            for g in e["grants"]:
                g = _keys(g, f"{what}.grants[]", {"ipa", "frame", "frontend"})
                grants.append((_int(g["ipa"], f"{what}.grants[].ipa"),
                               _int(g["frame"], f"{what}.grants[].frame"),
                               self._dom_index(g["frontend"], f"{what}.grants[]")))
            if grants != sorted(grants) or len({g[0] for g in grants}) != len(grants):
                raise ValueError(f"{what}.grants: must be sorted by IPA, one per IPA")
            doms.append((did, e["direct"], rambase, ram, owned, tuple(grants)))
        return self.encode((pc, count, next_id, tuple(sorted(failed)), bad, free) + tuple(doms))

    def action_to_json(self, action: Action) -> dict[str, Any]:
        choices: dict[str, Any] = {}
        for name, value in action.choices:
            choices[name] = value if isinstance(value, int) else _json_ext(value)
        return {"op_index": action.op_index, "label": self._labels[action.op_index],
                "choices": choices}

    def action_from_json(self, obj: Any) -> Action:
        obj = _keys(obj, "action", {"op_index", "label", "choices"})
        oi = _int(obj["op_index"], "action.op_index")
        if oi >= len(self.ops):
            raise ValueError(f"action.op_index: the scenario has {len(self.ops)} operations")
        if obj["label"] != self._labels[oi]:
            raise ValueError(
                f"action.label: operation #{oi} is {self._labels[oi]!r}, not {obj['label']!r}")
        if not isinstance(obj["choices"], dict):
            raise ValueError("action.choices: expected an object")  # noqa: TRY004
        choices: list[tuple[str, ChoiceValue]] = []
        for name, value in obj["choices"].items():
            if name not in _CHOICE_NAMES:
                raise ValueError(f"action.choices: unknown choice {name!r}")
            if type(value) is int:
                choices.append((name, _int(value, f"action.choices.{name}")))
            else:
                choices.append((name, _ext_from_json(value, f"action.choices.{name}")))
        return Action(oi, self.ops[oi], tuple(choices))


_CHOICE_NAMES = frozenset({"block", "frames", "ipa", "frame", "balloon"})


def _json_ext(ext: Extents) -> list[list[int]]:
    return [[s, c] for s, c in ext]


def _ext_from_json(v: Any, what: str) -> Extents:
    if not isinstance(v, list):
        raise ValueError(f"{what}: expected a list of [start, count] pairs")  # noqa: TRY004
    out: list[tuple[int, int]] = []
    for item in v:
        if not (isinstance(item, list) and len(item) == 2 and all(type(x) is int for x in item)):
            raise ValueError(f"{what}: {item!r} is not a [start, count] pair of integers")
        out.append((item[0], item[1]))
    ext = tuple(out)
    if not ex.is_normal(ext):
        raise ValueError(f"{what}: extents must be sorted, positive, disjoint and not touching")
    return ext


def _int(v: Any, what: str, lo: int = 0) -> int:
    if type(v) is not int or v < lo:
        raise ValueError(f"{what}: expected an integer >= {lo}, got {v!r}")
    return v


def _keys(obj: Any, what: str, required: set[str],
          optional: frozenset[str] = frozenset()) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise ValueError(f"{what}: expected an object")  # noqa: TRY004
    missing = required - obj.keys()
    extra = obj.keys() - required - optional
    if missing:
        raise ValueError(f"{what}: missing {', '.join(sorted(missing))}")
    if extra:
        raise ValueError(f"{what}: unexpected {', '.join(sorted(extra))}")
    return obj
