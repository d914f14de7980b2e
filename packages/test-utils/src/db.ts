import { createSql, type Secret } from '@botctl/core';

/**
 * A digest of every user table's full contents (rows as text, ordered), so two databases can be
 * compared for identical data, not only equal counts.
 */
export async function databaseDigest(url: Secret): Promise<Record<string, { rows: number; md5: string | null }>> {
  const sql = createSql(url, { max: 1 });
  try {
    const tables = await sql<{ schema: string; table: string }[]>`
      SELECT table_schema AS schema, table_name AS table FROM information_schema.tables
      WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
      ORDER BY 1, 2`;
    const out: Record<string, { rows: number; md5: string | null }> = {};
    for (const t of tables) {
      const q = `"${t.schema}"."${t.table}"`;
      const [r] = await sql.unsafe<{ rows: string; md5: string | null }[]>(
        `SELECT count(*) AS rows, md5(string_agg(x::text, E'\\n' ORDER BY x::text)) AS md5 FROM ${q} x`,
      );
      out[`${t.schema}.${t.table}`] = { rows: Number(r!.rows), md5: r!.md5 };
    }
    return out;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

export async function queryOne<T>(url: Secret, text: string): Promise<T> {
  const sql = createSql(url, { max: 1 });
  try {
    const [row] = await sql.unsafe(text);
    return row as T;
  } finally {
    await sql.end({ timeout: 5 });
  }
}
