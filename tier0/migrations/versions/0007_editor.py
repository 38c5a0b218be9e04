"""the editor console: article drafts, live version, authors, translations (#22)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: Union[str, Sequence[str], None] = "0006"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # articles keep their live content in the row; a working draft of a published article is the version
    # numbered draft_version; updated_by names who saved last; translation_of groups translations
    with op.batch_alter_table("articles") as batch:
        batch.add_column(sa.Column("draft_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("updated_by", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("translation_of", sa.String(length=200), nullable=True))
    op.create_index("ix_articles_translation_of", "articles", ["translation_of"], unique=False)
    with op.batch_alter_table("article_versions") as batch:
        batch.add_column(sa.Column("author", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("article_versions") as batch:
        batch.drop_column("author")
    op.drop_index("ix_articles_translation_of", table_name="articles")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("translation_of")
        batch.drop_column("updated_by")
        batch.drop_column("draft_version")
