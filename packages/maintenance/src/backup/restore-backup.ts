import { randomBytes } from 'node:crypto';
import path from 'node:path';
import {
  type Secret,
  BotctlError,
  createSql,
  databaseExists,
  DatabaseError,
  describeDbError,
  quoteIdent,
  formatDuration,
  IncompleteBackupError,
  IntegrityError,
  listUserTables,
  NotFoundError,
  otherSessions,
  PartialError,
  RefusedError,
  type Fence,
  type Sql,
  type TableRef,
  zonedStamp,
} from '@botctl/core';
import type { Storage } from '../storage/storage.js';
import { inspectArchive } from '../archive/archive-reader.js';
import { type CatalogScope, catalogScope, listBackups, type Location, type ResolvedArchive } from './catalog.js';
import { createBackup, type CreateResult } from './create-backup.js';
import type { Dumper } from './dumper.js';
import type { ArchiveEncryption } from '../archive/encryption.js';
import { type Manifest, parseSidecar, type Sidecar, sidecarName, type TableCount } from '../archive/format.js';
import { manifestIsOurs, sidecarIsOurs, storeIdentity } from '../archive/store-identity.js';
import { startPgRestore } from './pg-restore-sink.js';
import { checkFileSpace, type FilePlan, FileStager, type NotPlaced, type Placement, planFiles, stagingDir } from './restore-files.js';
import { fenceTheBot, isShopDatabase } from './fence.js';
import { RestoreSession } from './restore-session.js';
import { clearPending, listScratch, markScratch, notePending, scratchMark, staleOf, unmarkScratchSql } from './scratch.js';
import {
  adminSql,
  cannotCreateDatabases,
  createDatabase,
  dropDatabase,
  ownerForNewDatabase,
  type ResolvedTarget,
  resolveTarget,
  roleCanCreateDatabases,
  type TargetSpec,
} from './targets.js';
import { type VerifyDeps, verifyOne } from './verify-backup.js';

export interface RestoreDeps extends VerifyDeps {
  /** For the pre-restore safety copy: its encryption and its pg_dump of the target (Services.dumper). */
  encryption: () => ArchiveEncryption;
  dumperFor: (databaseUrl: Secret) => Dumper;
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
  /** Longest wait for one lock held by another session (default BACKUP_RESTORE_LOCK_TIMEOUT_SECONDS). */
  lockTimeoutSeconds?: number;
  /** Where the env file goes back to with withConfig (recover, when the .env is gone). */
  envFileDestination?: string;
  /** Only config files, no database (recover, when the .env is gone: it holds DATABASE_URL). */
  configOnly?: boolean;
  /** What the maintenance fence tells the bot is going on (`recover`); default `backup restore`. */
  fenceCommand?: string;
}

interface RestorePlan {
  archive: { name: string; location: Location; created_at: string; store_name: string; store_id: string | null };
  target: { database: string; url: string; exists: boolean; user_tables: number; other_sessions: number };
  action: 'create-database' | 'restore-into-empty' | 'overwrite';
  safety_backup: boolean;
  tables: TableCount[];
  rows: number;
  files: { member: string; staged_to: string; placed_at: string | null; not_placed?: string }[];
  /** Tables in the target that the backup does not have: dropped, so the database ends equal to the backup. */
  extra_tables: string[];
}

