"""PostgreSQL for today's Cellenics: the server, its migrations and SQL seeding."""
