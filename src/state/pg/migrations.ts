/**
 * The versioned schema of the PostgreSQL shared state. Append only: a released
 * migration is never edited; a change is a new entry with the next version.
 * Applied at start, in one transaction, under an advisory lock (see migrate.ts).
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'shared state: tree heads, fork evidence, TOFU ledger, leases',
    sql: `
CREATE TABLE modgate_tree_heads (
  db          text PRIMARY KEY,
  note        text NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now(),
  updated_by  text NOT NULL
);
CREATE TABLE modgate_forks (
  db           text PRIMARY KEY,
  evidence     text NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  recorded_by  text NOT NULL
);
CREATE TABLE modgate_tofu (
  key         text PRIMARY KEY,
  value       text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  created_by  text NOT NULL
);
CREATE TABLE modgate_leases (
  key         text PRIMARY KEY,
  holder      text NOT NULL,
  token       text NOT NULL,
  expires_at  timestamptz NOT NULL
);
`,
  },
];

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
