"""Personal data in free text: :func:`mask` hides card numbers, IBANs, phone numbers and e-mail addresses.

It is the one function every place that keeps or sends customers' words outside the desk calls: the logs
(:class:`MaskingFilter`, installed by :func:`install_log_masking`), webhook payloads of endpoints with ``redact: true``
(:func:`mask_data`), the customers' questions the calibration learns from (bot.feedback), and any future analytics.
Agents still read what the customer wrote: the desk's transcript is never masked.

Each kind is found by a loose pattern and confirmed by a maintained validator, so order numbers, ticket references,
prices, dates and times stay as they are:

    card number   13 to 19 digits (spaces, dashes or dots between groups), the Luhn checksum (python-stdnum) and a
                  payment network's first digit (2 to 6)                          -> ``[card ••••4242]``
    IBAN          country code, check digits and account (grouped or not), checked with python-stdnum's ``iban``
                  (checksum and the country's length and format)                  -> ``[IBAN FR76 ••••]``
    phone number  Google's libphonenumber (``phonenumbers.PhoneNumberMatcher``, leniency VALID) for international
                  numbers and the national formats of :data:`PHONE_REGIONS`; a bare run of digits counts only with
                  a trunk ``0`` (``0612345678``), so an order number is not a phone  -> ``[phone]``
    e-mail        a loose address pattern (no validator needed: masking a near-address costs nothing) -> ``[email]``

The masks keep a hint an agent or analyst can use (the card's last four digits, the IBAN's country) and never
enough to rebuild the number. ``mask(mask(x)) == mask(x)``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, Iterable, List, Optional, Tuple

import phonenumbers
from stdnum import iban, luhn

# National formats recognised without a +country prefix. French covers most of the French-speaking neighbours'
# national formats too (a Belgian 04.. or Swiss 07.. number has the shape of a French one); any number written with
# its +prefix is found whatever its country.
PHONE_REGIONS: Tuple[str, ...] = ("FR", "GB", "US")
SEPARATORS = " \u00a0\u202f.-"  # what customers type between groups of digits: spaces (also non-breaking), dots, dashes
_SEP = "[" + re.escape(SEPARATORS) + "]"

EMAIL = re.compile(r"(?<![\w.%+-])[\w.%+-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9-])")
# a run of digits with single separators between them, at least 13 digits, not glued to a word
_CARD_SPAN = re.compile(r"(?<![A-Za-z0-9])\d(?:" + _SEP + r"?\d){12,}(?![A-Za-z0-9])")
# a country code and check digits (maybe with a separator between), then up to 32 more letters and digits
_IBAN_SPAN = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}" + _SEP + r"?\d{2}(?:" + _SEP + r"?[A-Za-z0-9]){10,32}")
_CHUNK = re.compile(r"[A-Za-z0-9]+")
_PHONE_CHARS = re.compile(r"\d")


def card_mask(digits: str) -> str:
    return f"[card ••••{digits[-4:]}]"


def iban_mask(compact: str) -> str:
    return f"[IBAN {compact[:4].upper()} ••••]"


PHONE_MASK = "[phone]"
EMAIL_MASK = "[email]"


def is_card_number(digits: str) -> bool:
    """13 to 19 digits, a payment network's first digit (2 Mastercard, 3 Amex/Diners/JCB, 4 Visa, 5 Mastercard/
    Maestro, 6 Discover/UnionPay/Maestro) and a valid Luhn checksum."""
    return digits.isdigit() and 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn.is_valid(digits)


def is_iban(compact: str) -> bool:
    return 15 <= len(compact) <= 34 and compact[:2].isalpha() and compact[2:4].isdigit() and iban.is_valid(compact)


def _replace_windows(text: str, span: "re.Pattern[str]", accept: Callable[[str], Optional[str]],
                     max_len: int, from_first_chunk: bool) -> str:
    """In every ``span`` match, the longest runs of whole chunks (letters and digits between separators) that
    ``accept`` turns into a mask, left to right; a chunk is never cut (a longer number is not a card)."""
    out: List[str] = []
    last = 0
    for m in span.finditer(text):
        chunks = [(c.start() + m.start(), c.end() + m.start(), c.group()) for c in _CHUNK.finditer(m.group())]
        i = 0
        while i < len(chunks):
            found = None
            compact = ""
            ends: List[Tuple[int, str]] = []
            for j in range(i, len(chunks)):
                compact += chunks[j][2]
                if len(compact) > max_len:
                    break
                ends.append((j, compact))
            for j, candidate in reversed(ends):
                masked = accept(candidate)
                if masked is not None:
                    found = (j, masked)
                    break
            if found is not None:
                j, masked = found
                out.append(text[last:chunks[i][0]])
                out.append(masked)
                last = chunks[j][1]
                i = j + 1
            elif from_first_chunk:
                break
            else:
                i += 1
    out.append(text[last:])
    return "".join(out)


def _accept_card(candidate: str) -> Optional[str]:
    return card_mask(candidate) if is_card_number(candidate) else None


def _accept_iban(candidate: str) -> Optional[str]:
    return iban_mask(candidate) if is_iban(candidate.upper()) else None


def _phone_spans(text: str, regions: Iterable[str]) -> List[Tuple[int, int]]:
    spans: List[Tuple[int, int]] = []
    for region in regions:
        for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.VALID):
            raw = match.raw_string
            # a bare run of digits is a phone number only with a trunk 0 (0612345678); 4155550132 may be an order
            if raw.isdigit() and not raw.startswith("0"):
                continue
            spans.append((match.start, match.end))
    merged: List[Tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mask(text: str, regions: Iterable[str] = PHONE_REGIONS) -> str:
    """``text`` with card numbers, IBANs, phone numbers and e-mail addresses replaced by masks (module docstring).
    Returns ``text`` itself when there is nothing to mask (cheap: most texts have no '@' and few digits)."""
    if not isinstance(text, str) or not text:
        return text
    has_at = "@" in text
    digits = len(_PHONE_CHARS.findall(text))
    if not has_at and digits < 6:
        return text
    out = EMAIL.sub(EMAIL_MASK, text) if has_at else text
    if digits >= 13:
        out = _replace_windows(out, _IBAN_SPAN, _accept_iban, 34, from_first_chunk=True)
        out = _replace_windows(out, _CARD_SPAN, _accept_card, 19, from_first_chunk=False)
    if len(_PHONE_CHARS.findall(out)) >= 6:
        spans = _phone_spans(out, regions)
        for start, end in reversed(spans):
            out = out[:start] + PHONE_MASK + out[end:]
    return out if out != text else text


def mask_data(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings …) with :func:`mask` applied to every string in it; keys and other
    values unchanged. What a webhook endpoint with ``redact: true`` receives."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {k: mask_data(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_data(v) for v in value]
    return value


class MaskingFilter(logging.Filter):
    """A handler filter: the formatted message (and a traceback's text) of every record, masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's to report, not ours
            return True
        masked = mask(message)
        if masked is not message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
        return True


# the handlers tier0's records reach: the root logger's (logging.basicConfig, the CLI) and uvicorn's own
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")


def install_log_masking(loggers: Iterable[str] = LOGGERS) -> int:
    """Put a :class:`MaskingFilter` on every handler of these loggers that has none yet; returns how many it added.
    Call it after logging is configured (a handler added later is not covered: call it again)."""
    added = 0
    for name in loggers:
        for handler in logging.getLogger(name).handlers:
            if not any(isinstance(f, MaskingFilter) for f in handler.filters):
                handler.addFilter(MaskingFilter())
                added += 1
    return added
