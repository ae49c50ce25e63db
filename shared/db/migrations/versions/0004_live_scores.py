"""Live scores: one row per minute, model version and symbol, written by inference.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "live_scores",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=False),
        sa.Column("minute", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("correct", sa.Integer(), nullable=False),
        sa.Column("confusion", postgresql.JSONB(), nullable=False),
        sa.Column("window_accuracy", sa.Float(), nullable=True),
        sa.Column("window_f1_macro", sa.Float(), nullable=True),
        sa.Column("trades", sa.Integer(), nullable=False),
        sa.Column("net_bps", sa.Float(), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_scores")),
        sa.UniqueConstraint(
            "model_version",
            "symbol",
            "minute",
            name=op.f("uq_live_scores_model_version_symbol_minute"),
        ),
    )


def downgrade() -> None:
    op.drop_table("live_scores")
