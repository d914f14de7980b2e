import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type Config,
  countRows,
  createSql,
  DatabaseError,
  findPgTool,
  IntegrityError,
  isoWithOffset,
  libpqEnv,
  listUserTables,
  loadMigrations,
  migrate,
  parseDatabaseUrl,
  quoteIdent,
  type Redactor,
  RefusedError,
  type Secret,
  type Sql,
  UsageError,
  writeFileAtomic,
} from '@botctl/core';
import { execa } from 'execa';

const EXPORT_MANIFEST = 'manifest.json';
const MIGRATIONS_TABLE = 'schema_migrations';

export interface ExportManifest {
  format: 'botctl-export';
  format_version: 1;
  kind: 'sql' | 'csv';
  created_at: string;
  store_name: string;
  database: string;
  server_version: string;
  /** Highest applied schema migration in the source. */
  schema_version: number;
  tables: { schema: string; table: string; rows: number; file?: string }[];
  files: { name: string; size: number; sha256: string }[];
}

class HashCount extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: (e?: Error | null, d?: Buffer) => void) {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

async function prepareOutDir(dir: string): Promise<void> {
  const st = await fsp.stat(dir).catch(() => undefined);
  if (st && !st.isDirectory()) throw new UsageError(`${dir} exists and is not a folder`);
  if (st && (await fsp.readdir(dir)).length > 0) {
    throw new RefusedError(`${dir} is not empty; an export never overwrites`, { hint: 'give a new or empty folder to --out' });
  }
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
}

/** Tables in an order where every table comes after the tables it references. */
async function dependencyOrder(sql: Pick<Sql, 'unsafe'>, tables: { schema: string; table: string }[]): Promise<{ schema: string; table: string }[]> {
  const edges = await sql.unsafe<{ child: string; parent: string }[]>(`
    SELECT cn.nspname || '.' || c.relname AS child, pn.nspname || '.' || p.relname AS parent
      FROM pg_constraint k
      JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
      JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace
     WHERE k.contype = 'f'`);
  const key = (t: { schema: string; table: string }) => `${t.schema}.${t.table}`;
  const deps = new Map(tables.map((t) => [key(t), new Set<string>()]));
  for (const e of edges) if (e.child !== e.parent && deps.has(e.child) && deps.has(e.parent)) deps.get(e.child)!.add(e.parent);
  const out: { schema: string; table: string }[] = [];
  const done = new Set<string>();
  const visit = (t: { schema: string; table: string }, stack: Set<string>) => {
    const k = key(t);
    if (done.has(k) || stack.has(k)) return;
    stack.add(k);
    for (const p of deps.get(k) ?? []) visit(tables.find((x) => key(x) === p)!, stack);
    done.add(k);
    out.push(t);
  };
  for (const t of tables) visit(t, new Set());
  return out;
}

/**
 * `botctl db export`: the shop's data for a move to another server, read in one snapshot so
 * counts and data agree while the bot keeps running. `sql`: pg_dump's plain SQL (schema + data);
 * `csv`: one CSV per table (schema from our migrations on the other side). Streams to disk; the
 * manifest (row counts, SHA-256 of every file) is written last.
 */
export async function exportDatabase(
  deps: { config: Config; redactor: Redactor; now: Date },
  opts: { format: 'sql' | 'csv'; outDir: string },
): Promise<ExportManifest> {
  const { config } = deps;
  const url = config.databaseUrl!;
  await prepareOutDir(opts.outDir);
  const sql = createSql(url, { max: 1, applicationName: 'botctl db export' });
  const files: ExportManifest['files'] = [];
  try {
    return await sql.begin('ISOLATION LEVEL REPEATABLE READ READ ONLY', async (tx) => {
      const [{ snapshot, version, db }] = (await tx.unsafe(
        `SELECT pg_export_snapshot() AS snapshot, current_setting('server_version') AS version, current_database() AS db`,
      )) as unknown as [{ snapshot: string; version: string; db: string }];
      const [mv] = await tx.unsafe<{ v: number | null }[]>(
        `SELECT CASE WHEN to_regclass('${MIGRATIONS_TABLE}') IS NULL THEN 0 ELSE (SELECT max(version) FROM ${MIGRATIONS_TABLE}) END AS v`,
      );
      const all = await listUserTables(tx);
      const tables: ExportManifest['tables'] = [];
      for (const t of all) tables.push({ schema: t.schema, table: t.table, rows: await countRows(tx, t) });

      if (opts.format === 'sql') {
        const file = path.join(opts.outDir, 'dump.sql');
        const bin = findPgTool('pg_dump', { binDir: config.pgBinDir });
        const child = execa(bin, ['--format=plain', '--no-owner', '--no-acl', `--snapshot=${snapshot}`, '--dbname', parseDatabaseUrl(url).database], {
          env: libpqEnv(parseDatabaseUrl(url)),
          extendEnv: true,
          buffer: { stdout: false, stderr: true },
          reject: false,
        });
        const tap = new HashCount();
        await pipeline(child.stdout!, tap, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
        const r = await child;
        if (r.exitCode !== 0) {
          await fsp.rm(file, { force: true });
          throw new DatabaseError(
            `pg_dump failed: ${
              deps.redactor
                .redact(String(r.stderr ?? ''))
                .trim()
                .split('\n')
                .pop() ?? ''
            }`,
          );
        }
        files.push({ name: 'dump.sql', size: tap.bytes, sha256: tap.hash.digest('hex') });
      } else {
        // COPY through psql, one per table, in the exported snapshot. (postgres.js's COPY streams
        // can miss their end under backpressure: porsager/postgres#917, #499.)
        const bin = findPgTool('psql', { binDir: config.pgBinDir });
        for (const t of tables) {
          if (t.schema === 'public' && t.table === MIGRATIONS_TABLE) continue;
          const name = `${t.schema}.${t.table}.csv`;
          const file = path.join(opts.outDir, name);
          const child = execa(
            bin,
            [
              '-X',
              '-q',
              '-v',
              'ON_ERROR_STOP=1',
              '-c',
              'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY',
              '-c',
              `SET TRANSACTION SNAPSHOT '${snapshot}'`,
              '-c',
              `COPY ${quoteIdent(t.schema)}.${quoteIdent(t.table)} TO STDOUT WITH (FORMAT csv, HEADER true)`,
              '-c',
              'COMMIT',
              '--dbname',
              parseDatabaseUrl(url).database,
            ],
            { env: libpqEnv(parseDatabaseUrl(url)), extendEnv: true, buffer: { stdout: false, stderr: true }, reject: false },
          );
          const tap = new HashCount();
          await pipeline(child.stdout!, tap, fs.createWriteStream(file, { flags: 'wx', mode: 0o600 }));
          const r = await child;
          if (r.exitCode !== 0) {
            throw new DatabaseError(
              `psql COPY of ${t.schema}.${t.table} failed: ${
                deps.redactor
                  .redact(String(r.stderr ?? ''))
                  .trim()
                  .split('\n')
                  .pop() ?? ''
              }`,
            );
          }
          t.file = name;
          files.push({ name, size: tap.bytes, sha256: tap.hash.digest('hex') });
        }
      }
      const manifest: ExportManifest = {
        format: 'botctl-export',
        format_version: 1,
        kind: opts.format,
        created_at: isoWithOffset(deps.now, config.timezone),
        store_name: config.storeName,
        database: db,
        server_version: version,
        schema_version: mv?.v ?? 0,
        tables: opts.format === 'csv' ? tables.filter((t) => !(t.schema === 'public' && t.table === MIGRATIONS_TABLE)) : tables,
        files,
      };
      await writeFileAtomic(path.join(opts.outDir, EXPORT_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
      return manifest;
    });
  } catch (error) {
    // A failed export leaves no manifest: the folder does not look like a finished export.
    await fsp.rm(path.join(opts.outDir, EXPORT_MANIFEST), { force: true });
    throw error;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

async function sha256File(file: string): Promise<{ size: number; sha256: string }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of fs.createReadStream(file)) {
    h.update(c as Buffer);
    size += (c as Buffer).length;
  }
  return { size, sha256: h.digest('hex') };
}

async function readExportManifest(dir: string): Promise<ExportManifest> {
  let m: ExportManifest;
  try {
    m = JSON.parse(await fsp.readFile(path.join(dir, EXPORT_MANIFEST), 'utf8')) as ExportManifest;
  } catch {
    throw new IntegrityError(`${dir} has no readable ${EXPORT_MANIFEST}: not a finished \`botctl db export\``, {
      hint: 'export again; an interrupted export has no manifest',
    });
  }
  if (m.format !== 'botctl-export' || m.format_version !== 1)
    throw new IntegrityError(`${dir}/${EXPORT_MANIFEST} is not a botctl export (format ${m.format} ${m.format_version})`);
  return m;
}

export interface ImportResult {
  kind: 'sql' | 'csv';
  database: string;
  tables: { schema: string; table: string; expected: number; imported: number }[];
  rows: number;
}

/**
 * `botctl db import DIR`: into an empty database only (anything else is refused, nothing is
 * touched). Every file is checked against the manifest first; the load is one transaction; row
 * counts must equal the manifest's or nothing is kept.
 */
export async function importDatabase(deps: { config: Config; redactor: Redactor; url: Secret }, dir: string): Promise<ImportResult> {
  const { config } = deps;
  const manifest = await readExportManifest(dir);
  for (const f of manifest.files) {
    const got = await sha256File(path.join(dir, f.name)).catch(() => undefined);
    if (!got || got.sha256 !== f.sha256 || got.size !== f.size) throw new IntegrityError(`${f.name} in ${dir} is missing or differs from the manifest`);
  }
  const sql = createSql(deps.url, { max: 1, applicationName: 'botctl db import' });
  const database = parseDatabaseUrl(deps.url).database;
  try {
    const existing = (await listUserTables(sql)).filter((t) => !(t.schema === 'public' && t.table === MIGRATIONS_TABLE));
    const [mig] = await sql<{ t: string | null }[]>`SELECT to_regclass(${MIGRATIONS_TABLE})::text AS t`;
    const occupied = existing.length + (manifest.kind === 'sql' && mig?.t ? 1 : 0);
    if (occupied > 0) {
      throw new RefusedError(`database "${database}" is not empty (${occupied} tables); import only goes into an empty database`, {
        hint: 'create a new database (createdb), point DATABASE_URL at it, and import again',
      });
    }
    if (manifest.kind === 'sql') {
      const bin = findPgTool('psql', { binDir: config.pgBinDir });
      const r = await execa(bin, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-f', path.join(dir, 'dump.sql'), '--dbname', database], {
        env: libpqEnv(parseDatabaseUrl(deps.url)),
        extendEnv: true,
        reject: false,
        stdout: 'ignore',
      });
      if (r.exitCode !== 0) {
        throw new DatabaseError(
          `psql failed, nothing was imported: ${
            deps.redactor
              .redact(String(r.stderr ?? ''))
              .trim()
              .split('\n')
              .slice(-1)[0] ?? ''
          }`,
        );
      }
    } else {
      const known = Math.max(0, ...loadMigrations().map((m) => m.version));
      if (manifest.schema_version > known) {
        throw new RefusedError(`the export has schema version ${manifest.schema_version}, this botctl knows up to ${known}`, {
          hint: 'install the same or a newer botctl here',
        });
      }
      await migrate(sql);
      // One psql session, one transaction: every table's \copy in dependency order, then the
      // sequences moved past the imported ids. Any error rolls everything back.
      const order = await dependencyOrder(sql, manifest.tables);
      const lit = (v: string) => `'${v.replace(/'/g, "''")}'`;
      const script: string[] = [];
      for (const t of order) {
        const m = manifest.tables.find((x) => x.schema === t.schema && x.table === t.table)!;
        script.push(`\\copy ${quoteIdent(t.schema)}.${quoteIdent(t.table)} FROM ${lit(path.join(dir, m.file!))} WITH (FORMAT csv, HEADER true)`);
      }
      const seqs = await sql.unsafe<{ tbl: string; col: string }[]>(`
        SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS tbl, a.attname AS col
          FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND a.attnum > 0 AND NOT a.attisdropped
           AND pg_get_serial_sequence(quote_ident(n.nspname) || '.' || quote_ident(c.relname), a.attname) IS NOT NULL`);
      for (const q of seqs) {
        script.push(
          `SELECT setval(pg_get_serial_sequence(${lit(q.tbl)}, ${lit(q.col)}), coalesce((SELECT max(${quoteIdent(q.col)}) FROM ${q.tbl}), 0) + 1, false);`,
        );
      }
      const bin = findPgTool('psql', { binDir: config.pgBinDir });
      const r = await execa(bin, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-f', '-', '--dbname', database], {
        env: libpqEnv(parseDatabaseUrl(deps.url)),
        extendEnv: true,
        reject: false,
        input: `${script.join('\n')}\n`,
        stdout: 'ignore',
      });
      if (r.exitCode !== 0) {
        throw new DatabaseError(
          `psql failed, nothing was imported: ${
            deps.redactor
              .redact(String(r.stderr ?? ''))
              .trim()
              .split('\n')
              .slice(-1)[0] ?? ''
          }`,
          {
            hint: 'the schema was created by the migrations; drop the database and import again after fixing the cause',
          },
        );
      }
    }
    const tables: ImportResult['tables'] = [];
    for (const t of manifest.tables) tables.push({ schema: t.schema, table: t.table, expected: t.rows, imported: await countRows(sql, t) });
    const wrong = tables.filter((t) => t.expected !== t.imported);
    if (wrong.length) {
      throw new IntegrityError(`imported ${wrong[0]!.schema}.${wrong[0]!.table} has ${wrong[0]!.imported} rows, the manifest says ${wrong[0]!.expected}`, {
        hint: 'the database now holds a partial import: drop it and import again into a new one',
      });
    }
    return { kind: manifest.kind, database, tables, rows: tables.reduce((a, t) => a + t.imported, 0) };
  } finally {
    await sql.end({ timeout: 5 });
  }
}
