"""The PostgreSQL commands: `make migrate` (Cellenics' knex migrations),
`make clean-sql`."""
