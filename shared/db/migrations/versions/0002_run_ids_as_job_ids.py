"""Job ids up to 80 characters, so a run trained with `lob train` (run ids such as
20261201-101500-btc) can be registered under its own id (`lob models register RUN_ID`).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column) holding a job id; widening a varchar keeps the foreign keys valid.
COLUMNS = (
    ("jobs", "id"),
    ("epoch_metrics", "job_id"),
    ("fold_runs", "job_id"),
    ("model_versions", "job_id"),
)


def upgrade() -> None:
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.String(80), existing_type=sa.String(32))


def downgrade() -> None:
    for table, column in reversed(COLUMNS):
        op.alter_column(table, column, type_=sa.String(32), existing_type=sa.String(80))
