"""The desk configuration the operator edits (``data/desk.yml`` is the bundled sample): queues with their level,
opening hours, members and escalation paths; the routing matrix for bot hand-offs; priority floors; SLA targets;
outbound webhooks. Loaded and validated once; every problem is reported as ``FILE: where: what``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import yaml

from handoff.priority import PRIORITIES
from handoff.sla import ALWAYS, BusinessHours, SlaPolicy, SlaTarget, hours_from_spec
from tier0.errors import InvalidInput
from tier0.vocab import LEVELS, EscalationKind, HandoffReason, Language

ESCALATION_KINDS = EscalationKind.values()
ROUTE_KEYS = ("topic", "category", "reason", "language")
REASONS = HandoffReason.values()


class DeskConfigError(InvalidInput):
    code = "desk_config"


@dataclass(frozen=True)
class Queue:
    name: str
    level: int
    names: Mapping[str, str]
    hours: BusinessHours = ALWAYS
    members: Tuple[str, ...] = ()
    escalate: Mapping[str, str] = field(default_factory=dict)
    handling_minutes: float = 6.0
    description: str = ""

    def display(self, lang: Optional[str]) -> str:
        return self.names.get(lang or Language.EN) or self.names.get(Language.EN) or self.name


@dataclass(frozen=True)
class Route:
    when: Mapping[str, Tuple[str, ...]]
    queue: str

    def matches(self, facts: Mapping[str, Optional[str]]) -> bool:
        return all((facts.get(k) or "") in values for k, values in self.when.items())


@dataclass
class DeskConfig:
    queues: Dict[str, Queue]
    routes: List[Route]
    sla: SlaPolicy
    category_priority: Dict[str, str] = field(default_factory=dict)
    webhooks: List[Dict[str, Any]] = field(default_factory=list)
    source: str = "<built-in>"

    def queue(self, name: str) -> Queue:
        q = self.queues.get(name)
        if q is None:
            # A KB may name a hand-off topic the matrix does not know: it lands in the catch-all queue's team.
            return Queue(name, 1, {language.value: name for language in Language})
        return q

    def route(
        self,
        reason: str,
        topic: Optional[str] = None,
        category: Optional[str] = None,
        language: Optional[str] = None,
    ) -> Queue:
        """The matrix: first matching rule; an unknown topic that names a queue goes to that queue."""
        if reason not in REASONS:
            raise InvalidInput(f"unknown hand-off reason {reason!r}")
        facts = {"topic": topic, "category": category, "reason": reason, "language": language}
        for r in self.routes:
            if r.when and r.matches(facts):
                return self.queues[r.queue]
        if topic and topic in self.queues:
            return self.queues[topic]
        return self.queues[self.routes[-1].queue]

    def escalation_target(self, queue: str, kind: str) -> Optional[Queue]:
        q = self.queues.get(queue)
        if q is None or kind not in q.escalate:
            return None
        return self.queues[q.escalate[kind]]

    def queues_of(self, username: str) -> List[str]:
        return [q.name for q in self.queues.values() if username in q.members]


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d)\s*$")


def parse_minutes(value: Any, where: str) -> float:
    """``"5m"`` / ``"4h"`` / ``"1d"`` (24 business hours) / a number of minutes."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    m = _DURATION.match(str(value))
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"{where}: {value!r} is not a duration like 5m, 4h or 1d")
    n, unit = float(m.group(1)), m.group(2)
    return n * {"m": 1, "min": 1, "h": 60, "d": 1440}[unit]


