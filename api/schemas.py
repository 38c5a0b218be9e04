"""The HTTP API's request and response bodies (pydantic v1), one section an audience.

Limits come from tier0.vocab, so the API, the services and the CLI refuse the same things. Response models name the
fields a client may rely on; the nested records the desk shows as they are (a ticket's customer data, what the bot
tried, an SLA clock) are open objects (``extra = allow``) whose documented fields are typed and whose other fields
pass through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Union

from pydantic import BaseModel, Field, conint, constr, root_validator

from tier0.vocab import (
    MAX_ARTICLE_BODY_CHARS,
    MAX_ARTICLE_QUESTION_CHARS,
    MAX_ARTICLE_QUESTIONS,
    MAX_ARTICLE_TAGS,
    MAX_ARTICLE_TITLE_CHARS,
    MAX_EMAIL_ADDRESS_CHARS,
    MAX_EMAIL_CHARS,
    MAX_HTML_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
    MAX_SURVEY_COMMENT_CHARS,
    MAX_VERSION_NOTE_CHARS,
    EscalationKind,
    Language,
    Priority,
    Role,
    TicketStatus,
)

if TYPE_CHECKING:  # constrained strings are plain strings to the type checker
    MessageText = str
    OptionalNote = Optional[str]
else:
    MessageText = constr(strict=True, min_length=1, max_length=MAX_MESSAGE_CHARS)
    OptionalNote = Optional[constr(strict=True, max_length=MAX_MESSAGE_CHARS)]


class Open(BaseModel):
    """A record whose documented fields are typed and whose other fields pass through."""

    class Config:
        extra = "allow"


# -- the customer's widget ---------------------------------------------------------------------------------------
class Customer(BaseModel):
    id: Optional[str] = Field(None, max_length=MAX_NAME_CHARS)
    name: Optional[str] = Field(None, max_length=MAX_NAME_CHARS)
    email: Optional[str] = Field(None, max_length=MAX_EMAIL_ADDRESS_CHARS)
    tier: Optional[str] = Field(None, max_length=50, description="e.g. standard, vip")
    signature: Optional[str] = Field(
        None, max_length=128,
        description="the site's hex HMAC-SHA256 of id, email and tier (TIER0_IDENTITY_SECRET; docs/security.md): "
                    "without it the attributes are kept as unverified and change nothing; a wrong one is 403")


class StartConversation(BaseModel):
    language: Optional[Language] = Field(None, description="the page's language, if known")
    customer: Optional[Customer] = None


class ConversationStarted(BaseModel):
    conversation_id: str
    token: str = Field(..., description="customer token: send it as 'Authorization: Bearer <token>'")


class SendMessage(BaseModel):
    text: MessageText = Field(..., description="the customer's message")  # type: ignore[valid-type]


# What the customer's page may see is a closed list: the models below name every field the widget receives (a
# field the bot or the desk adds later stays out until it is named here); optional fields absent from a turn are
# left out of the response, not sent as null (api.widget builds them; tests/integration/test_desk_api.py checks
# the exact keys).
class PublicSource(BaseModel):
    """An article the bot cites (no scores, no routing)."""

    article_id: str
    title: str
    lang: Optional[str] = None
    url: Optional[str] = None
    version: Optional[int] = Field(None, description="the version of the article the answer was taken from")


class BotMessageOut(BaseModel):
    id: int
    text: str
    buttons: List[Dict[str, str]] = []
    sources: List[PublicSource] = []
    html: Optional[str] = Field(None, description="a message citing an article: its text as sanitised HTML (W1)")


class Outcome(BaseModel):
    """What the customer's page may know of a turn's outcome."""

    type: str = Field(..., description="answer | clarify | handoff | other")
    article_id: Optional[str] = Field(None, description="answer: the article cited")
    version: Optional[int] = Field(None, description="answer: the version of the article cited")
    confidence: Optional[float] = Field(None, description="answer, clarify: how sure the bot was")
    options: Optional[List[str]] = Field(None, description="clarify: the articles suggested")
    chosen: Optional[bool] = Field(None, description="answer: the customer picked it among suggestions")
    feedback: Optional[str] = Field(None, description="other: helpful, after a yes to an answer")
    ticket_id: Optional[str] = Field(None, description="handoff: the ticket's reference")


class PublicTicket(BaseModel):
    """A ticket as its customer sees it (the desk's ticket stays on the desk)."""

    id: str = Field(..., description="the ticket's reference, e.g. T-1042")
    status: str = Field(..., description="waiting | agent | resolved | returned")
    team: Optional[str] = Field(None, description="the team's name in the customer's language")
    position: Optional[int] = Field(None, description="place in the queue, when handed off")
    expected_wait_minutes: Optional[int] = None
    agent: Optional[str] = Field(None, description="the display name of the person on it")
    offline: Optional[bool] = Field(None, description="nobody can take it now (W1): offer POST …/contact")
    opens_at: Optional[str] = Field(None, description="offline because the team is closed: when it opens (UTC)")


class TurnOut(BaseModel):
    conversation_id: str
    language: str
    messages: List[BotMessageOut]
    outcome: Outcome
    ticket: Optional[PublicTicket] = None


class TranscriptMessage(BaseModel):
    id: int
    sender: str
    text: str
    data: Dict[str, Any] = {}
    created_at: str


class PublicMessageData(BaseModel):
    buttons: Optional[List[Dict[str, str]]] = None
    sources: Optional[List[PublicSource]] = None
    outcome: Optional[Outcome] = None
    agent: Optional[str] = Field(None, description="agent messages: who wrote it (display name)")
    notice: Optional[str] = Field(None, description="system messages: what happened (escalated, resolved ...)")


class CustomerMessage(BaseModel):
    """A message of the transcript as its customer reads it (GET .../messages and the event stream)."""

    id: int
    sender: str
    text: str
    data: PublicMessageData
    created_at: str
    html: Optional[str] = Field(None, description="a message citing an article: its text as sanitised HTML (W1)")


class Transcript(BaseModel):
    conversation_id: str
    status: str
    language: Optional[str]
    messages: List[CustomerMessage]
    more: bool = Field(False, description="later messages exist: ask again with after=<the last message's id>")
    ended_at: Optional[str] = Field(None, description="the customer ended it (POST …/end): no new message (W1)")
    ticket: Optional[PublicTicket] = Field(None, description="the open request for a person, as of now: its team, "
                                           "place in the queue and expected wait, or who is on it")


class ArticleOut(BaseModel):
    id: str
    title: str
    lang: str
    category: Optional[str]
    tags: List[str]
    body: str
    html: Optional[str] = Field(None, description="the body as sanitised HTML (W1)")


# -- the desk --------------------------------------------------------------------------------------------------------
class Login(BaseModel):
    username: constr(strict=True, min_length=1, max_length=64)  # type: ignore[valid-type]
    password: constr(strict=True, min_length=1, max_length=1000)  # type: ignore[valid-type]


class AgentOut(BaseModel):
    username: str
    display_name: Optional[str]
    role: Role
    queues: List[str]
    must_change_password: bool = Field(False, description="true: only /me, logout and the password change answer")


class AgentAccountOut(AgentOut):
    active: bool
    online: bool


class LoginOut(BaseModel):
    token: str
    expires_at: str
    agent: AgentOut


class PasswordChange(BaseModel):
    old_password: constr(strict=True, min_length=1, max_length=1000)  # type: ignore[valid-type]
    new_password: constr(strict=True, min_length=10, max_length=1000)  # type: ignore[valid-type]


class StreamTicketOut(BaseModel):
    ticket: str = Field(..., description="open the event stream with ?ticket=<ticket>: once, before expires_at")
    expires_at: str


class TextBody(BaseModel):
    text: MessageText  # type: ignore[valid-type]


class NoteBody(BaseModel):
    note: OptionalNote = None  # type: ignore[valid-type]


class EscalateBody(BaseModel):
    kind: EscalationKind = EscalationKind.FUNCTIONAL
    note: MessageText = Field(..., description="why: the next level reads it")  # type: ignore[valid-type]


class FlagBody(BaseModel):
    message_id: int = Field(..., ge=1, description="the bot message that was wrong")
    note: OptionalNote = None  # type: ignore[valid-type]


class NewAgent(BaseModel):
    username: constr(strict=True, min_length=2, max_length=63)  # type: ignore[valid-type]
    password: constr(strict=True, min_length=10, max_length=1000)  # type: ignore[valid-type]
    role: Role = Role.AGENT
    display_name: Optional[constr(strict=True, max_length=MAX_NAME_CHARS)] = None  # type: ignore[valid-type]


class AgentPatch(BaseModel):
    active: Optional[bool] = None
    password: Optional[constr(strict=True, min_length=10, max_length=1000)] = None  # type: ignore[valid-type]


class SlaClockOut(Open):
    pass


class Ticket(Open):
    """A ticket as the desk shows it (handoff's ticket view)."""

    id: str = Field(..., description="the ticket's reference, e.g. T-1042")
    conversation_id: str
    status: TicketStatus
    assignee: Optional[str]
    queue: str
    level: int
    priority: Priority
    reason: str
    language: Optional[str]
    channel: Optional[str]
    sla: Optional[SlaClockOut]
    actions: List[str] = []


class TicketDetail(Ticket):
    messages: List[TranscriptMessage] = Field([], description="the last messages of the conversation")
    events: List[Dict[str, Any]] = Field([], description="the last events of the ticket's history")
    earlier_messages: bool = Field(False, description="earlier messages exist: GET …/messages?before=<first id>")
    earlier_events: bool = Field(False, description="earlier events exist: GET …/events?before=<first id>")


class TicketMessages(BaseModel):
    ticket: str
    messages: List[TranscriptMessage]
    earlier: bool = Field(..., description="earlier messages exist: ask again with before=<the first id>")


class TicketEvents(BaseModel):
    ticket: str
    events: List[Dict[str, Any]]
    earlier: bool = Field(..., description="earlier events exist: ask again with before=<the first id>")


class QueueOut(Open):
    name: str
    level: int
    waiting: int
    with_agent: int
    breached: int
    online: List[Any]


class FlagOut(BaseModel):
    ticket: str
    article_id: Optional[str]
    question: Optional[str]
    message_id: int


class SlaRunOut(BaseModel):
    actions: List[Dict[str, Any]]


class DeskConfigOut(BaseModel):
    source: Optional[str]
    queues: Dict[str, Dict[str, Any]]
    routes: List[Dict[str, Any]]
    sla: Dict[str, Dict[str, Dict[str, Any]]]


class Delivery(Open):
    id: int
    status: str


# -- inbound channels ------------------------------------------------------------------------------------------------
class InboundEmail(BaseModel):
    """An e-mail as mail providers post it. Accepts Postmark (From, FromName, Subject, TextBody, MessageID,
    To / OriginalRecipient), Mailgun (sender, subject, body-plain / stripped-text, Message-Id, recipient) and
    SendGrid-style (from, subject, text, to). ``recipient`` and ``quoted`` (the whole body, quotes included) are
    only searched for the ticket's reply token (tier0.identity)."""

    sender: constr(strict=True, min_length=3, max_length=MAX_EMAIL_ADDRESS_CHARS)  # type: ignore[valid-type]
    name: Optional[str] = None
    subject: str = ""
    text: constr(strict=True, min_length=1, max_length=MAX_EMAIL_CHARS)  # type: ignore[valid-type]
    message_id: Optional[str] = None
    recipient: str = ""
    quoted: str = ""

    @root_validator(pre=True)
    def _aliases(cls, values: Dict[str, Any]) -> Dict[str, Any]:  # noqa: N805
        def first(*keys: str) -> Any:
            for k in keys:
                if values.get(k):
                    return values[k]
            return None

        raw_from = first("sender", "from", "From", "from_email")
        name = first("name", "FromName", "from_name")
        if isinstance(raw_from, str) and "<" in raw_from and raw_from.rstrip().endswith(">"):
            display, _, addr = raw_from.rpartition("<")
            name = name or display.strip().strip('"') or None
            raw_from = addr.rstrip(">").strip()
        return {
            "sender": raw_from,
            "name": name,
            "subject": first("subject", "Subject") or "",
            "text": first("text", "TextBody", "stripped-text", "body-plain", "body"),
            "message_id": first("message_id", "MessageID", "Message-Id", "message-id"),
            # every recipient field a provider sends (To may list several addresses), and the body with quotes
            "recipient": " ".join(str(values[k]) for k in ("recipient", "OriginalRecipient", "To", "to")
                                  if isinstance(values.get(k), str))[:MAX_EMAIL_CHARS],
            "quoted": " ".join(str(values[k]) for k in ("quoted", "body-plain", "TextBody", "text")
                               if isinstance(values.get(k), str))[:MAX_EMAIL_CHARS],
        }


class InboundAccepted(BaseModel):
    ticket: str
    conversation_id: str
    attached: bool
    joined_by: Optional[str] = Field(None, description="reply_token | verified_email, when attached")


# -- operations --------------------------------------------------------------------------------------------------
class Health(BaseModel):
    status: str
    articles: Optional[int] = None


# -- refusals --------------------------------------------------------------------------------------------------------
class Error(BaseModel):
    """What tier0 answers when it refuses a request (tier0.errors, and the limits of api.app)."""

    error: str = Field(..., description="a code: invalid_input, unauthorized, forbidden, not_found, conflict, ...")
    detail: str = Field(..., description="what was wrong, in a sentence")


class FieldProblem(BaseModel):
    loc: List[Union[str, int]]
    msg: str
    type: str


class InvalidFields(BaseModel):
    """FastAPI's own 422: a parameter or body field that does not fit its declared type, one entry per field."""

    detail: List[FieldProblem]


class Unparsable(BaseModel):
    """FastAPI's own 400: a body that is not JSON."""

    detail: str


# -- the editor console (#22 A: articles, versions, publish) ----------------------------------------------------------
if TYPE_CHECKING:
    ArticleTitle = str
    ArticleBody = str
    ShortText = str
    VersionNote = Optional[str]
else:
    ArticleTitle = constr(strict=True, max_length=MAX_ARTICLE_TITLE_CHARS)
    ArticleBody = constr(strict=True, max_length=MAX_ARTICLE_BODY_CHARS)
    ShortText = constr(strict=True, max_length=MAX_ARTICLE_QUESTION_CHARS)
    VersionNote = Optional[constr(strict=True, max_length=MAX_VERSION_NOTE_CHARS)]


class ArticleFields(BaseModel):
    """An article's content as an editor writes it; on a draft save only the fields sent change."""

    title: Optional[ArticleTitle] = None
    lang: Optional[ShortText] = Field(None, description="en or fr")
    category: Optional[ShortText] = None
    tags: Optional[List[ShortText]] = Field(None, max_items=MAX_ARTICLE_TAGS)
    questions: Optional[List[ShortText]] = Field(None, max_items=MAX_ARTICLE_QUESTIONS,
                                                 description="alternate phrasings of the question it answers")
    handoff: Optional[ShortText] = Field(None, description="never answered by the bot: handed to this queue")
    body: Optional[ArticleBody] = Field(None, description="Markdown")
    note: VersionNote = Field(None, description="why: kept with the version")


class NewArticle(ArticleFields):
    id: Optional[constr(strict=True, max_length=200)] = Field(  # type: ignore[valid-type]
        None, description="letters, digits, '.', '_', '-'; absent: made from the title")
    title: ArticleTitle
    lang: ShortText
    translation_of: Optional[constr(strict=True, max_length=200)] = Field(  # type: ignore[valid-type]
        None, description="the id of the article this one translates")


class ArticleRow(BaseModel):
    id: str
    title: str
    lang: str
    category: Optional[str]
    status: str
    version: int = Field(..., description="the live version (or the row's, for a draft or archived article)")
    updated_at: Optional[str]
    updated_by: Optional[str]
    has_draft: bool
    draft_version: Optional[int]
    translation_of: Optional[str]


class ArticleList(BaseModel):
    total: int = Field(..., description="articles matching, all pages")
    articles: List[ArticleRow]


class ArticleContent(BaseModel):
    id: str
    title: str
    lang: str
    body: str
    category: Optional[str]
    tags: List[str]
    questions: List[str]
    handoff: Optional[str]
    status: str
    version: Optional[int]


class ArticleVersionOut(BaseModel):
    version: int
    status: str
    note: Optional[str]
    author: Optional[str]
    created_at: str


class ArticleDetail(BaseModel):
    article: ArticleRow
    live: Optional[ArticleContent] = Field(None, description="what the bot answers from; null unless published")
    draft: Optional[ArticleContent] = Field(None, description="the working draft, if any")
    versions: List[ArticleVersionOut]
    translations: List[ArticleRow]


class ArticleNote(BaseModel):
    note: VersionNote = None


class RollbackBody(BaseModel):
    version: int = Field(..., ge=1, le=10**9)
    note: VersionNote = None


class TranslationLink(BaseModel):
    of: Optional[constr(strict=True, max_length=200)] = Field(  # type: ignore[valid-type]
        ..., description="the article it translates; null: no longer a translation")


class FieldDiff(BaseModel):
    field: str
    before: Any
    after: Any
    diff: str = Field(..., description="unified diff of the field's lines (a list: one item a line)")


class ArticleDiff(BaseModel):
    from_: str = Field(..., alias="from")
    to: str
    fields: List[FieldDiff]

    class Config:
        allow_population_by_field_name = True


class PreviewBody(BaseModel):
    body: ArticleBody


class PreviewOut(BaseModel):
    html: str = Field(..., description="the Markdown rendered and sanitised, as the widget shows it")



# -- try it, calibration health, refit curves (#22 C) -----------------------------------------------------------------
from tier0.vocab import (  # noqa: E402  (here, in this part's section)
    TRYIT_MAX_BODY_CHARS,
    TRYIT_MAX_ID_CHARS,
    TRYIT_MAX_QUESTIONS,
    TRYIT_MAX_TAGS,
    TRYIT_MAX_TITLE_CHARS,
    TryDecision,
)

if TYPE_CHECKING:
    TryTitle = str
    TryBody = str
    TryLine = str
    TryId = str
else:
    TryTitle = constr(strict=True, min_length=1, max_length=TRYIT_MAX_TITLE_CHARS)
    TryBody = constr(strict=True, max_length=TRYIT_MAX_BODY_CHARS)
    TryLine = constr(strict=True, min_length=1, max_length=MAX_MESSAGE_CHARS)
    TryId = constr(strict=True, regex=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=TRYIT_MAX_ID_CHARS)


class TryArticle(BaseModel):
    """A draft's fields, tried as if the article were published (nothing is stored)."""

    id: Optional[TryId] = Field(None, description="the article it is a draft of (its live version is set aside)")
    title: TryTitle
    body: TryBody = ""
    lang: Language
    questions: List[TryLine] = Field([], max_items=TRYIT_MAX_QUESTIONS, description="alternate questions")
    tags: List[TryLine] = Field([], max_items=TRYIT_MAX_TAGS)
    category: Optional[TryLine] = None


class TryIn(BaseModel):
    question: MessageText = Field(..., description="a customer's question")  # type: ignore[valid-type]
    language: Optional[Language] = Field(None, description="the question's language (detected when absent)")
    article: Optional[TryArticle] = Field(None, description="a draft to try beside the published articles")


class TryCandidate(BaseModel):
    article_id: str
    title: str
    lang: str
    confidence: float = Field(..., description="the calibrated probability that it answers the question")
    version: Optional[int] = Field(None, description="the live version (none for the draft)")
    draft: bool = Field(False, description="the draft tried, not a published article")
    handoff: Optional[str] = Field(None, description="a hand-off topic: the queue it goes to")


class TryOut(BaseModel):
    decision: TryDecision = Field(..., description="answer | suggest | clarify | handoff")
    language: str
    confidence: float
    threshold: float = Field(..., description="the confidence needed to answer in this language")
    article: Optional[TryCandidate] = Field(None, description="answer: the article; handoff: the topic, if any")
    options: List[TryCandidate] = Field([], description="suggest, clarify: the articles offered")
    candidates: List[TryCandidate] = Field([], description="the best articles found, best first")
    draft_rank: Optional[int] = Field(None, description="the draft's place among the candidates (1 = first)")
    reason: Optional[str] = Field(None, description="handoff: why")
    queue: Optional[str] = None


class HealthArticle(BaseModel):
    id: str
    title: Optional[str] = Field(None, description="none when the article is no longer published")


class HealthDuplicate(BaseModel):
    articles: List[HealthArticle]
    similarity: float
    part: str = Field(..., description="title or answer: what is alike")


class HealthConfusion(BaseModel):
    question: str = Field(..., description="a phrasing of the article (title or alternate question)")
    article: HealthArticle = Field(..., description="the article it belongs to")
    found: HealthArticle = Field(..., description="the article the bot finds for it instead")
    confidence: float


class HealthOut(BaseModel):
    calibrated: bool
    up_to_date: bool = Field(..., description="fitted on the articles published now (else a refit is due)")
    refit_running: bool
    thresholds: Dict[str, float] = {}
    target: Optional[float] = None
    stats: Dict[str, Any] = Field({}, description="queries, feedback, loo_r_at_1 ...")
    duplicates: List[HealthDuplicate] = []
    duplicates_total: int = 0
    confusions: List[HealthConfusion] = []
    unreached: List[HealthArticle] = []
    unreached_total: int = 0


class CurvePoint(BaseModel):
    threshold: float
    coverage: float = Field(..., description="share of the questions the KB covers that are answered")
    precision: float = Field(..., description="share of the answers that are right")


class CalibrationSide(BaseModel):
    thresholds: Dict[str, float]
    curve: List[CurvePoint]
    coverage_at_target: Optional[float] = Field(None, description="coverage where precision >= 1 - target")


class CalibrateIn(BaseModel):
    dry_run: bool = Field(False, description="no fit: what a refit would start from (the current curve, staleness)")


class CalibrateOut(BaseModel):
    target: float
    seconds: float
    refitted: bool = Field(..., description="a new calibration was fitted and is in use")
    stale: Optional[bool] = Field(None, description="dry run: the KB changed or labelled answers arrived since the fit")
    feedback: Optional[int] = Field(None, description="dry run: labelled answers a refit would learn from")
    new_feedback: Optional[int] = Field(None, description="dry run: of them, arrived since the last fit")
    before: Optional[CalibrationSide] = Field(None, description="the calibration replaced (none: there was none)")
    after: Optional[CalibrationSide] = Field(None, description="none: the KB is too small to calibrate")



# -- article feedback, content gaps, ticket to article (#22 D) --------------------------------------------------------
class FlagNote(BaseModel):
    ticket: str
    actor: str
    note: Optional[str] = None
    question: Optional[str] = Field(None, description="the customer's question the flagged answer replied to")
    at: str


class ArticleFeedback(BaseModel):
    """What customers and agents did with one article over the period (bot.usage; docs/editor.md)."""

    article_id: str
    title: Optional[str] = Field(None, description="None when the article no longer exists")
    lang: Optional[str] = None
    status: Optional[str] = None
    views: int = Field(..., description="its full text opened by customers (GET /api/articles/{id})")
    answers: int = Field(..., description="the bot's answers citing it")
    helpful: int = Field(..., description="'yes, that helped' right after such an answer")
    not_helpful: int = Field(..., description="'that didn't help' (a not_helpful hand-off) right after one")
    handoffs: int = Field(..., description="hand-offs on the turn right after such an answer, any reason")
    flags: int = Field(..., description="agents' 'wrong answer' flags on answers citing it")
    helpful_rate: Optional[float] = Field(None, description="helpful / (helpful + not_helpful)")
    handoff_rate: Optional[float] = Field(None, description="handoffs / answers")
    flag_notes: List[FlagNote] = Field(default_factory=list, description="the latest flags, newest first")


class FeedbackList(BaseModel):
    since: str
    until: str
    articles: List[ArticleFeedback]


class NearestArticle(BaseModel):
    article_id: str
    title: str
    score: float = Field(..., description="the search's score of the group's representative question")


class GapOut(BaseModel):
    key: str = Field(..., description="stable across reports: the language and a hash of the representative question")
    lang: str
    conversations: int = Field(..., description="conversations it holds: what an article would have saved")
    questions: int
    examples: List[str] = Field(..., description="up to 5; the representative (medoid) question first")
    reasons: Dict[str, int] = Field(..., description="unsure | handed_off -> questions")
    first_at: str
    last_at: str
    nearest: Optional[NearestArticle] = None
    state: str = Field(..., description="open | dismissed | drafted")
    article_id: Optional[str] = Field(None, description="the draft started from it")


class GapReport(BaseModel):
    since: str
    until: str
    distance: float = Field(
        ...,
        description="the clustering's threshold (TIER0_GAPS_DISTANCE) on the KB's yardstick per language: "
        "0 = two phrasings of one article, 1 = two different articles",
    )
    questions: int = Field(..., description="unanswered questions grouped")
    groups: List[GapOut]


class DraftOut(BaseModel):
    id: str
    title: str
    lang: str
    status: str
    questions: List[str]
    body: str


class GapDecisionOut(BaseModel):
    key: str
    state: str
    article: Optional[DraftOut] = None


class FromTicketBody(BaseModel):
    """question: the question to use instead of the one read from the conversation; title: the draft's title
    (default: the question); force: create the draft even when near-duplicate articles exist."""

    question: Optional[constr(strict=True, min_length=1, max_length=MAX_MESSAGE_CHARS)] = None  # type: ignore
    title: Optional[constr(strict=True, min_length=1, max_length=500)] = None  # type: ignore[valid-type]
    force: bool = False


class SimilarArticle(BaseModel):
    article_id: str
    title: str
    lang: str
    score: float
    duplicate: bool = Field(..., description="the bot would already answer the question from it")


class FromTicketOut(BaseModel):
    ticket: str
    question: str
    created: bool = Field(..., description="false: near-duplicates stopped it (send force: true to create anyway)")
    similar: List[SimilarArticle]
    article: Optional[DraftOut] = None




# -- analytics, satisfaction (#22 E) ----------------------------------------------------------------------------------
class AnalyticsPeriod(BaseModel):
    from_: str = Field(..., alias="from", description="first day (YYYY-MM-DD), included")
    to: str = Field(..., description="last day (YYYY-MM-DD), included")
    timezone: str = Field(..., description="the days run midnight to midnight in this time zone")
    days: int


class ConversationFigures(BaseModel):
    """docs/analytics.md defines each figure."""

    conversations: int
    answered: int = Field(..., description="conversations where the bot answered from an article at least once")
    resolved_confirmed: int = Field(..., description="the customer said the answer helped, and no ticket")
    resolved_assumed: int = Field(..., description="an answer, then no customer message and no ticket in 24 h")
    resolution_pending: int = Field(..., description="like assumed, but the last answer is not 24 h old yet")
    handed_off: int = Field(..., description="conversations with a ticket")
    handoff_rate: Optional[float]
    helpful_yes: int
    helpful_no: int
    helpful_share: Optional[float]


class AnalyticsTotals(ConversationFigures):
    tickets: int
    escalations: int
    functional_escalations: int
    hierarchical_escalations: int
    reopened: int
    reopened_tickets: int
    first_response_median_min: Optional[float]
    first_response_breaches: int
    resolution_median_min: Optional[float]
    resolution_breaches: int
    csat_answers: int
    csat_mean: Optional[float]
    csat_share_4_5: Optional[float]


class DailyFigures(BaseModel):
    day: str
    conversations: int
    answered: int
    resolved_confirmed: int
    resolved_assumed: int
    handed_off: int
    handoff_rate: Optional[float]
    helpful_yes: int
    helpful_no: int
    tickets: int
    escalations: int
    reopened: int
    first_response_breaches: int
    resolution_breaches: int
    csat_answers: int
    csat_mean: Optional[float]


class LanguageFigures(ConversationFigures):
    language: str


class ReasonFigures(BaseModel):
    reason: str
    tickets: int
    share: Optional[float]


class QueueFigures(BaseModel):
    queue: str
    level: int
    tickets: int


class SlaFigures(BaseModel):
    level: str = Field(..., description="1, 2, 3 or all")
    stints: int = Field(..., description="times a ticket started at this level (created, escalated, reopened)")
    responded: int
    first_response_median_min: Optional[float]
    first_response_mean_min: Optional[float]
    first_response_met: int
    first_response_breaches: int
    resolved: int
    resolution_median_min: Optional[float]
    resolution_mean_min: Optional[float]
    resolution_met: int
    resolution_breaches: int


class EscalationFigures(BaseModel):
    from_level: int
    to_level: int
    path: str = Field(..., description="functional or hierarchical")
    escalations: int


class AgentEscalationFigures(BaseModel):
    agent: str = Field(..., description="the username, or system for the SLA scheduler")
    functional: int
    hierarchical: int
    escalations: int


class SatisfactionFigures(BaseModel):
    resolved_by: str = Field(..., description="all, bot or agent")
    answers: int
    mean: Optional[float]
    share_4_5: Optional[float]


class AnalyticsReport(BaseModel):
    period: AnalyticsPeriod
    language: Optional[str]
    totals: AnalyticsTotals
    daily: List[DailyFigures]
    languages: List[LanguageFigures]
    reasons: List[ReasonFigures]
    queues: List[QueueFigures]
    sla: List[SlaFigures]
    escalations: List[EscalationFigures]
    agents: List[AgentEscalationFigures]
    satisfaction: List[SatisfactionFigures]


class AnalyticsDaily(BaseModel):
    period: AnalyticsPeriod
    language: Optional[str]
    daily: List[DailyFigures]




# -- import, export, rendering (#22 F) --------------------------------------------------------------------------------
if TYPE_CHECKING:
    HtmlText = str
else:
    HtmlText = constr(strict=True, max_length=MAX_HTML_CHARS)


class ImportProblemOut(BaseModel):
    file: str = Field(..., description="the file's path inside the archive")
    line: Optional[int] = Field(None, description="1-based line of the problem, when known")
    message: str


class ImportReportOut(BaseModel):
    """What an import would do (dry run) or did: article ids per outcome; files with errors (nothing is applied
    while there is one); files that are not articles (ignored)."""

    dry_run: bool
    applied: bool
    created: List[str]
    updated: List[str]
    unchanged: List[str]
    ignored: List[str]
    errors: List[ImportProblemOut]


class ConvertHtmlIn(BaseModel):
    html: HtmlText = Field(..., description=f"an HTML page or fragment, at most {MAX_HTML_CHARS} characters")


class ConvertHtmlOut(BaseModel):
    markdown: str = Field(..., description="the sanitised HTML as Markdown (links and images kept)")
    title: Optional[str] = Field(None, description="the page's <title>, else its first <h1>")


# -- the website widget (#23 H1) --------------------------------------------------------------------------------------
class SearchHit(BaseModel):
    """A published article suggested while the customer types."""

    id: str
    title: str
    lang: str
    snippet: str = Field(..., description="the start of its text, plain, at most SNIPPET_CHARS characters")
    url: str = Field(..., description="its full text: GET /api/articles/{id}")


class SearchResults(BaseModel):
    query: str
    results: List[SearchHit]


class TokenRenewed(BaseModel):
    conversation_id: str
    token: str = Field(..., description="the new customer token; the old one no longer works")


class ConversationEnded(BaseModel):
    conversation_id: str
    ended_at: str
    messages: List[BotMessageOut] = Field(..., description="the bot's goodbye (empty when it had ended already)")


class SurveyIn(BaseModel):
    rating: conint(strict=True, ge=1, le=5) = Field(  # type: ignore[valid-type]
        ..., description="1 (bad) to 5 (very good); a thumbs-down is 1, a thumbs-up 5")
    comment: Optional[constr(strict=True, max_length=MAX_SURVEY_COMMENT_CHARS)] = None  # type: ignore[valid-type]


class SurveyOut(BaseModel):
    conversation_id: str
    rating: int
    resolved_by: str = Field(..., description="agent when a ticket of the conversation was resolved, else bot")
    replaced: bool = Field(..., description="an earlier answer of this conversation was replaced")


class ContactIn(BaseModel):
    email: constr(strict=True, min_length=3, max_length=MAX_EMAIL_ADDRESS_CHARS)  # type: ignore[valid-type]


class ContactOut(BaseModel):
    ticket: str = Field(..., description="the request's reference")
    email: str
    promise: str = Field(..., description="when they will hear back, in the conversation's language")
    message_id: int = Field(..., description="the confirmation, added to the transcript")
    open_now: bool = Field(..., description="the team works now (else opens_at says when it does)")
    opens_at: Optional[str] = Field(None, description="UTC time the team's queue opens next, when closed")



# The refusals every API route may answer, documented in the OpenAPI schema (api.app includes the routers with them),
# so that clients and schemathesis (tests/integration/test_authorisation.py) know every status code and its body.
ERRORS: Dict[Union[int, str], Dict[str, Any]] = {
    400: {"model": Union[Error, Unparsable], "description": "a body that is not JSON, a Content-Length not a number"},
    401: {"model": Error, "description": "no valid sign-in"},
    403: {"model": Error, "description": "not allowed for this caller"},
    404: {"model": Error, "description": "not found"},
    409: {"model": Error, "description": "clashes with the current state"},
    413: {"model": Error, "description": "request body too large"},
    422: {"model": Union[Error, InvalidFields], "description": "invalid input"},
    429: {"model": Error, "description": "too many requests: retry after the Retry-After header's seconds"},
    503: {"model": Error, "description": "tier0 is starting"},
}


def _nullable(schema: Dict[str, Any], model_class: Any = None) -> None:
    """pydantic v1 documents an ``Optional[X]`` field as X alone; say that it may be null too (JSON Schema of
    OpenAPI 3.1: ``anyOf: [X, null]``), so that a response with ``null`` there matches the schema."""
    for f in model_class.__fields__.values():
        prop = schema.get("properties", {}).get(f.alias)
        if not f.allow_none or not prop or not ({"type", "$ref", "allOf", "enum"} & set(prop)):
            continue
        outer = {k: prop.pop(k) for k in ("title", "description", "default") if k in prop}
        schema["properties"][f.alias] = {**outer, "anyOf": [prop, {"type": "null"}]}


TurnOut.update_forward_refs()
for _model in [m for m in list(globals().values())
               if isinstance(m, type) and issubclass(m, BaseModel) and m.__module__ == __name__]:
    _model.__config__.schema_extra = _nullable  # every model of this module, those added later included
