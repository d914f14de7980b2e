import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import {
  BotctlError,
  classifyIoError,
  createSql,
  type Config,
  ExitCode,
  findPgTool,
  freePort,
  IntegrityError,
  InterruptedError,
  isoWithOffset,
  NotFoundError,
  parseDatabaseUrl,
  Secret,
  shownTime,
  zonedToInstant,
} from '@botctl/core';
import { execa } from 'execa';
import * as tar from 'tar';
import { type ArchiveDecryption, type ArchiveEncryption, classifyDecryptError } from '../archive/encryption.js';
import { type BackupDeps, createBackup } from '../backup/create-backup.js';
import type { Dumper } from '../backup/dumper.js';
import { type RestoreDeps, type RestoreOptions, type RestoreResult, restoreBackup } from '../backup/restore-backup.js';
import { LocalDirStorage } from '../storage/local-dir-storage.js';
import { type Storage, storagePath } from '../storage/storage.js';
import { type BaseBackupSidecar, listBaseBackups } from './base-backup.js';
import { holdBaseBackup } from './holds.js';
import { segmentsAfter, type WalStores } from './wal-archive.js';

// `backup restore --to-time` for one tenant: the newest base backup of its cluster that finished
// before the target, unpacked into a private scratch data directory, WAL replayed up to the target
// by a temporary postmaster of its own (restore_command = `botctl wal fetch`), that tenant's
// database dumped from it into an archive like any backup, and restored through the one safe
// restore path (verification, safety copy, the bot fenced, equal or unchanged). The scratch
// directory goes, whatever happens.

interface ClusterSide {
  config: Config;
  /** The WAL archive: to tell its end from a gap in it. */
  wal: WalStores;
  /** `<BACKUP_LOCAL_DIR>/base` and its offsite twin. */
  base: { local: Storage; offsite?: Storage | undefined };
  decryption: ArchiveDecryption;
}

export interface PointInTimeDeps {
  cluster: ClusterSide;
  /** The tenant's restore dependencies (the safe path). */
  restore: RestoreDeps;
  /** The tenant's archive encryption and its pg_dump runner for another database. */
  encryption: ArchiveEncryption;
  dumperFor: (databaseUrl: Secret) => Dumper;
  /** How PostgreSQL's recovery runs botctl: `[node, '--', main.js]`. */
  botctl: string[];
}

export interface PointInTimeResult {
  target: string;
  base_backup: { name: string; finished_at: string };
  /** The moment the database was brought to: the last transaction replayed, in BOT_TIMEZONE. */
  reached: string | null;
  /** How recovery stopped: before the first transaction after the target, or at the archive's end. */
  stopped: 'at-target' | 'end-of-archive';
  restore: RestoreResult;
}

/** Parses `--to-time`: an ISO timestamp with its offset, or a local time in BOT_TIMEZONE (`2026-12-01 10:15[:00]`). */
export function parseTargetTime(text: string, timeZone: string): Date {
  const local = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text.trim());
  if (local) {
    const [, y, mo, d, h, mi, s] = local.map(Number) as number[];
    return zonedToInstant({ year: y!, month: mo!, day: d!, hour: h!, minute: mi!, second: Number.isNaN(s) ? 0 : s! }, timeZone);
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(text.trim())) {
    const t = new Date(text.trim());
    if (!Number.isNaN(t.getTime())) return t;
  }
  throw new BotctlError('USAGE', ExitCode.USAGE, `--to-time ${JSON.stringify(text)} is not a time`, {
    hint: `write it as "2026-12-01 10:15:00" (${timeZone}, BOT_TIMEZONE) or as ISO with its offset, 2026-12-01T10:15:00+07:00`,
  });
}

interface Scratch {
  dir: string;
  data: string;
  /** Runs a server program as the user that owns the scratch directory (postgres when we are root). */
  run: (file: string, args: string[], env?: Record<string, string>) => ReturnType<typeof execa>;
  owner: { uid: number; gid: number } | undefined;
}

function postgresUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const line = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'));
  const f = line?.split(':');
  if (!f)
    throw new BotctlError('NO_PG_USER', ExitCode.FAILURE, 'running as root and there is no "postgres" user to run the scratch server', {
      hint: 'run botctl as the tenant user',
    });
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

async function makeScratch(config: Config): Promise<Scratch> {
  const owner = postgresUser();
  await fsp.mkdir(config.stateDir, { recursive: true });
  const dir = await fsp.mkdtemp(path.join(config.stateDir, 'pitr-'));
  await fsp.chmod(dir, 0o700);
  const data = path.join(dir, 'data');
  await fsp.mkdir(data, { mode: 0o700 });
  const runuser = ['/usr/sbin/runuser', '/sbin/runuser', '/usr/bin/runuser'].find((p) => fs.existsSync(p)) ?? 'runuser';
  return {
    dir,
    data,
    owner,
    run: (file, args, env = {}) =>
      owner
        ? execa(runuser, ['-u', 'postgres', '--', file, ...args], { env, stdin: 'ignore', reject: false })
        : execa(file, args, { env, stdin: 'ignore', reject: false }),
  };
}

/**
 * Stops the scratch server and waits until it is gone: a server that ended its own recovery is
 * still shutting down, and its restore_command may still be writing into pg_wal.
 */
async function stopScratch(s: Scratch, pgCtl: string): Promise<void> {
  await s.run(pgCtl, ['-D', s.data, '-m', 'immediate', '-w', 'stop']);
  for (let i = 0; i < 150 && fs.existsSync(path.join(s.data, 'postmaster.pid')); i++) await new Promise((r) => setTimeout(r, 200));
}

/** Removes a folder whose last writers may still be finishing (ENOTEMPTY, EBUSY): retried a while. */
const removeTree = (dir: string) => fsp.rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });

async function chownTree(p: string, owner: { uid: number; gid: number }): Promise<void> {
  await fsp.lchown(p, owner.uid, owner.gid);
  const st = await fsp.lstat(p);
  if (st.isDirectory()) for (const e of await fsp.readdir(p)) await chownTree(path.join(p, e), owner);
}

/** The base backup to start from: the newest that finished before the target, local copy first. */
async function pickBase(cluster: ClusterSide, target: Date): Promise<{ base: BaseBackupSidecar; storage: Storage }> {
  const found: { base: BaseBackupSidecar; storage: Storage }[] = [];
  for (const storage of [cluster.base.local, cluster.base.offsite]) {
    if (!storage) continue;
    const list = await listBaseBackups(storage, cluster.config.storeId).catch(() => []);
    for (const b of list) if (!found.some((f) => f.base.name === b.name)) found.push({ base: b, storage });
  }
  const before = found
    .filter((f) => Date.parse(f.base.finished_at) <= target.getTime())
    .sort((a, b) => Date.parse(b.base.finished_at) - Date.parse(a.base.finished_at));
  if (!before[0]) {
    const oldest = found.map((f) => f.base.finished_at).sort()[0];
    throw new NotFoundError(
      `no base backup of cluster ${cluster.config.storeName} finished before ${shownTime(target.toISOString(), cluster.config.timezone)}`,
      {
        hint: oldest
          ? `the oldest finished ${shownTime(oldest, cluster.config.timezone)}: pick a later time`
          : 'make one: botctl --env-file <cluster env> cluster backup',
      },
    );
  }
  return before[0];
}

