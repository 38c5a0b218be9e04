"""Tickets and their audit trail."""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Float, ForeignKey, Integer, String, Text

from tier0.db import Base, utcnow
from tier0.vocab import Channel, Priority, TicketStatus


class Ticket(Base):
    __tablename__ = "tickets"

    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(32), ForeignKey("conversations.id"), index=True, nullable=False)
    # Ownership state machine (handoff.states): waiting -> agent -> resolved, returned (to the bot), reopened.
    status = Column(String(16), nullable=False, default=TicketStatus.WAITING.value, index=True)
    assignee = Column(String(100), nullable=True, index=True)  # agent username while status == agent
    queue = Column(String(100), nullable=False, index=True)
    level = Column(Integer, nullable=False, default=1)
    priority = Column(String(10), nullable=False, default=Priority.NORMAL.value)
    priority_rule = Column(String(200), nullable=True)
    reason = Column(String(32), nullable=False)
    confidence = Column(Float, nullable=True)
    language = Column(String(8), nullable=True)
    channel = Column(String(16), nullable=False, default=Channel.WEB.value)
    category = Column(String(100), nullable=True)
    customer = Column(JSON, nullable=False, default=dict)
    candidates = Column(JSON, nullable=False, default=list)  # what the bot tried: articles with scores
    transcript = Column(JSON, nullable=False, default=list)  # the conversation up to the hand-off
    summary = Column(Text, nullable=True)
    topic = Column(String(100), nullable=True)  # the article's hand-off topic, when one decided the route
    # SLA bookkeeping (handoff.sla): when the current level's clock started, its first response, pauses while
    # waiting on the customer, and what the scheduler already did at this level.
    level_started_at = Column(DateTime, nullable=True)
    first_response_at = Column(DateTime, nullable=True)
    resolved_at = Column(DateTime, nullable=True)
    sla_pauses = Column(JSON, nullable=True)
    sla_flags = Column(JSON, nullable=True)
    contact_email = Column(String(320), nullable=True)  # where to answer when nobody is online
    # The ticket's reply token (tier0.identity.new_reply_token): inbound e-mail carrying it joins this ticket.
    reply_token = Column(String(32), nullable=True, unique=True, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
    updated_at = Column(DateTime, nullable=False, default=utcnow, onupdate=utcnow)

    @property
    def reference(self) -> str:
        return f"T-{self.id}"


class TicketEvent(Base):
    __tablename__ = "ticket_events"

    id = Column(Integer, primary_key=True, autoincrement=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id"), index=True, nullable=False)
    kind = Column(String(32), nullable=False)
    actor = Column(String(100), nullable=False)
    note = Column(Text, nullable=True)
    data = Column(JSON, nullable=False, default=dict)
    # a "flagged" event (an agent's "wrong answer"): the article the flagged answer cited, so that flags land on the
    # article (the editor's per-article feedback, #22 D) and on the calibration's labels (bot.feedback)
    article_id = Column(String(200), nullable=True, index=True)
    created_at = Column(DateTime, nullable=False, default=utcnow)
