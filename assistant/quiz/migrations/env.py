"""Alembic's entry point for the progress schema. `Database.migrate` passes an open connection in
a transaction it holds (and commits), so this file never opens a database itself."""

from alembic import context

from assistant.quiz.tables import metadata

context.configure(
    connection=context.config.attributes["connection"],
    target_metadata=metadata,
    render_as_batch=True,  # SQLite alters a table by copying it; batch mode does that for us
)
with context.begin_transaction():
    context.run_migrations()
