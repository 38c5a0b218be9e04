"""agent sessions' absolute lifetime, forced password change, customer token expiry, stream tickets (#21)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # the first admin must change the generated password (existing accounts: no)
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("must_change_password", sa.Boolean(), nullable=False, server_default="0"))
    # customer tokens expire; NULL (conversations from before) counts from updated_at
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("token_expires_at", sa.DateTime(), nullable=True))
    op.create_table(
        "stream_tickets",
        sa.Column("ticket_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("ticket_hash"),
    )
    op.create_index("ix_stream_tickets_expires_at", "stream_tickets", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_stream_tickets_expires_at", table_name="stream_tickets")
    op.drop_table("stream_tickets")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("token_expires_at")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("must_change_password")