/** The env file `wal fetch` runs with inside recovery: the cluster's archive, the identity, nothing else. */
function fetchEnv(cluster: Config, scratch: string): string {
  const lines = [
    `BOT_STORE_NAME=${JSON.stringify(cluster.storeName)}`,
    `BACKUP_STORE_ID=${cluster.storeId}`,
    `BOT_TIMEZONE=${cluster.timezone}`,
    `BACKUP_LOCAL_DIR=${JSON.stringify(cluster.backup.localDir)}`,
    `BACKUP_OFFSITE_DIR=${JSON.stringify(cluster.backup.offsiteDir)}`,
    ...(cluster.backup.offsiteRemote ? [`BACKUP_OFFSITE_REMOTE=${JSON.stringify(cluster.backup.offsiteRemote)}`] : []),
    `BACKUP_AGE_IDENTITY_FILE=${JSON.stringify(path.join(scratch, 'identity.txt'))}`,
    `BOT_LOG_PATH=${JSON.stringify(path.join(scratch, 'logs'))}`,
    `BOT_STATE_DIR=${JSON.stringify(path.join(scratch, 'state'))}`,
    ...Object.entries(cluster.backup.rcloneEnv).map(([k, v]) => `${k}=${JSON.stringify(v)}`),
  ];
  return `${lines.join('\n')}\n`;
}

const quoteConf = (v: string) => `'${v.replace(/'/g, "''")}'`;
const quoteShell = (v: string) => `'${v.replace(/'/g, `'"'"'`)}'`;

interface Recovered {
  port: number;
  /** The archive ended before the target: no transaction after it was archived. */
  short?: true;
  stopped: PointInTimeResult['stopped'];
}

/**
 * Unpacks the base backup into the scratch folder and configures a private server to recover it
 * to `target`. Returns its port.
 */
async function prepareScratch(deps: PointInTimeDeps, s: Scratch, base: { base: BaseBackupSidecar; storage: Storage }, target: Date): Promise<number> {
  const { cluster } = deps;
  const signal = deps.restore.signal;
  await removeTree(s.data);
  await fsp.mkdir(s.data, { mode: 0o700 });
  // Unpacked by the tar library: entries may not leave the folder (no absolute paths, no ..).
  const where = storagePath(base.storage, base.base.name);
  let plaintext: Readable;
  try {
    plaintext = await cluster.decryption.decrypt(await base.storage.read(base.base.name));
  } catch (error) {
    const e = classifyDecryptError(error, { fingerprints: cluster.decryption.fingerprints, expected: base.base.encryption });
    throw new BotctlError(e.code, e.exitCode, `base backup ${where}: ${e.message}`, {
      hint: e.code === 'WRONG_KEY' ? "BACKUP_AGE_IDENTITY_FILE must hold the cluster's key (an identity file may hold the cluster's and the tenant's)" : e.hint,
      cause: error,
    });
  }
  try {
    await pipeline(plaintext, zlib.createGunzip(), tar.x({ cwd: s.data, strict: true, preservePaths: false, preserveOwner: false }), signal ? { signal } : {});
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if ((error as NodeJS.ErrnoException).syscall) throw classifyIoError(error, `the scratch folder ${s.dir}`);
    throw new IntegrityError(`base backup ${where} is damaged: ${(error as Error).message}`, { hint: 'use its offsite copy or an older base backup' });
  }
  for (const stale of ['postmaster.pid', 'postmaster.opts', 'standby.signal']) await fsp.rm(path.join(s.data, stale), { force: true });
  await fsp.writeFile(path.join(s.data, 'recovery.signal'), '');
  // Debian keeps postgresql.conf and pg_hba.conf outside the data directory: the scratch server has its own.
  if (!fs.existsSync(path.join(s.data, 'postgresql.conf'))) await fsp.writeFile(path.join(s.data, 'postgresql.conf'), '# botctl restore --to-time\n');
  await fsp.writeFile(path.join(s.dir, 'pg_hba.conf'), 'host all all 127.0.0.1/32 scram-sha-256\n');
  await fsp.writeFile(path.join(s.dir, 'pg_ident.conf'), '');
  const port = await freePort();
  const settings: Record<string, string> = {
    port: String(port),
    listen_addresses: quoteConf('127.0.0.1'),
    unix_socket_directories: quoteConf(s.dir),
    hba_file: quoteConf(path.join(s.dir, 'pg_hba.conf')),
    ident_file: quoteConf(path.join(s.dir, 'pg_ident.conf')),
    archive_mode: 'off',
    // A throwaway server read once by pg_dump: nothing it writes must survive a crash of the host
    // (the restore would start again), so its replay and checkpoints need not wait for the disk.
    fsync: 'off',
    full_page_writes: 'off',
    shared_buffers: quoteConf('128MB'),
    log_destination: quoteConf('stderr'),
    logging_collector: 'off',
    restore_command: quoteConf(`${deps.botctl.map(quoteShell).join(' ')} --env-file ${quoteShell(path.join(s.dir, 'wal.env'))} --quiet wal fetch %f %p`),
    recovery_target_action: quoteConf('promote'),
    recovery_target_time: quoteConf(target.toISOString().replace('T', ' ').replace('Z', '+00')),
  };
  await fsp.appendFile(
    path.join(s.data, 'postgresql.auto.conf'),
    `\n# botctl restore --to-time: a private scratch server\n${Object.entries(settings)
      .map(([k, v]) => `${k} = ${v}`)
      .join('\n')}\n`,
  );
  if (s.owner) await chownTree(s.dir, s.owner);
  return port;
}

