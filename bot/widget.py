"""The website widget's server side (#23 W1): what api.widget's new routes do, without HTTP.

    search(...)                   suggestions while the customer types: the top published articles, with a snippet
    Idempotency                   a message sent again with the same ``Idempotency-Key`` returns the first result
    renew_token(...)              a new customer token for a widget kept open; the old one stops working
    end(...)                      the customer ends the conversation: no new turns, the bot says goodbye
    survey(...)                   the satisfaction survey (one answer a conversation: a second replaces the first)
    contact(...)                  the e-mail address to answer when nobody was online, and when they will hear back

Everything here lives in the database (conversations.ended_at, idempotency_keys, survey_answers, tickets), so any
worker serves any request of a conversation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from handoff.models import Ticket
from knowledge_base.render import render_markdown
from tier0.conversations import Conversation, IdempotencyKey, Message, SurveyAnswer, _hash_token
from tier0.db import Database, utcnow
from tier0.errors import Conflict, Forbidden, InvalidInput, NotFound
from tier0.vocab import (
    MAX_EMAIL_ADDRESS_CHARS,
    MAX_SEARCH_CHARS,
    MAX_SURVEY_COMMENT_CHARS,
    MIN_SEARCH_CHARS,
    OPEN_TICKET_STATUSES,
    SEARCH_RESULTS,
    SNIPPET_CHARS,
    ArticleStatus,
    IdempotencyState,
    Language,
    Sender,
    SurveyResolvedBy,
    TicketStatus,
)

# What the widget's own actions say to the customer, in French and English.
TEXTS: Dict[str, Dict[str, str]] = {
    "goodbye": {
        Language.EN: "Thank you for chatting with us. This conversation is now closed; goodbye!",
        Language.FR: "Merci de votre visite. Cette conversation est maintenant terminée ; au revoir !",
    },
    "contact_open": {
        Language.EN: "We will reply to {email} about your request {ticket} as soon as someone on our {team} team "
                     "is available.",
        Language.FR: "Nous répondrons à {email} au sujet de votre demande {ticket} dès qu'une personne de notre "
                     "équipe {team} sera disponible.",
    },
    "contact_closed": {
        Language.EN: "We will reply to {email} about your request {ticket}: our {team} team is back on {opens}.",
        Language.FR: "Nous répondrons à {email} au sujet de votre demande {ticket} : notre équipe {team} est de "
                     "retour le {opens}.",
    },
}


def text(key: str, lang: Optional[str], **params: Any) -> str:
    entry = TEXTS[key]
    return (entry.get(lang or Language.EN) or entry[Language.EN]).format(**params)


# -- search while typing ------------------------------------------------------------------------------------------
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_MARKS = re.compile(r"(^|\s)#{1,6}\s+|[*_`>~|]+|^\s*[-+]\s+|<[^>]{0,200}>", re.MULTILINE)


def plain_text(markdown: str) -> str:
    """An article's Markdown as one line of plain text (links keep their words, marks and tags go)."""
    t = _MD_LINK.sub(lambda m: m.group(1), markdown or "")
    t = _MD_MARKS.sub(" ", t)
    return re.sub(r"\s+", " ", t).strip()


