-- One PostgreSQL login role per service, owning its own database and able to reach no other.
-- A leaked database URL then opens one service's store, not five, and funding's role cannot
-- connect to enrolment's database (workers' personal data) at all.
--
-- Run as the server's administrator, once; passwords come from your secret store as psql
-- variables, never from this file (leave out the blocks of services whose database lives on
-- another server, and run them there):
--   psql "postgresql://<admin>@<host>:5432/postgres?sslmode=verify-full" -v ON_ERROR_STOP=1 \
--     -v enrolment_password="$(<secret store> enrolment)" -v training_password=... \
--     -v assessment_password=... -v funding_password=... -v notifications_password=... \
--     -v employment_password=... \
--     -f deploy/postgres/roles.sql
-- Each service's Secret then holds, as database-url (deploy/README.md):
--   postgresql://songji_<service>:<password>@<host>:5432/<service>
-- The server must accept these roles over TLS only (pg_hba.conf: `hostssl <service>
-- songji_<service> <pods' network> scram-sha-256`, no `host` line for them), with
-- password_encryption = scram-sha-256.
--
-- A role owns its database, so the service's migrations create its tables there; it is no
-- superuser, creates no roles or databases, and cannot replicate or bypass row security.
-- CONNECT is revoked from PUBLIC, so no other role (another service's included) may connect.

CREATE ROLE songji_enrolment LOGIN PASSWORD :'enrolment_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
CREATE DATABASE enrolment OWNER songji_enrolment;
REVOKE ALL ON DATABASE enrolment FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE enrolment TO songji_enrolment;

CREATE ROLE songji_training LOGIN PASSWORD :'training_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
CREATE DATABASE training OWNER songji_training;
REVOKE ALL ON DATABASE training FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE training TO songji_training;

CREATE ROLE songji_assessment LOGIN PASSWORD :'assessment_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
CREATE DATABASE assessment OWNER songji_assessment;
REVOKE ALL ON DATABASE assessment FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE assessment TO songji_assessment;

CREATE ROLE songji_funding LOGIN PASSWORD :'funding_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
CREATE DATABASE funding OWNER songji_funding;
REVOKE ALL ON DATABASE funding FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE funding TO songji_funding;

CREATE ROLE songji_notifications LOGIN PASSWORD :'notifications_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
CREATE DATABASE notifications OWNER songji_notifications;
REVOKE ALL ON DATABASE notifications FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE notifications TO songji_notifications;

CREATE ROLE songji_employment LOGIN PASSWORD :'employment_password'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
CREATE DATABASE employment OWNER songji_employment;
REVOKE ALL ON DATABASE employment FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE employment TO songji_employment;