/**
 * One recovery attempt of the prepared scratch server: to its target, or (`target` undefined,
 * after an attempt that found the archive ending before the target) to the archive's end. The
 * second attempt starts the same data directory again without a target: the first one stopped
 * before promoting, so PostgreSQL resumes the archive recovery (from its last restartpoint), and
 * the base backup is not unpacked twice.
 */
async function recoverOnce(deps: PointInTimeDeps, s: Scratch, port: number, target: Date | undefined): Promise<Recovered> {
  const { cluster } = deps;
  const signal = deps.restore.signal;
  // On a port of its own again: the first attempt's may have been taken meanwhile.
  if (!target)
    await fsp.appendFile(
      path.join(s.data, 'postgresql.auto.conf'),
      `# botctl: the archive ended before the target; replay all of it\nrecovery_target_time = ''\nport = ${port}\n`,
    );
  // A log of its own per attempt: the retry must not read the first attempt's "recovery ended" and
  // take a server still replaying for done (a drill once dumped the database before its canary).
  const log = path.join(s.dir, `recovery-${target ? 'target' : 'end'}.log`);
  await fsp.rm(log, { force: true });
  const pgCtl = findPgTool('pg_ctl', { binDir: cluster.config.pgBinDir });
  const started = await s.run(pgCtl, ['-D', s.data, '-l', log, '-w', '-t', '3600', 'start'], { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' });
  const logText = () => (fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
  // Promoted once the target (or the archive's end) is reached: the log says so, or the server stops.
  for (;;) {
    if (signal?.aborted) throw signal.reason instanceof BotctlError ? signal.reason : new InterruptedError('SIGINT');
    const text = logText();
    if (/database system is ready to accept connections/.test(text) && /(archive recovery complete|selected new timeline ID)/.test(text)) break;
    if (/recovery ended before configured recovery target was reached/.test(text)) {
      await refuseGap(deps, text);
      return { port, stopped: 'end-of-archive', short: true };
    }
    const fatal = /(?:FATAL|PANIC):\s+(.*)/.exec(text);
    if (fatal || (started.exitCode !== 0 && !/database system is ready/.test(text))) {
      const missing = [...text.matchAll(/botctl: error: ([0-9A-F]{24}) is not in the WAL archive/g)].map((m) => m[1]).at(-1);
      // The line before a FATAL says why (a setting, a file); both together are the message.
      const lines = text.split('\n').filter((l) => /(LOG|ERROR|FATAL|PANIC|DETAIL):/.test(l));
      const at = lines.findIndex((l) => /(FATAL|PANIC):/.test(l));
      const why = (at > 0 ? [lines[at - 1]!, lines[at]!] : [fatal?.[1] ?? String(started.stderr)])
        .map((l) => l.replace(/^.*?(LOG|ERROR|FATAL|PANIC|DETAIL):\s+/, ''))
        .join(': ');
      throw new BotctlError('PITR_FAILED', ExitCode.FAILURE, `the scratch server's recovery failed: ${why}`, {
        hint: missing
          ? `it asked the WAL archive for ${missing} last; is a segment missing or damaged? (botctl wal fetch names it)`
          : 'nothing was restored; the target database is as it was',
      });
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  const text = logText();
  // Where it stopped: the time of the last transaction replayed (the one the log names when it
  // stops "before commit" is the first one left out).
  const stop = /recovery stopping (?:before|after) commit of transaction \d+/.test(text);
  // Replayed to where the WAL ran out: the archive's end, unless a file was missing or damaged.
  if (!stop) await refuseGap(deps, text);
  return { port, stopped: stop ? 'at-target' : 'end-of-archive' };
}

/**
 * The replay stopped where restore_command failed. That is the archive's end, or a gap in it: the
 * file PostgreSQL asked for last and did not get while later ones are archived, or one wal fetch
 * found damaged in every copy (PostgreSQL cannot tell them apart). A gap must never pass for the
 * end: the result would be an earlier state than asked for.
 */
async function refuseGap(deps: PointInTimeDeps, text: string): Promise<void> {
  const damaged = [...text.matchAll(/botctl: error: \S*?([0-9A-F]{24})-[0-9a-f]{64}\.gz\.age\b[^\n]*/g)].at(-1);
  if (damaged) {
    throw new IntegrityError(`the WAL archive's copies of ${damaged[1]} are damaged: the recovery cannot pass it; nothing was restored`, {
      hint: `${damaged[0].replace(/^botctl: error: /, '')}; restore that file from wherever else it is kept, or restore to a time before it`,
    });
  }
  const missing = [...text.matchAll(/botctl: error: ([0-9A-F]{24}) is not in the WAL archive/g)].map((m) => m[1]!).at(-1);
  const later = missing ? await segmentsAfter(deps.cluster.wal, missing) : [];
  if (missing && later.length > 0) {
    throw new IntegrityError(
      `the WAL archive lacks ${missing} but holds ${later.length} later file${later.length === 1 ? '' : 's'} (${later[0]}…): the recovery cannot pass the gap; nothing was restored`,
      { hint: `put ${missing} back into the archive (the other copy, local or offsite?), or restore to a time before it` },
    );
  }
}

/**
 * The commit time of the last transaction the scratch server replayed (static once promoted).
 * Also the last check that it is promoted: a dump from a server still replaying would be an
 * earlier state than asked for.
 */
async function lastReplayed(url: Secret, timeZone: string): Promise<string | null> {
  const sql = createSql(url, { max: 1 });
  try {
    const [r] = await sql<{ t: Date | null; replaying: boolean }[]>`SELECT pg_last_xact_replay_timestamp() AS t, pg_is_in_recovery() AS replaying`;
    if (r?.replaying)
      throw new BotctlError('PITR_FAILED', ExitCode.FAILURE, 'the scratch server is still replaying WAL after it said it was done; nothing was restored');
    return r?.t ? isoWithOffset(r.t, timeZone, { ms: true }) : null;
  } finally {
    await sql.end({ timeout: 5 }).catch(() => undefined);
  }
}

/**
 * Restores the tenant's database as it was at `target`, through the safe restore path. `restore`
 * is what `backup restore` would do with an archive (target database, --yes, --dry-run is not
 * offered: the plan depends on a recovery).
 */
export async function restoreToTime(deps: PointInTimeDeps, target: Date, restore: Omit<RestoreOptions, 'archive' | 'dryRun'>): Promise<PointInTimeResult> {
  const tenant = deps.restore.config;
  if (!tenant.databaseUrl) throw new BotctlError('CONFIG', ExitCode.CONFIG, 'DATABASE_URL is not set');
  // Held against `cluster prune` until the end: the base backup and the WAL after its start.
  const held = await holdBaseBackup(
    deps.cluster.config.backup.localDir,
    `backup restore --to-time (${tenant.storeId})`,
    deps.restore.clock,
    tenant.timezone,
    tenant.backup.restoreLockTimeoutSeconds,
    () => pickBase(deps.cluster, target),
  );
  try {
    return await restoreFromBase(deps, target, restore, held.picked);
  } finally {
    held.release();
  }
}

async function restoreFromBase(
  deps: PointInTimeDeps,
  target: Date,
  restore: Omit<RestoreOptions, 'archive' | 'dryRun'>,
  base: { base: BaseBackupSidecar; storage: Storage },
): Promise<PointInTimeResult> {
  const tenant = deps.restore.config;
  if (!tenant.databaseUrl) throw new BotctlError('CONFIG', ExitCode.CONFIG, 'DATABASE_URL is not set');
  const reporter = deps.restore.reporter;
  reporter.step(
    `Point-in-time restore to ${shownTime(target.toISOString(), tenant.timezone)} from ${base.base.name} (finished ${shownTime(base.base.finished_at, tenant.timezone)})`,
  );
  const s = await makeScratch(tenant);
  const pgCtl = findPgTool('pg_ctl', { binDir: deps.cluster.config.pgBinDir });
  try {
    const identity = deps.cluster.config.backup.ageIdentityFile;
    if (!identity)
      throw new BotctlError('CONFIG', ExitCode.CONFIG, 'the cluster has no BACKUP_AGE_IDENTITY_FILE to read its WAL archive with', {
        hint: 'export BACKUP_AGE_IDENTITY_FILE=<a file with the cluster key (and the tenant key)> for the restore',
      });
    await fsp.copyFile(identity, path.join(s.dir, 'identity.txt'));
    await fsp.chmod(path.join(s.dir, 'identity.txt'), 0o600);
    await fsp.writeFile(path.join(s.dir, 'wal.env'), fetchEnv(deps.cluster.config, s.dir), { mode: 0o600 });
    reporter.step('Replaying WAL on a private scratch server');
    const port = await prepareScratch(deps, s, base, target);
    let r = await recoverOnce(deps, s, port, target);
    if (r.short) {
      // Nothing was committed after the target in the archive: its end is the state at the target.
      await stopScratch(s, pgCtl);
      r = await recoverOnce(deps, s, await freePort(), undefined);
    }
    // The tenant's database from the scratch server, as an archive like any backup (in the scratch folder).
    const info = parseDatabaseUrl(tenant.databaseUrl);
    const u = new URL(tenant.databaseUrl.reveal());
    u.hostname = '127.0.0.1';
    u.port = String(r.port);
    u.searchParams.delete('host');
    u.searchParams.delete('sslmode');
    const scratchUrl = new Secret(u.toString());
    const reached = await lastReplayed(scratchUrl, tenant.timezone);
    const store = new LocalDirStorage(path.join(s.dir, 'archive'), 'local');
    const createDeps: BackupDeps = {
      config: { ...tenant, databaseUrl: scratchUrl },
      local: store,
      offsite: undefined,
      dumper: deps.dumperFor(scratchUrl),
      encryption: deps.encryption,
      reporter,
      log: deps.restore.log,
      clock: deps.restore.clock,
      lock: deps.restore.lock,
      toolVersion: deps.restore.toolVersion,
      signal: deps.restore.signal,
    };
    reporter.step(`Dumping database ${info.database} as it was then`);
    const made = await createBackup(createDeps, { offsite: false, includeLogs: false, lockHeld: true });
    await s.run(pgCtl, ['-D', s.data, '-m', 'fast', '-w', 'stop']);
    const result = await restoreBackup(deps.restore, { ...restore, dryRun: false, archive: { storage: store, name: made.name, location: 'local' } });
    return {
      target: isoWithOffset(target, tenant.timezone, { ms: true }),
      base_backup: { name: base.base.name, finished_at: base.base.finished_at },
      reached,
      stopped: r.stopped,
      restore: result,
    };
  } finally {
    await stopScratch(s, pgCtl).catch(() => undefined);
    await removeTree(s.dir).catch((e: unknown) =>
      reporter.warn(`the scratch folder ${s.dir} could not be removed: ${(e as Error).message}; remove it by hand`),
    );
  }
}
