"""Where a hand-off goes: the queue (team) and its display names.

The article's ``handoff: QUEUE`` wins for its topic; otherwise the default tier-1 queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional

REASONS = ("customer_request", "low_confidence", "not_helpful", "repeated_failure", "frustration", "needs_authority")


@dataclass(frozen=True)
class QueueInfo:
    name: str
    names: Dict[str, str]  # language -> team name shown to the customer
    level: int = 1
    minutes_per_ticket: float = 6.0  # planning estimate of handling time, used for the expected wait

    def display(self, lang: Optional[str]) -> str:
        return self.names.get(lang or "en") or self.names.get("en") or self.name


DEFAULT_QUEUES: Dict[str, QueueInfo] = {
    "tier1": QueueInfo("tier1", {"en": "customer service", "fr": "service client"}),
    "billing": QueueInfo("billing", {"en": "billing", "fr": "facturation"}, minutes_per_ticket=10.0),
    "complaints": QueueInfo("complaints", {"en": "complaints", "fr": "réclamations"}, minutes_per_ticket=12.0),
}


def queue_info(name: str) -> QueueInfo:
    return DEFAULT_QUEUES.get(name) or QueueInfo(name, {"en": name, "fr": name})


def route(reason: str, article_queue: Optional[str], default_queue: str = "tier1") -> str:
    """Pure routing decision: the topic's queue when the article names one, else the default queue."""
    if reason not in REASONS:
        raise ValueError(f"unknown hand-off reason {reason!r}")
    return article_queue or default_queue
