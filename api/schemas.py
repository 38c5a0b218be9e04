"""The HTTP API's request and response bodies (pydantic v1), one section an audience.

Limits come from tier0.vocab, so the API, the services and the CLI refuse the same things. Response models name the
fields a client may rely on; the nested records the desk shows as they are (a ticket's customer data, what the bot
tried, an SLA clock) are open objects (``extra = allow``) whose documented fields are typed and whose other fields
pass through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

from pydantic import BaseModel, Field, constr, root_validator

from tier0.vocab import (
    MAX_EMAIL_ADDRESS_CHARS,
    MAX_EMAIL_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_NAME_CHARS,
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


class StartConversation(BaseModel):
    language: Optional[Language] = Field(None, description="the page's language, if known")
    customer: Optional[Customer] = None


class ConversationStarted(BaseModel):
    conversation_id: str
    token: str = Field(..., description="customer token: send it as 'Authorization: Bearer <token>'")


class SendMessage(BaseModel):
    text: MessageText = Field(..., description="the customer's message")  # type: ignore[valid-type]


class BotMessageOut(BaseModel):
    id: int
    text: str
    buttons: List[Dict[str, str]] = []
    sources: List[Dict[str, Any]] = []


class Outcome(Open):
    type: str = Field(..., description="answer | clarify | handoff | other")


class TurnOut(BaseModel):
    conversation_id: str
    language: str
    messages: List[BotMessageOut]
    outcome: Outcome
    ticket: Optional["Ticket"] = None


class TranscriptMessage(BaseModel):
    id: int
    sender: str
    text: str
    data: Dict[str, Any] = {}
    created_at: str


class Transcript(BaseModel):
    conversation_id: str
    status: str
    language: Optional[str]
    messages: List[TranscriptMessage]


class ArticleOut(BaseModel):
    id: str
    title: str
    lang: str
    category: Optional[str]
    tags: List[str]
    body: str


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
    messages: List[TranscriptMessage] = []
    events: List[Dict[str, Any]] = []


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
    """An e-mail as mail providers post it. Accepts Postmark (From, FromName, Subject, TextBody, MessageID),
    Mailgun (sender, subject, body-plain / stripped-text, Message-Id) and SendGrid-style (from, subject, text)."""

    sender: constr(strict=True, min_length=3, max_length=MAX_EMAIL_ADDRESS_CHARS)  # type: ignore[valid-type]
    name: Optional[str] = None
    subject: str = ""
    text: constr(strict=True, min_length=1, max_length=MAX_EMAIL_CHARS)  # type: ignore[valid-type]
    message_id: Optional[str] = None

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
        }


class InboundAccepted(BaseModel):
    ticket: str
    conversation_id: str
    attached: bool


# -- operations --------------------------------------------------------------------------------------------------
class Health(BaseModel):
    status: str
    articles: Optional[int] = None


TurnOut.update_forward_refs()
