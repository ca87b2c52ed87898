"""Alembic migrations of mailbot's schema (shipped as mailbot.migrations)."""