def _as_tuple(value: Any) -> Tuple[str, ...]:
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def _check_keys(obj: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; expected {', '.join(allowed)}")


def parse_config(raw: Mapping[str, Any], source: str = "<dict>") -> DeskConfig:
    try:
        return _parse(raw, source)
    except ValueError as e:
        raise DeskConfigError(f"{source}: {e}") from None


def _parse(raw: Mapping[str, Any], source: str) -> DeskConfig:
    if not isinstance(raw, Mapping):
        raise ValueError("the file must be a YAML mapping")
    _check_keys(
        raw,
        ("timezone", "business_hours", "holidays", "queues", "routes", "priority", "sla", "webhooks"),
        "top level",
    )
    tz = str(raw.get("timezone") or "UTC")
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(tz)
    except Exception:  # noqa: BLE001 - ZoneInfoNotFoundError, ValueError
        raise ValueError(f"timezone: unknown time zone {tz!r}") from None
    holidays = set()
    for h in raw.get("holidays") or []:
        try:
            holidays.add(h if isinstance(h, dt.date) else dt.date.fromisoformat(str(h)))
        except ValueError:
            raise ValueError(f"holidays: {h!r} is not a date like 2026-12-25") from None
    calendars: Dict[str, BusinessHours] = {"24/7": ALWAYS}
    for name, spec in (raw.get("business_hours") or {}).items():
        calendars[str(name)] = hours_from_spec(str(name), spec, tz, frozenset(holidays))

    queues: Dict[str, Queue] = {}
    raw_queues = raw.get("queues") or {}
    if not isinstance(raw_queues, Mapping) or not raw_queues:
        raise ValueError("queues: at least one queue is needed")
    for name, q in raw_queues.items():
        where = f"queues.{name}"
        if not isinstance(q, Mapping):
            raise ValueError(f"{where}: expected a mapping")
        _check_keys(q, ("level", "names", "hours", "members", "escalate", "handling_minutes", "description"), where)
        level = q.get("level", 1)
        if level not in LEVELS:
            raise ValueError(f"{where}.level: must be 1, 2 or 3, not {level!r}")
        hours_name = str(q.get("hours", "24/7"))
        if hours_name not in calendars:
            raise ValueError(f"{where}.hours: no business_hours named {hours_name!r}")
        escalate = dict(q.get("escalate") or {})
        for kind in escalate:
            if kind not in ESCALATION_KINDS:
                raise ValueError(f"{where}.escalate: unknown kind {kind!r}; use {' or '.join(ESCALATION_KINDS)}")
        names = {str(k): str(v) for k, v in (q.get("names") or {}).items()} or {Language.EN.value: str(name)}
        queues[str(name)] = Queue(
            name=str(name),
            level=int(level),
            names=names,
            hours=calendars[hours_name],
            members=tuple(str(m) for m in (q.get("members") or [])),
            escalate={k: str(v) for k, v in escalate.items()},
            handling_minutes=parse_minutes(q.get("handling_minutes", 6), f"{where}.handling_minutes"),
            description=str(q.get("description") or ""),
        )
    for q in queues.values():
        for kind, target in q.escalate.items():
            if target not in queues:
                raise ValueError(f"queues.{q.name}.escalate.{kind}: no queue named {target!r}")
            if queues[target].level != q.level + 1:
                raise ValueError(
                    f"queues.{q.name}.escalate.{kind}: {target!r} is level {queues[target].level}; "
                    f"escalation goes exactly one level up (to level {q.level + 1})"
                )

    routes: List[Route] = []
    for i, r in enumerate(raw.get("routes") or []):
        where = f"routes[{i}]"
        if not isinstance(r, Mapping):
            raise ValueError(f"{where}: expected a mapping with 'queue' and optional 'when'")
        _check_keys(r, ("when", "queue"), where)
        when = r.get("when") or {}
        if not isinstance(when, Mapping):
            raise ValueError(f"{where}.when: expected a mapping")
        _check_keys(when, ROUTE_KEYS, f"{where}.when")
        if str(r.get("queue")) not in queues:
            raise ValueError(f"{where}.queue: no queue named {r.get('queue')!r}")
        for reason in _as_tuple(when.get("reason", ())) if "reason" in when else ():
            if reason not in REASONS:
                raise ValueError(f"{where}.when.reason: unknown reason {reason!r}")
        routes.append(Route({k: _as_tuple(v) for k, v in when.items()}, str(r["queue"])))
    if not routes or routes[-1].when:
        raise ValueError("routes: the last rule must have no 'when' (the catch-all queue)")

    prio = raw.get("priority") or {}
    _check_keys(prio, ("categories",), "priority")
    category_priority = {}
    for cat, p in (prio.get("categories") or {}).items():
        if p not in PRIORITIES:
            raise ValueError(f"priority.categories.{cat}: {p!r} is not one of {', '.join(PRIORITIES)}")
        category_priority[str(cat)] = str(p)

    targets: Dict[int, Dict[str, SlaTarget]] = {}
    for key, per_prio in (raw.get("sla") or {}).items():
        m = re.fullmatch(r"level([123])", str(key))
        if not m:
            raise ValueError(f"sla.{key}: expected level1, level2 or level3")
        level = int(m.group(1))
        targets[level] = {}
        for p, t in (per_prio or {}).items():
            where = f"sla.{key}.{p}"
            if p not in PRIORITIES:
                raise ValueError(f"{where}: {p!r} is not one of {', '.join(PRIORITIES)}")
            if not isinstance(t, Mapping):
                raise ValueError(f"{where}: expected {{first_response: 5m, resolution: 20m}}")
            _check_keys(t, ("first_response", "resolution"), where)
            fr = parse_minutes(t.get("first_response"), f"{where}.first_response")
            res = parse_minutes(t.get("resolution"), f"{where}.resolution")
            if fr > res:
                raise ValueError(f"{where}: first_response is longer than resolution")
            targets[level][p] = SlaTarget(fr, res)
    for level in {q.level for q in queues.values()}:
        if level not in targets:
            from handoff.sla import DEFAULT_POLICY

            targets[level] = DEFAULT_POLICY.targets[level]

    webhooks = raw.get("webhooks") or []
    if not isinstance(webhooks, list):
        raise ValueError("webhooks: expected a list")
    return DeskConfig(queues, routes, SlaPolicy(targets), category_priority, list(webhooks), source)


def load_config(path: Path) -> DeskConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise DeskConfigError(f"{path}: cannot read ({e.strerror})") from None
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise DeskConfigError(f"{path}{line}: not valid YAML ({getattr(e, 'problem', e)})") from None
    return parse_config(raw, str(path))