def snippet(markdown: str, limit: int = SNIPPET_CHARS) -> str:
    """The start of an article's text, at most ``limit`` characters, cut at a word (with "…" when cut)."""
    t = plain_text(markdown)
    if len(t) <= limit:
        return t
    cut = t[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:.") + "…"


def search_query(q: str) -> str:
    """What a customer typed, as the search reads it: stripped, MIN..MAX_SEARCH_CHARS characters (InvalidInput)."""
    q = re.sub(r"\s+", " ", q or "").strip()
    if len(q) < MIN_SEARCH_CHARS:
        raise InvalidInput(f"type at least {MIN_SEARCH_CHARS} characters to search")
    if len(q) > MAX_SEARCH_CHARS:
        raise InvalidInput(f"a search is at most {MAX_SEARCH_CHARS} characters")
    return q


def search(index: Any, kb: Any, q: str, lang: Optional[str] = None, k: int = SEARCH_RESULTS) -> List[Dict[str, Any]]:
    """The ``k`` best published articles for what the customer is typing (the bot's own hybrid search, ranked by
    its calibrated confidence), in ``lang`` when given: id, title, snippet and the URL of their full text."""
    q = search_query(q)
    found: List[Dict[str, Any]] = []
    for c in index.search(q, lang=lang, k=max(10, 3 * k)):
        if lang and c.lang != lang:
            continue
        try:
            art = kb.get(c.article_id)
        except NotFound:  # archived since the index last synced
            continue
        if art.status != ArticleStatus.PUBLISHED:
            continue
        found.append({"id": art.id, "title": art.title, "lang": art.lang, "snippet": snippet(art.body),
                      "url": f"/api/articles/{art.id}"})
        if len(found) == k:
            break
    return found


def message_html(message_text: str, sources: Optional[Sequence[Any]]) -> Optional[str]:
    """The safe HTML of a bot message that cites an article (its Markdown rendered and sanitised); None otherwise."""
    return render_markdown(message_text) if sources else None


# -- idempotency ----------------------------------------------------------------------------------------------------
def body_hash(body: str) -> str:
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


class Idempotency:
    """``Idempotency-Key`` of the widget's messages, kept in the database (idempotency_keys) so that every worker
    sees it. :meth:`claim` before the turn: None means "run it" (the key is now ours, pending); a dict is the first
    request's result (replay it). :meth:`complete` stores the result, :meth:`release` gives the key up when the turn
    failed (a retry may run it)."""

    def __init__(self, db: Database, keep_hours: float = 24.0, wait_s: float = 30.0, stale_s: float = 120.0,
                 now: Callable[[], dt.datetime] = utcnow, sleep: Callable[[float], None] = time.sleep):
        self.db = db
        self.keep = dt.timedelta(hours=keep_hours)
        self.wait_s = wait_s
        self.stale = dt.timedelta(seconds=stale_s)
        self.now = now
        self.sleep = sleep

    def claim(self, conversation_id: str, key: str, fingerprint: str) -> Optional[Dict[str, Any]]:
        deadline = time.monotonic() + self.wait_s
        while True:
            now = self.now()
            try:
                with self.db.session() as s:
                    # keys past their time are forgotten (indexed by created_at: one cheap statement)
                    s.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < now - self.keep))
                    s.add(IdempotencyKey(conversation_id=conversation_id, key=key, body_hash=fingerprint,
                                         state=IdempotencyState.PENDING.value, created_at=now))
                return None  # ours: run the turn
            except IntegrityError:
                pass  # the key exists: the first request's
            with self.db.session() as s:
                row = s.execute(select(IdempotencyKey).where(IdempotencyKey.conversation_id == conversation_id,
                                                             IdempotencyKey.key == key)).scalars().first()
                if row is None:
                    continue  # released (its turn failed) or forgotten meanwhile: try to take it
                if row.body_hash != fingerprint:
                    raise InvalidInput("this Idempotency-Key was used for another message: use a new key for a new "
                                       "message")
                if row.state == IdempotencyState.DONE:
                    return dict(row.result or {})
                if row.created_at < now - self.stale:  # its worker died: take it over (one request wins)
                    taken = s.execute(update(IdempotencyKey).where(
                        IdempotencyKey.id == row.id, IdempotencyKey.state == IdempotencyState.PENDING.value,
                        IdempotencyKey.created_at == row.created_at).values(created_at=now)).rowcount
                    if taken:
                        return None
            if time.monotonic() >= deadline:
                raise Conflict("a message with this Idempotency-Key is still being answered; try again shortly")
            self.sleep(0.1)

    def complete(self, conversation_id: str, key: str, result: Dict[str, Any]) -> None:
        with self.db.session() as s:
            s.execute(update(IdempotencyKey).where(IdempotencyKey.conversation_id == conversation_id,
                                                   IdempotencyKey.key == key)
                      .values(state=IdempotencyState.DONE.value, result=result))

    def release(self, conversation_id: str, key: str) -> None:
        with self.db.session() as s:
            s.execute(delete(IdempotencyKey).where(IdempotencyKey.conversation_id == conversation_id,
                                                   IdempotencyKey.key == key,
                                                   IdempotencyKey.state == IdempotencyState.PENDING.value))


