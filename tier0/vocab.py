"""The words of the domain, defined once.

Every package (the storage models, the services, the HTTP schemas, the CLI and the desk YAML file's checks) names
roles, priorities, statuses, reasons, languages and limits from here. The enums are ``str`` enums: a member equals
its value (``Priority.HIGH == "high"``), so rows stored as plain strings and JSON payloads read back unchanged.

    levels       0 the bot · 1 first-line agents · 2 specialists · 3 experts / management
    priorities   low < normal < high < urgent
    escalation   functional (a specialist team, same authority) or hierarchical (someone with more authority)
"""

from __future__ import annotations

from enum import Enum
from typing import Tuple, Type, TypeVar


class Word(str, Enum):
    """A closed set of domain words: ``str(member)`` and JSON give the bare value."""

    def __str__(self) -> str:
        return str(self.value)

    @classmethod
    def values(cls) -> Tuple[str, ...]:
        return tuple(m.value for m in cls)

    @property
    def rank(self) -> int:
        """Its place among the members, lowest first (meaningful for the ordered words: roles, priorities)."""
        return list(type(self)).index(self)

    def at_least(self, other: str) -> bool:
        """Ranked at or above ``other`` (a member or its value)."""
        return self.rank >= type(self)(other).rank

    @classmethod
    def pattern(cls) -> str:
        """A regular expression matching exactly the values (for query-string and schema checks)."""
        return "^(" + "|".join(cls.values()) + ")$"


W = TypeVar("W", bound=Word)


def parse(kind: Type[W], value: str, what: str) -> W:
    """``value`` as a member of ``kind``, or ValueError naming ``what`` and the allowed values."""
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{what} must be one of {', '.join(kind.values())} (got {value!r})") from None


# -- people ---------------------------------------------------------------------------------------------------------
class Role(Word):
    """Desk roles, each allowed what the ones before it are: an agent works tickets of their queues; an editor also
    writes, tries and publishes knowledge-base articles (the editor console); a lead also reads the desk's
    configuration and the escalation analytics; an admin manages accounts and runs the SLA scheduler by hand."""

    AGENT = "agent"
    EDITOR = "editor"
    LEAD = "lead"
    ADMIN = "admin"


# -- tickets --------------------------------------------------------------------------------------------------------
class Priority(Word):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TicketStatus(Word):
    """Where a ticket is (handoff.states holds the transitions)."""

    WAITING = "waiting"  # in a queue, nobody has it
    AGENT = "agent"  # claimed: an agent owns the conversation
    RESOLVED = "resolved"
    RETURNED = "returned"  # handed back to the bot


OPEN_TICKET_STATUSES = (TicketStatus.WAITING, TicketStatus.AGENT)  # a person owns the conversation


class HandoffReason(Word):
    CUSTOMER_REQUEST = "customer_request"
    LOW_CONFIDENCE = "low_confidence"
    NOT_HELPFUL = "not_helpful"
    REPEATED_FAILURE = "repeated_failure"
    FRUSTRATION = "frustration"
    NEEDS_AUTHORITY = "needs_authority"
    EMAIL = "email"  # a customer's e-mail: no bot turn, straight to a queue


class EscalationKind(Word):
    FUNCTIONAL = "functional"
    HIERARCHICAL = "hierarchical"


LEVELS = (1, 2, 3)  # the people's levels; the bot is level 0


# -- conversations --------------------------------------------------------------------------------------------------
class Ownership(Word):
    """Who speaks for the company in a conversation (tier0.conversations holds the transitions)."""

    BOT = "bot"
    HANDED_OFF = "handed_off"  # a ticket is open or was: people answer, the bot stays silent


class Channel(Word):
    WEB = "web"
    EMAIL = "email"
    API = "api"
    EVAL = "eval"  # replayed cases of `tier0 eval`


class Sender(Word):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


