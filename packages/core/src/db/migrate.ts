import fs from 'node:fs';
import { shippedPath } from '../shipped.js';
import type { Sql } from './connection.js';

/** packages/core/migrations in a checkout; share/migrations in the release tree. */
export const MIGRATIONS_DIR = shippedPath('migrations');

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export function loadMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return fs
    .readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f.replace(/\.sql$/, ''), sql: fs.readFileSync(`${dir}/${f}`, 'utf8') }));
}

export interface MigrateResult {
  applied: string[];
  current: number;
}

/** Arbitrary constant: one migrator at a time per database (two bots starting together). */
const MIGRATION_LOCK = 0x626f7463; // "botc"

/**
 * Applies pending migrations in order, each in its own transaction, under an advisory lock.
 * Idempotent: running it again applies nothing.
 */
export async function migrate(sql: Sql, migrations = loadMigrations()): Promise<MigrateResult> {
  const applied: string[] = [];
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version    integer     PRIMARY KEY,
        name       text        NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`;
    const done = new Set((await tx<{ version: number }[]>`SELECT version FROM schema_migrations`).map((r) => r.version));
    for (const m of migrations) {
      if (done.has(m.version)) continue;
      await tx.unsafe(m.sql);
      await tx`INSERT INTO schema_migrations (version, name) VALUES (${m.version}, ${m.name})`;
      applied.push(m.name);
    }
  });
  const [row] = await sql<{ v: number | null }[]>`SELECT max(version) AS v FROM schema_migrations`;
  return { applied, current: row?.v ?? 0 };
}

export async function pendingMigrations(sql: Sql, migrations = loadMigrations()): Promise<Migration[]> {
  const [exists] = await sql<{ t: string | null }[]>`SELECT to_regclass('schema_migrations')::text AS t`;
  if (!exists?.t) return migrations;
  const done = new Set((await sql<{ version: number }[]>`SELECT version FROM schema_migrations`).map((r) => r.version));
  return migrations.filter((m) => !done.has(m.version));
}