def remembered(turn: Dict[str, Any]) -> Dict[str, Any]:
    """What a key keeps of a turn as the customer received it (api.widget's TurnOut): the ids of its messages, its
    outcome and public ticket — no message text, so erasing the conversation erases what a replay shows."""
    return {"language": turn["language"], "message_ids": [m["id"] for m in turn["messages"]],
            "outcome": turn["outcome"], "ticket": turn.get("ticket")}


def replayed(db: Database, conversation_id: str, kept: Dict[str, Any]) -> Dict[str, Any]:
    """The turn a key remembered, its messages read again from the transcript."""
    ids = [int(i) for i in kept.get("message_ids") or []]
    with db.session() as s:
        rows = {m.id: m for m in s.execute(select(Message).where(Message.conversation_id == conversation_id,
                                                                 Message.id.in_(ids))).scalars()} if ids else {}
        messages = [{"id": m.id, "text": m.text, "buttons": (m.data or {}).get("buttons") or [],
                     "sources": (m.data or {}).get("sources") or []} for i in ids if (m := rows.get(i)) is not None]
    return {"conversation_id": conversation_id, "language": kept.get("language") or "en", "messages": messages,
            "outcome": kept.get("outcome") or {"type": "other"}, "ticket": kept.get("ticket")}


# -- the conversation's life ------------------------------------------------------------------------------------
def renew_token(db: Database, conversation_id: str, old_token: str, token_hours: float,
                now: Callable[[], dt.datetime] = utcnow) -> str:
    """A new customer token for the conversation (the caller was authorized with ``old_token``); the old one stops
    working. Two renewals with the same old token: one wins, the other is refused (403)."""
    token = secrets.token_urlsafe(24)
    with db.session() as s:
        changed = s.execute(update(Conversation).where(Conversation.id == conversation_id,
                                                       Conversation.token_hash == _hash_token(old_token))
                            .values(token_hash=_hash_token(token),
                                    token_expires_at=now() + dt.timedelta(hours=token_hours),
                                    updated_at=Conversation.updated_at)).rowcount
    if not changed:
        raise Forbidden("this token was already renewed: use the new one")
    return token


def ended_at(db: Database, conversation_id: str) -> Optional[dt.datetime]:
    with db.session() as s:
        return s.execute(select(Conversation.ended_at).where(Conversation.id == conversation_id)).scalar()


def refuse_if_ended(db: Database, conversation_id: str) -> None:
    if ended_at(db, conversation_id) is not None:
        raise Conflict("this conversation has ended: start a new one")


def end(db: Database, conversations: Any, conversation_id: str,
        now: Callable[[], dt.datetime] = utcnow) -> Dict[str, Any]:
    """The customer ends the conversation: from then on no turn is taken (409), and the bot says goodbye in the
    conversation's language. Ending it again changes nothing. An open ticket stays open (the desk sees the goodbye
    in the transcript and may still write to the customer's e-mail)."""
    with db.session(write=True) as s:
        conv = s.get(Conversation, conversation_id)
        if conv is None:
            raise NotFound(f"conversation {conversation_id} not found")
        if conv.ended_at is not None:
            return {"conversation_id": conversation_id, "ended_at": conv.ended_at.isoformat() + "Z", "messages": []}
        conv.ended_at = now()
        lang = conv.language
        message = conversations.add_message(conversation_id, Sender.BOT, text("goodbye", lang), {"notice": "ended"},
                                            session=s)
        when = conv.ended_at.isoformat() + "Z"
    return {"conversation_id": conversation_id, "ended_at": when,
            "messages": [{"id": message["id"], "text": message["text"], "buttons": [], "sources": []}]}


