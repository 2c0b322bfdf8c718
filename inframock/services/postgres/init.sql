-- Roles and grants of the original inframock's schema.sql (src/postgres_init),
-- run in database aurora_db: by the embedded road after each start, and by
-- the Compose road's postgres image on its first start (docker-entrypoint-initdb.d).
-- Idempotent, so running it again changes nothing.

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'api_role') THEN
    CREATE ROLE api_role WITH LOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dev_role') THEN
    CREATE ROLE dev_role WITH LOGIN;
  END IF;
END
$$;

-- The role used by the api & develop
GRANT USAGE ON SCHEMA public TO api_role;
DO $$
BEGIN
  -- Once only: once dev_role is a member of postgres, granting dev_role to
  -- postgres would be circular.
  IF NOT pg_has_role('dev_role', 'postgres', 'MEMBER') THEN
    -- RDS doesnt allow master user some things, so we need to
    -- grant and later revoke dev_role from postgres to move its privileges
    GRANT dev_role TO postgres;
    ALTER DEFAULT PRIVILEGES FOR USER dev_role IN SCHEMA public
      GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO api_role;
    REVOKE dev_role FROM postgres;
    GRANT postgres TO dev_role;
  END IF;
END
$$;
