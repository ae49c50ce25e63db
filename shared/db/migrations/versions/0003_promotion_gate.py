"""The promotion gate's verdict on each model version (shared/gate.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("model_versions", sa.Column("gate_passed", sa.Boolean(), nullable=True))
    op.add_column("model_versions", sa.Column("gate_reason", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("model_versions", "gate_reason")
    op.drop_column("model_versions", "gate_passed")
