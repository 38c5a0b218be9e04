"""verified customer identity, reply tokens of inbound e-mail (#21)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""
import base64
import secrets
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0006"
down_revision: Union[str, Sequence[str], None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Each ticket gets a random reply token (tier0.identity.new_reply_token), existing ones too, so replies sent
    # from now on carry one; inbound e-mail joins a ticket only through it (or a verified identity).
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("reply_token", sa.String(length=32), nullable=True))
    op.create_index("ix_tickets_reply_token", "tickets", ["reply_token"], unique=True)
    bind = op.get_bind()
    ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM tickets WHERE reply_token IS NULL"))]
    for ticket_id in ids:
        bind.execute(sa.text("UPDATE tickets SET reply_token = :token WHERE id = :id"),
                     {"token": _new_reply_token(), "id": ticket_id})


def _new_reply_token() -> str:
    """tier0.identity.new_reply_token as of this revision: "t0" and 16 random lowercase base32 characters."""
    return "t0" + base64.b32encode(secrets.token_bytes(10)).decode().lower()


def downgrade() -> None:
    op.drop_index("ix_tickets_reply_token", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("reply_token")
