"""article feedback, content-gap groups (#22)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0008"
down_revision: Union[str, Sequence[str], None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # how often each article's full text was opened, one counter per article and day (knowledge_base.usage)
    op.create_table(
        "article_views",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("article_id", sa.String(length=200), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("article_id", "day"),
    )
    op.create_index("ix_article_views_article_id", "article_views", ["article_id"], unique=False)
    op.create_index("ix_article_views_day", "article_views", ["day"], unique=False)
    # editors' decisions about groups of unanswered questions (bot.gaps): dismissed, or a draft started
    op.create_table(
        "content_gaps",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("question", sa.String(length=1000), nullable=False),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.Column("article_id", sa.String(length=200), nullable=True),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    # an agent's "wrong answer" flag names the article it lands on; existing flags get it from their data
    with op.batch_alter_table("ticket_events") as batch:
        batch.add_column(sa.Column("article_id", sa.String(length=200), nullable=True))
    op.create_index("ix_ticket_events_article_id", "ticket_events", ["article_id"], unique=False)
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, data FROM ticket_events WHERE kind = 'flagged'")).all()
    for event_id, data in rows:
        if isinstance(data, str):
            import json

            data = json.loads(data)
        article = (data or {}).get("article_id")
        if article:
            bind.execute(sa.text("UPDATE ticket_events SET article_id = :a WHERE id = :id"),
                         {"a": str(article)[:200], "id": event_id})


def downgrade() -> None:
    op.drop_index("ix_ticket_events_article_id", table_name="ticket_events")
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_column("article_id")
    op.drop_table("content_gaps")
    op.drop_index("ix_article_views_day", table_name="article_views")
    op.drop_index("ix_article_views_article_id", table_name="article_views")
    op.drop_table("article_views")