export interface RestoreResult {
  status: 'restored' | 'dry-run';
  plan: RestorePlan;
  safety_backup: Pick<CreateResult, 'name' | 'path' | 'size'> | null;
  tables: { schema: string; table: string; expected: number; restored: number }[];
  restore_ms: number;
  duration_ms: number;
  /** Files from the backup that were not put back (kept for a person to look at), when there are any. */
  staged_dir: string | null;
  placed: Placement[];
  /** Files that could not be put back after the database was restored, and where they are. */
  not_placed: NotPlaced[];
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

/**
 * `backup restore`: verify the archive fully, check it belongs to this store (its manifest),
 * look at the target, plan where config and logs go (checked for links and space before
 * anything is written), then restore in ONE transaction of a psql session botctl drives
 * (RestoreSession): lock the target's tables (writes wait from here), take the safety copy,
 * drop everything of the database's own, run pg_restore's SQL while config and logs are staged,
 * check every table's rows and content against the manifest, and only then COMMIT. Every
 * failure or interruption before the COMMIT leaves the database as it was; after it, only
 * renames put files in place. The database ends equal to the backup, or unchanged.
 */
export async function restoreBackup(deps: RestoreDeps, opts: RestoreOptions): Promise<RestoreResult> {
  const { config, reporter } = deps;
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

    // Sizes as the sidecar declares them: a first, cheap refusal of an archive whose files cannot
    // fit (a decompression bomb) before reading it; the manifest's are checked again below.
    const staging = stagingDir(config, archive.name);
    const wish = { config: opts.withConfig || Boolean(opts.configOnly), logs: opts.withLogs, envFile: opts.envFileDestination };
    await checkFileSpace(planFiles(config, { members: sidecar.members, config_files: [] } as unknown as Manifest, wish), staging);

    reporter.step(`Verifying ${archive.name} (${archive.location}) before restoring`);
    const verified = await verifyOne({ ...deps, lock: deps.lock }, archive.storage, archive.name, archive.location, { quick: false, readDump: false });
    if (verified.error) throw verified.error;
    const manifest = verified.manifest as Manifest;
    if (!manifestIsOurs(manifest, identity) && !opts.allowOtherStore) {
      throw otherStore({ name: manifest.store_name, id: manifest.store?.id, database: manifest.database.name });
    }

    const filePlans = planFiles(config, manifest, wish);
    const planOf = (target: RestorePlan['target'], action: RestorePlan['action'], extra: string[]): RestorePlan => ({
      archive: {
        name: archive.name,
        location: archive.location,
        created_at: sidecar.created_at,
        store_name: manifest.store_name,
        store_id: manifest.store?.id ?? null,
      },
      target,
      action,
      safety_backup: action === 'overwrite',
      tables: manifest.tables,
      rows: manifest.row_total,
      files: filePlans.map((f) => ({
        member: f.member,
        staged_to: f.destination ? `${f.destination}.partial-*` : path.join(staging, f.member),
        placed_at: f.destination,
        ...(f.not_placed ? { not_placed: f.not_placed } : {}),
      })),
      extra_tables: extra,
    });
    for (const f of filePlans) if (f.not_placed) warnings.push(f.not_placed);

    if (opts.configOnly) return await restoreFilesOnly(deps, archive, sidecar, filePlans, staging, planOf, warnings, t0);

    const target = resolveTarget(config, opts.target, deps.env);
    // What is there now.
    const admin = adminSql(target, config);
    let exists: boolean;
    let userTables: TableRef[] = [];
    let sessions = 0;
    try {
      exists = await databaseExists(admin, target.database);
      if (target.create && exists) {
        // A --new-db restore of this store that was killed before it committed leaves its
        // (empty) database, marked: drop it and go on.
        const stale = staleOf(await listScratch(admin), config.storeId).find((d) => d.name === target.database && d.mark?.botctl === 'restore');
        if (stale) {
          await dropDatabase(admin, target.database);
          warnings.push(`dropped "${target.database}", left empty by an earlier restore that died before committing (pid ${stale.mark?.pid})`);
          exists = false;
        }
      }
      if (target.create && exists) {
        throw new RefusedError(`database "${target.database}" already exists; --new-db only creates a new one`, {
          hint: 'choose another name, or use --target-db (with --yes to overwrite it)',
        });
      }
      if (!target.create && !exists) {
        throw new NotFoundError(`database "${target.database}" does not exist`, { hint: `use --new-db ${target.database} to create it` });
      }
      if (target.create) {
        // Said before anything is done (and by --dry-run): the role must be allowed to create it.
        const { role, can } = await roleCanCreateDatabases(admin);
        if (!can) throw cannotCreateDatabases(role, config);
      }
      if (exists) {
        await withSql(createSql(target.url, { max: 1 }), async (sql) => {
          userTables = await listUserTables(sql);
        });
        sessions = (await otherSessions(admin, target.database)).length;
      }
    } catch (error) {
      await admin.end({ timeout: 5 }).catch(() => undefined);
      if (error instanceof BotctlError) throw error;
      // Nothing was written yet: say so, as every later failure does.
      const described = describeDbError(error, `cannot inspect the target database "${target.database}"`);
      throw new DatabaseError(`${described.message}; nothing was changed: "${target.database}" was left as it was`, { hint: described.hint, cause: error });
    }

    const overwrite = userTables.length > 0;
    const backupTables = new Set(manifest.tables.map((t) => `${t.schema}.${t.table}`));
    const extra = userTables.map((t) => `${t.schema}.${t.table}`).filter((t) => !backupTables.has(t));
    const plan = planOf(
      { database: target.database, url: target.display, exists, user_tables: userTables.length, other_sessions: sessions },
      target.create ? 'create-database' : overwrite ? 'overwrite' : 'restore-into-empty',
      extra,
    );
    if (extra.length) warnings.push(`the target has tables the backup does not; they are dropped, so it ends equal to the backup: ${extra.join(', ')}`);
    if (sessions > 0) {
      warnings.push(`${sessions} other session(s) are connected to "${target.database}" (the bot?): their writes wait until the restore is committed`);
    }

    if (opts.dryRun) {
      await admin.end({ timeout: 5 }).catch(() => undefined);
      return {
        status: 'dry-run',
        plan,
        safety_backup: null,
        tables: [],
        restore_ms: 0,
        duration_ms: Math.round(performance.now() - t0),
        staged_dir: null,
        placed: [],
        not_placed: [],
        warnings,
      };
    }
    if (overwrite && !opts.yes) {
      await admin.end({ timeout: 5 }).catch(() => undefined);
      throw new RefusedError(`database "${target.database}" holds ${userTables.length} tables; restoring ${archive.name} would replace them`, {
        hint: 'add --yes to overwrite (a safety backup is taken first), or restore into a new database with --new-db NAME',
        details: { plan },
      });
    }
    // Everything that can be refused is refused now, before anything is written.
    const stager = new FileStager(staging, filePlans);
    try {
      await stager.prepare(config.baseDir);
      await checkFileSpace(filePlans, staging);
    } catch (error) {
      await admin.end({ timeout: 5 }).catch(() => undefined);
      throw error;
    }

    // The shop's own database: the bot pauses for the whole restore (it honours the fence).
    let fence: Fence | undefined;
    if (isShopDatabase(config, target.url)) {
      try {
        fence = await fenceTheBot(config, {
          command: opts.fenceCommand ?? 'backup restore',
          database: target.database,
          warn: (m) => reporter.warn(m),
          step: (m) => reporter.step(m),
        });
      } catch (error) {
        await admin.end({ timeout: 5 }).catch(() => undefined);
        throw error;
      }
    }
    try {
      return await restoreInto(deps, opts, { archive, sidecar, manifest, target, admin, plan, stager, staging, warnings, overwrite, userTables, t0 });
    } finally {
      fence?.release();
    }
  } finally {
    lock.release();
  }
}

