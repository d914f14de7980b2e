import fsp from 'node:fs/promises';
import {
  BotctlError,
  countRows,
  createSql,
  databaseExists,
  DatabaseError,
  describeDbError,
  formatDuration,
  IncompleteBackupError,
  IntegrityError,
  listUserTables,
  NotFoundError,
  otherSessions,
  RefusedError,
  type Sql,
  zonedStamp,
} from '@botctl/core';
import type { Storage } from '../storage/storage.js';
import { inspectArchive } from './archive-reader.js';
import { type CatalogScope, catalogScope, listBackups, type Location, type ResolvedArchive } from './catalog.js';
import { createBackup, type CreateResult } from './create-backup.js';
import { PgDumper } from './dumper.js';
import type { ArchiveEncryption } from './encryption.js';
import { type Manifest, parseSidecar, type Sidecar, sidecarName, type TableCount } from './format.js';
import { manifestIsOurs, sidecarIsOurs, storeIdentity } from './identity.js';
import { startPgRestore } from './pg-restore-sink.js';
import { destinationsFor, type Placement, placeFiles, stageMember, stagingDir } from './restore-files.js';
import { adminSql, createDatabase, dbnameConninfo, type ResolvedTarget, resolveTarget, type TargetSpec, targetEnv } from './targets.js';
import { type VerifyDeps, verifyOne } from './verify-backup.js';

export interface RestoreDeps extends VerifyDeps {
  /** For the pre-restore safety copy. */
  encryption: () => ArchiveEncryption;
  toolVersion: string;
  env: Record<string, string | undefined>;
}

export interface RestoreOptions {
  archive: ResolvedArchive | 'latest';
  target: TargetSpec;
  withConfig: boolean;
  withLogs: boolean;
  yes: boolean;
  dryRun: boolean;
  allowOtherStore: boolean;
}

export interface RestorePlan {
  archive: { name: string; location: Location; created_at: string; store_name: string };
  target: { database: string; url: string; exists: boolean; user_tables: number; other_sessions: number };
  action: 'create-database' | 'restore-into-empty' | 'overwrite';
  safety_backup: boolean;
  tables: TableCount[];
  rows: number;
  files: { member: string; staged_to: string; placed_at: string | null }[];
  /** Tables in the target that the backup does not have: left as they are. */
  extra_tables: string[];
}

export interface RestoreResult {
  status: 'restored' | 'dry-run';
  plan: RestorePlan;
  safety_backup: Pick<CreateResult, 'name' | 'path' | 'size'> | null;
  tables: { schema: string; table: string; expected: number; restored: number }[];
  restore_ms: number;
  duration_ms: number;
  staged_dir: string | null;
  placed: Placement[];
  warnings: string[];
}

/** The newest complete backup: local first, else the offsite copy (a server that lost its disk). */
export async function latestArchive(stores: { location: Location; storage: Storage }[], scope: CatalogScope): Promise<ResolvedArchive> {
  for (const store of stores) {
    const entries = await listBackups([store], scope);
    const latest = entries.find((e) => e.complete && e.kind !== 'pre-restore');
    const copy = latest?.copies.find((c) => c.sidecar);
    if (latest && copy) return { storage: copy.storage, name: latest.name, location: store.location };
  }
  throw new NotFoundError('there is no complete backup to use', { hint: 'see `botctl backup list`' });
}

export async function readSidecarOf(storage: Storage, name: string): Promise<Sidecar> {
  if (!(await storage.stat(name))) throw new NotFoundError(`${name} not found in ${storage.description}`, { hint: 'see `botctl backup list`' });
  const raw = await storage.readSmall(sidecarName(name));
  if (!raw) throw new IncompleteBackupError(`${name} has no sidecar: the backup never completed`, { hint: 'choose another backup' });
  const sc = parseSidecar(raw.toString('utf8'));
  if (!sc) throw new IncompleteBackupError(`${sidecarName(name)} is not a botctl sidecar`);
  return sc;
}

async function withSql<T>(sql: Sql, fn: (sql: Sql) => Promise<T>): Promise<T> {
  try {
    return await fn(sql);
  } finally {
    await sql.end({ timeout: 5 }).catch(() => undefined);
  }
}

/** Row counts in the restored database against the manifest. */
export async function compareCounts(url: ResolvedTarget['url'], tables: TableCount[]) {
  return withSql(createSql(url, { max: 1 }), async (sql) => {
    const out: { schema: string; table: string; expected: number; restored: number }[] = [];
    for (const t of tables) out.push({ schema: t.schema, table: t.table, expected: t.rows, restored: await countRows(sql, t) });
    return out;
  });
}

/**
 * `backup restore`: verify the archive fully, check it belongs to this store, look at the target,
 * take a safety backup before overwriting anything, then stream the dump from the decrypted
 * archive into `pg_restore --single-transaction --exit-on-error` (a failure leaves the database as
 * it was), compare every table's row count with the manifest, and stage (or put back) config and
 * logs.
 */