def survey(db: Database, conversation_id: str, rating: int, comment: Optional[str],
           now: Callable[[], dt.datetime] = utcnow) -> Dict[str, Any]:
    """Store the customer's satisfaction answer (rating 1-5, optional comment). It rates the person when a ticket of
    the conversation was resolved (the latest one), else the bot; 409 when there is nothing to rate yet (no answer
    from the bot, no resolved ticket). One answer a conversation: a second replaces the first (``replaced``)."""
    if not 1 <= int(rating) <= 5:
        raise InvalidInput("rating must be a whole number from 1 to 5")
    comment = (comment or "").strip() or None
    if comment is not None and len(comment) > MAX_SURVEY_COMMENT_CHARS:
        raise InvalidInput(f"the comment is longer than {MAX_SURVEY_COMMENT_CHARS} characters")
    with db.session(write=True) as s:
        conv = s.get(Conversation, conversation_id)
        if conv is None:
            raise NotFound(f"conversation {conversation_id} not found")
        resolved = s.execute(select(Ticket).where(Ticket.conversation_id == conversation_id,
                                                  Ticket.status == TicketStatus.RESOLVED.value)
                             .order_by(Ticket.id.desc())).scalars().first()
        answered = resolved is not None or any(
            ((data or {}).get("outcome") or {}).get("type") == "answer"
            for data in s.execute(select(Message.data).where(Message.conversation_id == conversation_id,
                                                             Message.sender == Sender.BOT.value)).scalars())
        if not answered:
            raise Conflict("there is nothing to rate yet: no answer from the assistant and no request resolved")
        replaced = s.execute(delete(SurveyAnswer).where(SurveyAnswer.conversation_id == conversation_id)).rowcount
        by = SurveyResolvedBy.AGENT if resolved is not None else SurveyResolvedBy.BOT
        s.add(SurveyAnswer(conversation_id=conversation_id, ticket_id=resolved.id if resolved is not None else None,
                           resolved_by=by.value, rating=int(rating), comment=comment, language=conv.language,
                           created_at=now()))
    return {"conversation_id": conversation_id, "rating": int(rating), "resolved_by": by.value,
            "replaced": bool(replaced)}


# -- contact when nobody is online ------------------------------------------------------------------------------
_EMAIL = re.compile(
    r"(?=.{6,254}$)"
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,64}(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}"
)


def valid_email(email: Any) -> str:
    """A strict e-mail address (no display name, no IP literal, no quoted local part), lower-cased; InvalidInput."""
    if not isinstance(email, str):
        raise InvalidInput("email must be a string")
    email = email.strip()
    local = email.split("@", 1)[0]
    if len(email) > MAX_EMAIL_ADDRESS_CHARS or not _EMAIL.fullmatch(email) or len(local) > 64:
        raise InvalidInput(f"{email[:80]!r} is not an e-mail address such as name@example.com")
    return email.lower()


def contact(handoff: Any, conversations: Any, conversation_id: str, email: Any) -> Dict[str, Any]:
    """Keep the address to answer on the conversation's open ticket; returns when the customer will hear back
    (the queue's next opening from the desk file's hours when it is closed, else as soon as someone is free) and
    the confirmation added to the transcript. 409 when no request of the conversation waits for a person."""
    email = valid_email(email)
    ticket = handoff.open_ticket_for(conversation_id, availability=True)
    if ticket is None or ticket["status"] not in OPEN_TICKET_STATUSES:
        raise Conflict("no request of this conversation is waiting for a person: ask for one first")
    handoff.set_contact_email(ticket["id"], email)
    lang = ticket.get("language")
    opens = ticket.get("opens_at_local")
    promise = (text("contact_closed", lang, email=email, ticket=ticket["id"], team=ticket["team"], opens=opens)
               if ticket.get("open_now") is False and opens else
               text("contact_open", lang, email=email, ticket=ticket["id"], team=ticket["team"]))
    stored = conversations.add_message(conversation_id, Sender.SYSTEM, promise,
                                       {"ticket": ticket["id"], "notice": "email_saved"})
    out: Dict[str, Any] = {"ticket": ticket["id"], "email": email, "promise": promise, "message_id": stored["id"],
                           "open_now": bool(ticket.get("open_now", True))}
    if ticket.get("opens_at"):
        out["opens_at"] = ticket["opens_at"]
    return out
