"""Ticket priority: a pure function of the hand-off reason, the transcript and the customer.

    low < normal < high < urgent

Rules, each recorded on the ticket by name when it decides the priority:
  - legal_threat     the customer mentions legal action, a lawyer, a regulator        -> urgent
  - repeated_contact the customer says this is not the first time they write or call  -> high
  - anger            the hand-off is for frustration, or the text shouts              -> high
  - urgency          the customer says it is urgent / blocking ("asap", "urgent")     -> high
  - category_floor   the desk configuration's floor for the ticket's category         -> at least that
  - vip_customer     the customer's tier is vip / premium / gold, signed by the site    -> one step up
                     (an unverified tier, which anyone can claim, changes nothing: tier0.identity)
  - reason_default   otherwise, from the reason                                       -> normal
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Optional, Tuple

from tier0.text import normalize
from tier0.vocab import HandoffReason, Priority

PRIORITIES = Priority.values()  # plain strings, lowest first

_LEGAL = re.compile(
    r"\b(sue|suing|lawsuit|lawyer|attorney|legal action|court|trading standards|small claims|"
    r"avocat|tribunal|proces|porter plainte|plainte|poursuivre en justice|justice|mise en demeure|"
    r"dgccrf|ufc|que choisir|60 millions|huissier)\b"
)
_REPEATED = re.compile(
    r"\b(again|(second|third|fourth|2nd|3rd|4th|\d+(st|nd|rd|th)) time|many times|several times|"
    r"already (called|contacted|written|wrote|emailed|asked)|still (no|not)|for weeks|"
    r"encore une fois|(deuxieme|troisieme|quatrieme|2e|3e|4e|2eme|3eme|4eme) fois|plusieurs fois|"
    r"deja (appele|contacte|ecrit|demande)|toujours pas|toujours rien|depuis des semaines)\b"
)
_ANGRY_WORDS = re.compile(
    r"\b(scandal\w*|inadmissible|unacceptable|ridiculous|disgrace\w*|outrage\w*|furious|fed up|"
    r"j'en ai marre|marre|honteux|honte|arnaque|scam|worst|nul|pathetic|lamentable)\b"
)
_URGENT = re.compile(
    r"\b(urgent\w*|asap|as soon as possible|emergency|immediately|right now|right away|blocked|"
    r"urgence|au plus vite|des que possible|immediatement|tout de suite|bloque|bloquee)\b"
)
_VIP_TIERS = {"vip", "premium", "gold", "platinum", "plus"}


def _shouts(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return len(letters) >= 12 and sum(c.isupper() for c in letters) / len(letters) > 0.7 or "!!!" in text


def bump(priority: str, steps: int = 1) -> str:
    i = min(len(PRIORITIES) - 1, max(0, PRIORITIES.index(priority) + steps))
    return PRIORITIES[i]


def at_least(priority: str, floor: str) -> bool:
    return Priority(priority).at_least(floor)


def compute_priority(
    reason: str,
    customer_texts: Iterable[str],
    customer_tier: Optional[str] = None,
    category: Optional[str] = None,
    category_floor: Optional[Mapping[str, str]] = None,
    tier_verified: bool = False,
) -> Tuple[str, str]:
    """Return ``(priority, rule)`` for a new ticket; ``rule`` names what decided it. ``customer_tier`` counts only
    with ``tier_verified`` (the site signed it)."""
    texts = list(customer_texts)
    norm = " ".join(normalize(t) for t in texts)
    if _LEGAL.search(norm):
        priority, rule = Priority.URGENT.value, "legal_threat"
    elif _REPEATED.search(norm):
        priority, rule = Priority.HIGH.value, "repeated_contact"
    elif reason == HandoffReason.FRUSTRATION or _ANGRY_WORDS.search(norm) or any(_shouts(t) for t in texts):
        priority, rule = Priority.HIGH.value, "anger"
    elif _URGENT.search(norm):
        priority, rule = Priority.HIGH.value, "urgency"
    else:
        priority, rule = Priority.NORMAL.value, "reason_default"
    floor = (category_floor or {}).get(category or "")
    if floor and not at_least(priority, floor):
        priority, rule = floor, f"category_floor:{category}"
    if tier_verified and customer_tier and customer_tier.strip().lower() in _VIP_TIERS:
        priority, rule = bump(priority), f"{rule}+vip_customer"
    return priority, rule
