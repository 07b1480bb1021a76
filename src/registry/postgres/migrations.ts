/**
 * The PostgreSQL registry's schema, as versioned migrations. They are TypeScript strings (not .sql files),
 * so the compiled dist/ carries them with no copy step. `{schema}` stands for the quoted schema name.
 *
 * Rules: a migration is never edited once released; a change is a new, higher version. Migrations are
 * additive (new tables, columns, indexes), so an older unwrapd keeps working on a newer schema during a
 * rolling upgrade. Policy records live whole in `record` (JSONB), with the columns that queries filter on
 * beside it, so a new optional field of PolicyRecord needs no migration.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'policies and the policy event log',
    sql: `
CREATE TABLE {schema}.policies (
  tenant      text        NOT NULL,
  id          text        NOT NULL,
  state       text        NOT NULL,
  revision    bigint      NOT NULL CHECK (revision >= 1),
  record      jsonb       NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (tenant, id)
);
CREATE INDEX policies_state_idx ON {schema}.policies (state);

-- One row per policy change, written in the change's transaction. Identifiers only: never a record, so a
-- purge leaves no wrapped copy behind in the log.
CREATE TABLE {schema}.policy_events (
  sequence    bigserial   PRIMARY KEY,
  type        text        NOT NULL,
  tenant      text        NOT NULL,
  policy_id   text        NOT NULL,
  revision    bigint      NOT NULL,
  at          timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX policy_events_tenant_idx ON {schema}.policy_events (tenant, sequence);
`,
  },
  {
    version: 2,
    name: 'instances: who is listening, and what each has applied',
    sql: `
-- Each running unwrapd has a row: a heartbeat (seen_at) and the last event sequence it applied. A write
-- that revokes waits until every live instance has applied it before it is acknowledged.
CREATE TABLE {schema}.instances (
  id                text        PRIMARY KEY,
  host              text        NOT NULL,
  pid               integer     NOT NULL,
  started_at        timestamptz NOT NULL DEFAULT now(),
  seen_at           timestamptz NOT NULL DEFAULT now(),
  applied_sequence  bigint      NOT NULL DEFAULT 0
);
`,
  },
  {
    version: 3,
    name: 'instance leases',
    sql: `
-- A lease per instance, judged by the database clock: a writer waits for every instance whose lease has not
-- expired; an instance that cannot renew stops serving before its lease runs out by its own monotonic clock.
-- NULL for rows written by an unwrapd without leases (judged by seen_at, as before).
ALTER TABLE {schema}.instances ADD COLUMN lease_expires_at timestamptz;
`,
  },
  {
    version: 4,
    name: 'the audit trail',
    sql: `
-- The audit trail of every instance sharing this schema: one hash chain, ordered by seq. A policy change's
-- records are inserted in the change's own transaction; others in a transaction of their own. Writers
-- serialise on a transaction-scoped advisory lock, read the newest row and chain to it. \`record\` is the
-- record exactly as hashed (canonical JSON, hash included); the other columns are copies for queries.
CREATE TABLE {schema}.audit_records (
  seq        bigint      PRIMARY KEY CHECK (seq >= 1),
  at         timestamptz NOT NULL,
  type       text        NOT NULL,
  tenant     text        NOT NULL,
  policy_id  text        NOT NULL,
  hash       text        NOT NULL,
  record     text        NOT NULL
);
CREATE INDEX audit_records_tenant_idx ON {schema}.audit_records (tenant, seq);
CREATE INDEX audit_records_type_idx ON {schema}.audit_records (type, seq);
CREATE INDEX audit_records_at_idx ON {schema}.audit_records (at);

-- Append-only: unwrapd never updates or deletes a row, and these triggers refuse it to anyone who has not
-- disabled them (the table's owner can: grant unwrapd's role only SELECT and INSERT, docs/audit.md).
CREATE FUNCTION {schema}.audit_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'unwrapd audit records are append-only (% refused)', TG_OP;
END
$$;
CREATE TRIGGER audit_records_no_change BEFORE UPDATE OR DELETE ON {schema}.audit_records
  FOR EACH ROW EXECUTE FUNCTION {schema}.audit_records_append_only();
CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON {schema}.audit_records
  FOR EACH STATEMENT EXECUTE FUNCTION {schema}.audit_records_append_only();
`,
  },
];
