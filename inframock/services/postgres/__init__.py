"""PostgreSQL (profile `current`): its server, where it lives, its declaration
and the data folder's sql/ rows."""
