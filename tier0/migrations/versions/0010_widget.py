"""the website widget: satisfaction survey answers (#23)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: Union[str, Sequence[str], None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # the satisfaction survey at the end of a conversation (tier0.conversations.SurveyAnswer)
    op.create_table(
        "survey_answers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(length=32), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        sa.Column("resolved_by", sa.String(length=16), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_survey_answers_conversation_id", "survey_answers", ["conversation_id"])
    op.create_index("ix_survey_answers_ticket_id", "survey_answers", ["ticket_id"])
    op.create_index("ix_survey_answers_created_at", "survey_answers", ["created_at"])
    # W1: a conversation the customer ended from the widget; messages sent with an Idempotency-Key
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("ended_at", sa.DateTime(), nullable=True))
    op.create_table(
        "idempotency_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("conversation_id", sa.String(length=32), sa.ForeignKey("conversations.id"), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("body_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("conversation_id", "key", name="uq_idempotency_keys_conversation_key"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotency_keys_created_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("ended_at")
    op.drop_index("ix_survey_answers_created_at", table_name="survey_answers")
    op.drop_index("ix_survey_answers_ticket_id", table_name="survey_answers")
    op.drop_index("ix_survey_answers_conversation_id", table_name="survey_answers")
    op.drop_table("survey_answers")
