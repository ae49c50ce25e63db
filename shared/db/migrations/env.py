"""Alembic environment: the URL comes from the settings (DATABASE_URL), the metadata from models.py."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from shared.db.models import Base
from shared.db.session import database_url

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(config.attributes.get("database_url")),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    from sqlalchemy import create_engine

    engine = create_engine(
        database_url(config.attributes.get("database_url")), poolclass=pool.NullPool
    )
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