interface RestoreWork {
  archive: ResolvedArchive;
  sidecar: Sidecar;
  manifest: Manifest;
  target: ResolvedTarget;
  admin: Sql;
  plan: RestorePlan;
  stager: FileStager;
  staging: string;
  warnings: string[];
  overwrite: boolean;
  userTables: TableRef[];
  t0: number;
}

/** The restore itself, once everything that can be refused was refused (see restoreBackup). */
async function restoreInto(deps: RestoreDeps, opts: RestoreOptions, w: RestoreWork): Promise<RestoreResult> {
  const { config, reporter, log } = deps;
  const { archive, sidecar, manifest, target, admin, plan, stager, staging, warnings, overwrite, userTables, t0 } = w;
  log.info(`Restore dimulai: ${archive.name} → database ${target.database} (${plan.action})`);
  let safety: RestoreResult['safety_backup'] = null;
  let created = false;
  let session: RestoreSession | undefined;
  let restoreMs = 0;
  const lockTimeoutSeconds = opts.lockTimeoutSeconds ?? config.backup.restoreLockTimeoutSeconds;
  try {
    if (target.create) {
      // Made under a name of its own, marked, and only then renamed: the target's name never
      // exists unmarked, so a restore killed at any moment leaves nothing under it, or a marked
      // database the next --new-db of that name drops. The mark is cleared when the restore commits.
      const temp = `botctl_newdb_${process.pid}_${randomBytes(3).toString('hex')}`;
      const mark = scratchMark('restore', config.storeId, deps.clock.now());
      await notePending(config.stateDir, temp, mark);
      await createDatabase(admin, temp, config, { owner: ownerForNewDatabase(config, target) });
      try {
        await markScratch(admin, temp, mark);
        await clearPending(config.stateDir, temp);
        await admin.unsafe(`ALTER DATABASE ${quoteIdent(temp)} RENAME TO ${quoteIdent(target.database)}`);
      } catch (error) {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${quoteIdent(temp)}`).catch(() => undefined);
        throw describeDbError(error, `cannot create database "${target.database}"`);
      }
      created = true;
      reporter.step(`Created database "${target.database}"`);
    }
    session = await RestoreSession.begin({
      target,
      binDir: deps.pgBinDir,
      redactor: deps.redactor,
      signal: deps.signal,
      lockTimeoutSeconds,
      onWait: (w) => {
        const who = w.holders.map((h) => `pid ${h.pid} (${h.application || h.user}, ${h.state})`).join(', ') || 'another session';
        reporter.warn(`waiting for a lock${w.relation ? ` on ${w.relation}` : ''} held by ${who}; giving up after ${lockTimeoutSeconds} s`);
      },
    });
    // From here writes to the target wait: the safety copy holds everything committed before.
    await session.lock(userTables, 'EXCLUSIVE');
    if (overwrite) {
      reporter.step(`Taking a safety backup of "${target.database}" first`);
      const made = await createBackup(
        {
          config,
          local: deps.local,
          offsite: undefined,
          dumper: deps.dumperFor(target.url),
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
    await session.lock(userTables, 'ACCESS EXCLUSIVE');
    await session.dropEverything();

    // The restore pass: the dump streams through pg_restore (to SQL) into the transaction;
    // config and logs are staged as they come.
    const sink = startPgRestore({
      args: ['--no-owner', '--no-acl', '--file=-'],
      stdout: 'pipe',
      binDir: deps.pgBinDir,
      redactor: deps.redactor,
      signal: deps.signal,
      onFailure: (stderr) =>
        new DatabaseError(`pg_restore failed; the database was left as it was${stderr ? `: ${stderr}` : ''}`, {
          hint: safety ? `nothing changed; the safety backup ${safety.name} is there anyway` : 'nothing was committed',
        }),
    });
    const feeding = session.feed(sink.sql);
    // psql gone (an error, PostgreSQL restarting): stop pg_restore too, or it would wait forever
    // to hand over its output while the archive waits for it to take more input.
    feeding.catch(() => sink.abort());
    reporter.step(`Restoring into "${target.database}"`);
    const progress = reporter.progress('restore', sidecar.size);
    const r0 = performance.now();
    const decryption = await deps.decryption();
    try {
      await inspectArchive(
        await archive.storage.read(archive.name),
        decryption,
        {
          onDump: (chunk) => sink.write(chunk),
          onDumpEnd: async () => {
            await sink.end();
            await feeding;
          },
          onMember: async (entry, consume) => {
            // consume() hashes each chunk for the manifest check and hands it to the file.
            await stager.stage(entry.name, entry.size, (write) => consume(write));
          },
          onCiphertextBytes: (n) => progress.update(n),
        },
        sidecar,
      ).then((r) => {
        if (r.sha256 !== sidecar.sha256) throw new IntegrityError(`${archive.name} changed since it was verified (SHA-256); nothing was restored`);
      });
    } catch (error) {
      sink.abort();
      throw error;
    } finally {
      progress.done();
    }
    reporter.step(`Checking every table against the manifest before committing`);
    if (created) await session.exec(unmarkScratchSql(target.database));
    await session.checkAndCommit(manifest.tables);
    restoreMs = Math.round(performance.now() - r0);
  } catch (error) {
    await session?.abort();
    const outcome = (await session?.outcome()) ?? 'rolled-back';
    await stager.discard();
    if (created && outcome === 'rolled-back') await dropDatabase(admin, target.database).catch(() => undefined);
    await admin.end({ timeout: 5 }).catch(() => undefined);
    const interrupted = deps.signal?.aborted;
    const message = (error as Error).message;
    if (outcome !== 'rolled-back') {
      log.error(`Restore gagal: ${archive.name} → ${target.database}: ${message}`);
      throw error;
    }
    if (interrupted) reporter.warn(`interrupted: "${target.database}" was left as it was (the restore was rolled back)`);
    log.error(`Restore gagal: ${archive.name} → ${target.database}: ${message} (database tidak berubah)`);
    // Every failure before the COMMIT says so: the database is as it was.
    if (error instanceof BotctlError && !/left as it was|nothing was committed/.test(message)) {
      const said = target.create ? `"${target.database}" was not created` : `"${target.database}" was left as it was`;
      throw new BotctlError(error.code, error.exitCode, `${message}; ${said}`, { hint: error.hint, cause: error, details: error.details });
    }
    throw error;
  }
  await admin.end({ timeout: 5 }).catch(() => undefined);

  // Committed: only renames (and merging a log that exists) are left.
  const { placed, failed } = await stager.place(zonedStamp(deps.clock.now(), config.timezone));
  for (const f of failed) {
    const w = `${f.member} was not put back at ${f.destination} (${f.error}); the backup's copy is at ${f.staged}`;
    warnings.push(w);
    log.warn(`Restore: ${w}`);
  }
  const tables = manifest.tables.map((t) => ({ schema: t.schema, table: t.table, expected: t.rows, restored: t.rows }));
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
    staged_dir: stager.stagedAnything ? staging : null,
    placed,
    not_placed: failed,
    warnings,
  };
}

/** Config files only (recover, when the .env is gone), read from a fully checked archive. */
async function restoreFilesOnly(
  deps: RestoreDeps,
  archive: ResolvedArchive,
  sidecar: Sidecar,
  filePlans: FilePlan[],
  staging: string,
  planOf: (target: RestorePlan['target'], action: RestorePlan['action'], extra: string[]) => RestorePlan,
  warnings: string[],
  t0: number,
): Promise<RestoreResult> {
  const plans = filePlans.filter((f) => f.kind === 'config');
  const stager = new FileStager(staging, plans);
  await stager.prepare(deps.config.baseDir);
  await checkFileSpace(plans, staging);
  try {
    await inspectArchive(
      await archive.storage.read(archive.name),
      await deps.decryption(),
      {
        onDump: async () => undefined,
        onMember: async (entry, consume) => {
          if (entry.name.startsWith('config/')) await stager.stage(entry.name, entry.size, (write) => consume(write));
        },
      },
      sidecar,
    );
  } catch (error) {
    await stager.discard();
    throw error;
  }
  const { placed, failed } = await stager.place(zonedStamp(deps.clock.now(), deps.config.timezone));
  if (failed.length) throw new PartialError(`config files not put back: ${failed.map((f) => `${f.member}: ${f.error}`).join('; ')}`);
  return {
    status: 'restored',
    plan: planOf({ database: '', url: '', exists: false, user_tables: 0, other_sessions: 0 }, 'restore-into-empty', []),
    safety_backup: null,
    tables: [],
    restore_ms: 0,
    duration_ms: Math.round(performance.now() - t0),
    staged_dir: null,
    placed,
    not_placed: [],
    warnings,
  };
}