# -- the knowledge base ---------------------------------------------------------------------------------------------
class DeliveryStatus(Word):
    """An outbound webhook delivery."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class ArticleStatus(Word):
    DRAFT = "draft"
    PUBLISHED = "published"
    ARCHIVED = "archived"


# -- the editor console (#22 A) -------------------------------------------------------------------------------------
# Limits of an article written in the editor (knowledge_base.editing.check_article): refused with 422 beyond them.
MAX_ARTICLE_TITLE_CHARS = 300
MAX_ARTICLE_BODY_CHARS = 100_000  # ~100 KB of Markdown: a long help page; the HTTP body limit (256 KB) holds it
MAX_ARTICLE_QUESTIONS = 50  # alternate phrasings
MAX_ARTICLE_QUESTION_CHARS = 500
MAX_ARTICLE_TAGS = 30
MAX_ARTICLE_TAG_CHARS = 50
MAX_ARTICLE_CATEGORY_CHARS = 100
MAX_VERSION_NOTE_CHARS = 500
MAX_ARTICLE_PAGE = 500  # rows of the editor's article list in one response


class ArticleView(Word):
    """Which content of an article a version comparison names besides version numbers."""

    LIVE = "live"
    DRAFT = "draft"


# -- analytics (#22 D, E) -------------------------------------------------------------------------------------------


# -- try it, calibration health and refit (#22 BC) ----------------------------------------------------------------
class TryDecision(Word):
    """What the bot would do with a question (POST /api/editor/try)."""

    ANSWER = "answer"  # answers from the top article
    SUGGEST = "suggest"  # unsure: offers articles to pick from
    CLARIFY = "clarify"  # two articles are close (or nothing plausible): asks which one, or to rephrase
    HANDOFF = "handoff"  # a person takes over (a hand-off topic)


DRAFT_ID = "~draft"  # the id a draft without one is tried under ("~" is never in an article id: no clash)
TRYIT_MAX_TITLE_CHARS = 300
TRYIT_MAX_BODY_CHARS = 100_000  # a draft's Markdown body tried (the longest sample article is ~3,000)
TRYIT_MAX_QUESTIONS = 50  # alternate questions of a draft tried
TRYIT_MAX_TAGS = 30
TRYIT_MAX_ID_CHARS = 200


# -- the website widget (#23) ---------------------------------------------------------------------------------------
class SurveyResolvedBy(Word):
    """Who the satisfaction survey rates (survey_answers.resolved_by): the person if a ticket was resolved."""

    BOT = "bot"
    AGENT = "agent"


class IdempotencyState(Word):
    PENDING = "pending"  # the first request's turn is running
    DONE = "done"  # its result is stored


MIN_SEARCH_CHARS = 2  # GET /api/search?q=: what a customer typed, stripped
MAX_SEARCH_CHARS = 200
SEARCH_RESULTS = 3  # suggestions while typing
SNIPPET_CHARS = 160  # a suggestion's snippet (plain text, cut at a word)
MAX_IDEMPOTENCY_KEY_CHARS = 100
MAX_SURVEY_COMMENT_CHARS = 1000


# -- languages and limits -------------------------------------------------------------------------------------------
class Language(Word):
    EN = "en"
    FR = "fr"


SUPPORTED_LANGUAGES = Language.values()
MAX_MESSAGE_CHARS = 4000  # one chat message, a reply or a note
MAX_EMAIL_CHARS = 20000  # an inbound e-mail before it is cut to one message
MAX_NAME_CHARS = 200
MAX_EMAIL_ADDRESS_CHARS = 320
MAX_REQUEST_BYTES = 256 * 1024  # any HTTP request body (an inbound e-mail of MAX_EMAIL_CHARS, JSON-escaped, fits)


# -- import, export, HTML (#22 F) -----------------------------------------------------------------------------------
MAX_HTML_CHARS = 200_000  # an HTML page pasted into the editor to become Markdown (POST /api/editor/convert-html)
