"""Baseline: the schema Database.create_all built before tier0 had migrations.

Revision ID: 0001
Revises:
Create Date: 2026-12-04

The tables are spelled out here, frozen, rather than imported from the models: the models move on, this revision does
not. Database.migrate also reads :func:`baseline_metadata` to adopt a database made by the old create_all (tier0
tables, no alembic_version): missing tables and indexes are created, missing nullable columns added (what create_all
did on start-up), the result is compared with these tables and stamped 0001.

Defaults (status "waiting", empty JSON lists …) are applied by the models on insert, not by the database: create_all
never declared a server default, so neither does the baseline.
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def baseline_metadata() -> sa.MetaData:
    """A fresh MetaData holding the baseline tables (fresh each call: callers may bind or change it freely)."""
    md = sa.MetaData()

    # tier0.conversations
    sa.Table(
        "conversations", md,
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("customer", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("low_confidence_streak", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    sa.Table(
        "messages", md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("sender", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Index("ix_messages_conversation_id", "conversation_id"),
    )

    # knowledge_base.models
    sa.Table(
        "articles", md,
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("category", sa.String(100), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("handoff_queue", sa.String(100), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("source", sa.String(1000), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Index("ix_articles_status", "status"),
    )
    sa.Table(
        "article_versions", md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("article_id", sa.String(200), sa.ForeignKey("articles.id"), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("note", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("article_id", "version"),
        sa.Index("ix_article_versions_article_id", "article_id"),
    )

    # handoff.models
    sa.Table(
        "tickets", md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(32), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(100), nullable=True),
        sa.Column("queue", sa.String(100), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(10), nullable=False),
        sa.Column("priority_rule", sa.String(200), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("category", sa.String(100), nullable=True),
        sa.Column("customer", sa.JSON(), nullable=False),
        sa.Column("candidates", sa.JSON(), nullable=False),
        sa.Column("transcript", sa.JSON(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("topic", sa.String(100), nullable=True),
        sa.Column("level_started_at", sa.DateTime(), nullable=True),
        sa.Column("first_response_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("sla_pauses", sa.JSON(), nullable=True),
        sa.Column("sla_flags", sa.JSON(), nullable=True),
        sa.Column("contact_email", sa.String(320), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Index("ix_tickets_conversation_id", "conversation_id"),
        sa.Index("ix_tickets_status", "status"),
        sa.Index("ix_tickets_assignee", "assignee"),
        sa.Index("ix_tickets_queue", "queue"),
    )
    sa.Table(
        "ticket_events", md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("ticket_id", sa.Integer(), sa.ForeignKey("tickets.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Index("ix_ticket_events_ticket_id", "ticket_id"),
    )

    # handoff.agents
    sa.Table(
        "agents", md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
    )
    sa.Table(
        "agent_sessions", md,
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Index("ix_agent_sessions_agent_id", "agent_id"),
    )

    # handoff.webhooks
    sa.Table(
        "webhook_deliveries", md,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("delivery_id", sa.String(40), nullable=False, unique=True),
        sa.Column("endpoint_url", sa.String(2000), nullable=False),
        sa.Column("endpoint_name", sa.String(200), nullable=True),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Index("ix_webhook_deliveries_status", "status"),
        sa.Index("ix_webhook_deliveries_next_attempt_at", "next_attempt_at"),
    )
    return md


def upgrade() -> None:
    # CREATE TABLE and CREATE INDEX for each table, parents first (the same DDL create_all emitted)
    baseline_metadata().create_all(op.get_bind(), checkfirst=False)


def downgrade() -> None:
    baseline_metadata().drop_all(op.get_bind(), checkfirst=False)
