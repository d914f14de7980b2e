import type { Sql } from './connection.js';

export const quoteIdent = (s: string): string => `"${s.replace(/"/g, '""')}"`;
export const quoteLiteral = (s: string): string => `'${s.replace(/'/g, "''")}'`;

export interface TableRef {
  schema: string;
  table: string;
}

/**
 * User tables whose data pg_dump dumps: ordinary and partitioned tables outside the system
 * schemas, not owned by an extension.
 */
export const USER_TABLES_SQL = `
  SELECT n.nspname AS schema, c.relname AS table, pg_relation_size(c.oid)::bigint AS bytes
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
  ORDER BY 1, 2`;

type Queryable = Pick<Sql, 'unsafe'>;

export async function listUserTables(sql: Queryable): Promise<(TableRef & { bytes: number })[]> {
  const rows = await sql.unsafe<{ schema: string; table: string; bytes: string }[]>(USER_TABLES_SQL);
  return rows.map((r) => ({ schema: r.schema, table: r.table, bytes: Number(r.bytes) }));
}

export async function countRows(sql: Queryable, t: TableRef): Promise<number> {
  const [row] = await sql.unsafe<{ n: string }[]>(`SELECT count(*)::bigint AS n FROM ${quoteIdent(t.schema)}.${quoteIdent(t.table)}`);
  return Number(row?.n ?? 0);
}

/**
 * A checksum of a table's whole contents that does not depend on physical row order: md5 of
 * every row's text form, sorted. Equal data gives an equal checksum after a dump and restore.
 */
export async function tableChecksum(sql: Queryable, t: TableRef): Promise<string> {
  const [row] = await sql.unsafe<{ md5: string }[]>(
    `SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS md5 FROM ${quoteIdent(t.schema)}.${quoteIdent(t.table)} x`,
  );
  return row!.md5;
}

export async function databaseExists(sql: Queryable, name: string): Promise<boolean> {
  const rows = await sql.unsafe<{ one: number }[]>(`SELECT 1 AS one FROM pg_database WHERE datname = ${quoteLiteral(name)}`);
  return rows.length > 0;
}

/** Other sessions connected to a database (the bot, a psql left open). */
export async function otherSessions(sql: Queryable, database: string): Promise<{ pid: number; application: string; user: string }[]> {
  const rows = await sql.unsafe<{ pid: number; application_name: string; usename: string }[]>(
    `SELECT pid, application_name, usename FROM pg_stat_activity WHERE datname = ${quoteLiteral(database)} AND pid <> pg_backend_pid()`,
  );
  return rows.map((r) => ({ pid: r.pid, application: r.application_name, user: r.usename }));
}

/** Database names botctl creates are plain identifiers; refuse anything else early. */
export function isSafeDatabaseName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_-]{0,62}$/.test(name);
}
