"""The database: models, engine set-up, migrations and the transaction helper."""
