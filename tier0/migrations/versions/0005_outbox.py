"""webhook outbox written with the change, fair across endpoints, purged (#21)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

webhook_deliveries: ``last_attempt_at`` (a failed delivery is purged that long after its last attempt) and an index
on (endpoint_url, status, id), how the dispatcher reads one endpoint's pending rows in order (handoff.webhooks).
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0005"
down_revision: Union[str, Sequence[str], None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("last_attempt_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_webhook_deliveries_endpoint_status", ["endpoint_url", "status", "id"])


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_index("ix_webhook_deliveries_endpoint_status")
        batch.drop_column("last_attempt_at")