export async function restoreBackup(deps: RestoreDeps, opts: RestoreOptions): Promise<RestoreResult> {
  const { config, reporter, log } = deps;
  const t0 = performance.now();
  const lock = deps.lock(opts.dryRun ? 'backup restore --dry-run' : 'backup restore');
  const warnings: string[] = [];
  try {
    const stores: { location: Location; storage: Storage }[] = [{ location: 'local', storage: deps.local }];
    if (deps.offsite) stores.push({ location: 'offsite', storage: deps.offsite });
    const archive = opts.archive === 'latest' ? await latestArchive(stores, catalogScope(config, deps.clock.now())) : opts.archive;
    const sidecar = await readSidecarOf(archive.storage, archive.name);

    const identity = storeIdentity(config);
    const otherStore = (their: { name: string; id: string | undefined; database: string | undefined }) =>
      new RefusedError(
        `${archive.name} is a backup of "${their.name}", not of this store ("${identity.name}"): store ${their.id ?? '?'}${their.database ? `, database ${their.database}` : ''}; this is ${identity.id}`,
        { hint: 'check --env-file; pass --allow-other-store to restore it anyway' },
      );
    // A first look at the sidecar (cheap); the manifest inside decides once verified.
    if (!sidecarIsOurs(sidecar, identity) && !opts.allowOtherStore) {
      throw otherStore({ name: sidecar.store_name, id: sidecar.store_id, database: sidecar.database?.name });
    }

    const target = resolveTarget(config, opts.target, deps.env);

    reporter.step(`Verifying ${archive.name} (${archive.location}) before restoring`);
    const verified = await verifyOne(
      { ...deps, lock: deps.lock },
      archive.storage,
      archive.name,
      archive.location,
      { quick: false, readDump: false },
    );
    if (verified.error) throw verified.error;
    const manifest = verified.manifest as Manifest;
    if (!manifestIsOurs(manifest, identity) && !opts.allowOtherStore) {
      throw otherStore({ name: manifest.store_name, id: manifest.store?.id, database: manifest.database.name });
    }

    // What is there now.
    const admin = adminSql(target, config);
    let exists: boolean;
    let userTables: string[] = [];
    let sessions = 0;
    try {
      exists = await databaseExists(admin, target.database);
      if (target.create && exists) {
        throw new RefusedError(`database "${target.database}" already exists; --new-db only creates a new one`, {
          hint: 'choose another name, or use --target-db (with --yes to overwrite it)',
        });
      }
      if (!target.create && !exists) {
        throw new NotFoundError(`database "${target.database}" does not exist`, { hint: `use --new-db ${target.database} to create it` });
      }
      if (exists) {
        await withSql(createSql(target.url, { max: 1 }), async (sql) => {
          userTables = (await listUserTables(sql)).map((t) => `${t.schema}.${t.table}`);
        });
        sessions = (await otherSessions(admin, target.database)).length;
      }
    } catch (error) {
      await admin.end({ timeout: 5 }).catch(() => undefined);
      if (error instanceof BotctlError) throw error;
      throw describeDbError(error, `cannot inspect the target database "${target.database}"`);
    }

    const overwrite = userTables.length > 0;
    const backupTables = new Set(manifest.tables.map((t) => `${t.schema}.${t.table}`));
    const staging = stagingDir(config, archive.name);
    const nonDump = manifest.members.map((m) => m.name).filter((n) => !n.startsWith('database.dump.'));
    const destinations = destinationsFor(config, manifest, nonDump, { config: opts.withConfig, logs: opts.withLogs });
    const destOf = new Map(destinations.map((d) => [d.member, d.destination]));
    const plan: RestorePlan = {
      archive: { name: archive.name, location: archive.location, created_at: sidecar.created_at, store_name: sidecar.store_name },
      target: { database: target.database, url: target.display, exists, user_tables: userTables.length, other_sessions: sessions },
      action: target.create ? 'create-database' : overwrite ? 'overwrite' : 'restore-into-empty',
      safety_backup: overwrite,
      tables: manifest.tables,
      rows: manifest.row_total,
      files: nonDump.map((m) => ({ member: m, staged_to: `${staging}/${m}`, placed_at: destOf.get(m) ?? null })),
      extra_tables: userTables.filter((t) => !backupTables.has(t)),
    };
    if (plan.extra_tables.length) warnings.push(`the target has tables the backup does not (left as they are): ${plan.extra_tables.join(', ')}`);
    if (sessions > 0) warnings.push(`${sessions} other session(s) are connected to "${target.database}" (the bot?); stop the bot before restoring`);

    if (opts.dryRun) {
      await admin.end({ timeout: 5 }).catch(() => undefined);
      return { status: 'dry-run', plan, safety_backup: null, tables: [], restore_ms: 0, duration_ms: Math.round(performance.now() - t0), staged_dir: null, placed: [], warnings };
    }
    if (overwrite && !opts.yes) {
      await admin.end({ timeout: 5 }).catch(() => undefined);
      throw new RefusedError(
        `database "${target.database}" holds ${userTables.length} tables; restoring ${archive.name} would replace them`,
        { hint: 'add --yes to overwrite (a safety backup is taken first), or restore into a new database with --new-db NAME', details: { plan } },
      );
    }

    log.info(`Restore dimulai: ${archive.name} → database ${target.database} (${plan.action})`);
    let safety: RestoreResult['safety_backup'] = null;
    try {
      if (overwrite) {
        reporter.step(`Taking a safety backup of "${target.database}" first`);
        const made = await createBackup(
          {
            config,
            local: deps.local,
            offsite: undefined,
            dumper: new PgDumper({ databaseUrl: target.url, redactor: deps.redactor, binDir: deps.pgBinDir, checksumMaxBytes: config.backup.checksumMaxBytes }),
            encryption: deps.encryption(),
            reporter,
            log,
            clock: deps.clock,
            lock: deps.lock,
            toolVersion: deps.toolVersion,
            signal: deps.signal,
          },
          { offsite: false, includeLogs: true, kind: 'pre-restore', lockHeld: true },
        );
        safety = { name: made.name, path: made.path, size: made.size };
        log.info(`Safety backup sebelum restore: ${made.name}`);
      }
      if (target.create) {
        await createDatabase(admin, target.database);
        reporter.step(`Created database "${target.database}"`);
      }
    } finally {
      await admin.end({ timeout: 5 }).catch(() => undefined);
    }

    // The restore pass: the dump streams into pg_restore; config and logs go to staging.
    await fsp.rm(staging, { recursive: true, force: true });
    await fsp.mkdir(staging, { recursive: true, mode: 0o700 });
    const staged = new Map<string, string>();
    const decryption = await deps.decryption();
    const args = ['--no-owner', '--no-acl', '--single-transaction', '--exit-on-error'];
    if (overwrite) args.push('--clean', '--if-exists');
    args.push(`--dbname=${dbnameConninfo(target.database)}`);
    const sink = startPgRestore({
      args,
      env: targetEnv(target),
      binDir: deps.pgBinDir,
      redactor: deps.redactor,
      signal: deps.signal,
      onFailure: (stderr) =>
        new DatabaseError(`pg_restore failed; the database was left as it was${stderr ? `: ${stderr}` : ''}`, {
          hint: safety ? `nothing changed; the safety backup ${safety.name} is there anyway` : 'nothing was committed',
        }),
    });
    reporter.step(`Restoring into "${target.database}"`);
    const progress = reporter.progress('restore');
    const r0 = performance.now();
    let restoreMs = 0;
    try {
      await inspectArchive(
        await archive.storage.read(archive.name),
        decryption,
        {
          onDump: (chunk) => sink.write(chunk),
          onDumpEnd: async () => {
            await sink.end();
            restoreMs = Math.round(performance.now() - r0);
          },
          onMember: async (entry, consume) => {
            // consume() hashes each chunk for the manifest check and hands it to the file.
            const dest = await stageMember(staging, entry.name, (sink) => consume(sink));
            staged.set(entry.name, dest);
          },
          onCiphertextBytes: (n) => progress.update(n),
        },
        sidecar,
      );
    } catch (error) {
      sink.abort();
      log.error(`Restore gagal: ${archive.name} → ${target.database}: ${(error as Error).message}`);
      throw error;
    } finally {
      progress.done();
    }

    const tables = await compareCounts(target.url, manifest.tables);
    const wrong = tables.filter((t) => t.expected !== t.restored);
    if (wrong.length) {
      const first = wrong[0]!;
      const msg = `restored table ${first.schema}.${first.table} has ${first.restored} rows, the backup recorded ${first.expected}${wrong.length > 1 ? ` (and ${wrong.length - 1} more tables differ)` : ''}`;
      log.error(`Restore tidak cocok dengan manifest: ${msg}`);
      throw new IntegrityError(msg, {
        hint: safety ? `restore the previous state with: botctl backup restore ${safety.name} --yes` : 'inspect the restored database',
      });
    }

    const placed = await placeFiles(staged, destinations, zonedStamp(deps.clock.now(), config.timezone));
    log.info(
      `Restore database selesai: ${archive.name} → ${target.database} (${tables.length} tabel, ${manifest.row_total} baris, ${formatDuration(restoreMs)})` +
        (placed.length ? `; ${placed.length} file dipulihkan` : ''),
    );
    return {
      status: 'restored',
      plan,
      safety_backup: safety,
      tables,
      restore_ms: restoreMs,
      duration_ms: Math.round(performance.now() - t0),
      staged_dir: staging,
      placed,
      warnings,
    };
  } finally {
    lock.release();
  }
}
