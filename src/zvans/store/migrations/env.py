from __future__ import annotations

from alembic import context

from zvans.store.db import make_engine
from zvans.store.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""


def run() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        context.configure(
            connection=connectable, target_metadata=Base.metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,
            compare_type=True,
            user_module_prefix="zvans.store.types.",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run()
