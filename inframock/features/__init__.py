"""What the commands do, above the services: seed, snapshot, pull, status and
the SQL commands."""
