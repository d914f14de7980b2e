import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { type Clock, type Config, ConfigError, IntegrityError, isoWithOffset, RefusedError, type Logger, type Redactor, zonedDate } from '@botctl/core';
import type { ArchiveDecryption, ArchiveEncryption } from '../archive/encryption.js';
import type { HeldLock } from '../lock/maintenance-lock.js';
import { LocalDirStorage } from '../storage/local-dir-storage.js';
import { offsiteStorage } from '../storage/offsite-storage.js';
import type { Storage } from '../storage/storage.js';
import {
  hashStored,
  type LogArchiveSidecar,
  logArchiveName,
  type LogMember,
  logSidecarName,
  type PackSource,
  packLogArchive,
  parseLogArchiveName,
  readLogArchive,
  readLogSidecar,
  logSidecarIsOurs,
} from './log-archive.js';
import { addDays, type DailyLogFile, scanDailyLogs } from './log-files.js';

interface LogStoreDeps {
  config: Config;
  /** LOG_ARCHIVE_DIR. */
  local: Storage;
  /** `<offsite>/logs` (folder or rclone remote), when offsite is configured. */
  offsite: Storage | undefined;
  log: Logger;
  clock: Clock;
  signal?: AbortSignal | undefined;
}

export interface LogRotateDeps extends LogStoreDeps {
  encryption: () => ArchiveEncryption;
  /** Rejects (ConfigError) when this host holds no key: archives are then never rewritten. */
  decryption: () => Promise<ArchiveDecryption>;
  lock: (command: string) => HeldLock;
}

/** Where log archives live, next to the backups. */
export function logArchiveStores(config: Config, redactor?: Redactor): LogArchiveStores {
  return {
    local: new LocalDirStorage(config.logs.archiveDir, 'local'),
    // `<offsite>/<store id>/logs`: the store's offsite folder, one level down (legacy: `<offsite>/logs`).
    offsite: offsiteStorage(config, redactor)?.sub('logs'),
    storeId: config.storeId,
    storeName: config.storeName,
  };
}

/** Where a store's log archives live, and whose they are. */
export interface LogArchiveStores {
  local: Storage;
  offsite: Storage | undefined;
  storeId: string;
  storeName: string;
}

interface RotatedArchive {
  name: string;
  month: string;
  /** `new`: first archive of the month; `merged`: the month's archive rewritten with more days; `part`: an extra part (no key to rewrite). */
  mode: 'new' | 'merged' | 'part';
  files_added: string[];
  files_total: number;
  size_bytes: number;
  sha256: string;
  verified: 'decrypted' | 'hash';
  offsite: 'copied' | 'failed' | 'not_configured';
  offsite_error?: string;
  removed: number;
  /** Files kept because they changed after being archived or could not be removed. */
  kept: string[];
}

export interface RotateResult {
  ok: boolean;
  dry_run: boolean;
  today: string;
  retention_days: number;
  /** Files dated before this day are archived. */
  archive_before: string;
  eligible: { member: string; date: string; size: number }[];
  archives: RotatedArchive[];
  removed_files: number;
  kept_files: number;
  /** Plan only (dry run): what would be done per month. */
  plan: { month: string; name: string; mode: RotatedArchive['mode']; files: number }[];
}

const sha256File = async (file: string) => {
  const h = createHash('sha256');
  for await (const c of fs.createReadStream(file)) h.update(c as Buffer);
  return h.digest('hex');
};

/**
 * `botctl logs rotate` and the bot's `log_rotate` job: daily files older than LOG_RETENTION_DAYS
 * go into the encrypted archive of their month; the archive is read back and checked, copied
 * offsite and checked there, and only then are the files removed. Today's file is never
 * touched. A month's archive is rewritten (old members + new days) under a temporary name and
 * renamed over the old one, so there is always one whole archive per month.
 */
export async function rotateLogs(deps: LogRotateDeps, opts: { dryRun?: boolean } = {}): Promise<RotateResult> {
  const { config, log } = deps;
  const now = deps.clock.now();
  const today = zonedDate(now, config.timezone);
  const retention = config.logs.retentionDays;
  if (retention < 90) throw new ConfigError(['LOG_RETENTION_DAYS must be at least 90']);
  const before = addDays(today, -retention);
  const files = (await scanDailyLogs(config.logPath)).filter((f) => f.date < before && f.date !== today);
  const byMonth = new Map<string, DailyLogFile[]>();
  for (const f of files) {
    const month = f.date.slice(0, 7);
    byMonth.set(month, [...(byMonth.get(month) ?? []), f]);
  }
  const result: RotateResult = {
    ok: true,
    dry_run: Boolean(opts.dryRun),
    today,
    retention_days: retention,
    archive_before: before,
    eligible: files.map((f) => ({ member: f.member, date: f.date, size: f.size })),
    archives: [],
    removed_files: 0,
    kept_files: 0,
    plan: [],
  };
  if (files.length === 0) {
    if (!opts.dryRun) log.info(`[logs] Rotasi log: tidak ada file lebih lama dari ${retention} hari (sebelum ${before})`);
    return result;
  }

  let decryption: ArchiveDecryption | undefined;
  try {
    decryption = await deps.decryption();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
  }

  const existing = (await deps.local.list()).map((o) => ({ o, p: parseLogArchiveName(o.name) })).filter((x) => x.p);
  // Log archives are named by month only: a folder shared with another store would mix them.
  for (const x of existing) {
    const sc = await readLogSidecar(deps.local, x.o.name);
    if (sc && !logSidecarIsOurs(sc, config.storeId, config.storeName)) {
      throw new RefusedError(
        `${x.o.name} in ${deps.local.description} belongs to store ${sc.store_id ?? `"${sc.store_name}"`}, not to ${config.storeId}: LOG_ARCHIVE_DIR is shared`,
        {
          hint: 'give each tenant its own LOG_ARCHIVE_DIR (the default backups/logs in its folder is)',
        },
      );
    }
  }
  const planFor = (month: string): { name: string; mode: RotatedArchive['mode'] } => {
    const parts = existing.filter((x) => x.p!.month === month).map((x) => x.p!.part);
    if (parts.length === 0) return { name: logArchiveName(month), mode: 'new' };
    const last = Math.max(...parts);
    // Rewriting needs the key; without it, add a part rather than leave the files forever.
    return decryption ? { name: logArchiveName(month, last), mode: 'merged' } : { name: logArchiveName(month, last + 1), mode: 'part' };
  };

  if (opts.dryRun) {
    for (const [month, list] of byMonth) result.plan.push({ month, ...planFor(month), files: list.length });
    return result;
  }

  const lock = deps.lock('logs rotate');
  try {
    for (const [month, list] of byMonth) {
      deps.signal?.throwIfAborted();
      const plan = planFor(month);
      const archived = await rotateMonth(deps, month, plan, list, decryption, now);
      result.archives.push(archived);
      result.removed_files += archived.removed;
      result.kept_files += list.length - archived.removed;
      if (archived.offsite === 'failed') result.ok = false;
    }
  } finally {
    lock.release();
  }
  return result;
}

async function rotateMonth(
  deps: LogRotateDeps,
  month: string,
  plan: { name: string; mode: RotatedArchive['mode'] },
  files: DailyLogFile[],
  decryption: ArchiveDecryption | undefined,
  now: Date,
): Promise<RotatedArchive> {
  const { log } = deps;
  const encryption = deps.encryption();
  const staging = `${plan.name}.new`;
  await deps.local.remove(staging);

  // What is already archived for this month (merge mode): names and hashes from the sidecar,
  // checked against the archive's own manifest while it is read.
  const oldSidecar = plan.mode === 'merged' ? await readLogSidecar(deps.local, plan.name) : undefined;
  const oldNames = new Map((oldSidecar?.files ?? []).map((f) => [f.name, f.sha256]));
  const { adds, alreadyArchived } = await sortAgainstArchive(files, oldNames);
  if (adds.length === 0 && oldSidecar) return await finishAlreadyArchived(deps, month, plan, oldSidecar, alreadyArchived);

  async function* sources(): AsyncGenerator<PackSource> {
    if (plan.mode === 'merged') yield* membersOf(deps, plan.name, decryption!, oldSidecar, oldNames, now);
    for (const a of adds) yield fileSource(a.file, a.member);
  }
  const { packed, verified } = await packAndVerify(deps, staging, encryption, sources(), decryption, {
    month,
    part: parseLogArchiveName(plan.name)?.part ?? 1,
    store_name: deps.config.storeName,
    store_id: deps.config.storeId,
    created_at: isoWithOffset(now, deps.config.timezone),
  });
  const sidecarText = await commitArchive(deps, staging, plan.name, month, packed, verified, encryption.info, now);

  const out: RotatedArchive = {
    name: plan.name,
    month,
    mode: plan.mode,
    files_added: adds.map((a) => a.member),
    files_total: packed.members.length,
    size_bytes: packed.size,
    sha256: packed.sha256,
    verified,
    offsite: deps.offsite ? 'copied' : 'not_configured',
    removed: 0,
    kept: [],
  };
  if (deps.offsite) {
    try {
      await copyOffsite(deps.local, deps.offsite, plan.name, packed, sidecarText, deps.signal);
    } catch (error) {
      out.offsite = 'failed';
      out.offsite_error = (error as Error).message;
    }
  }
  if (out.offsite === 'failed') {
    log.error(
      `[logs] Rotasi log ${month}: arsip ${plan.name} dibuat (${packed.members.length} file), tetapi salinan offsite GAGAL: ${out.offsite_error}; ${files.length} file log tetap disimpan`,
    );
    out.kept = files.map((f) => f.member);
    return out;
  }

  // Only now, with the archive checked here (and offsite), do the daily files go.
  await removeSources([...adds.map((a) => a.file), ...alreadyArchived], out);
  log.info(
    `[logs] Rotasi log ${month}: ${adds.length} file diarsipkan ke ${plan.name} (${packed.members.length} file, ${verified === 'decrypted' ? 'diverifikasi' : 'hash diverifikasi'}, offsite ${out.offsite === 'copied' ? 'OK' : 'tidak diatur'}), ${out.removed} file dihapus${out.kept.length ? `, ${out.kept.length} disimpan (berubah)` : ''}`,
  );
  return out;
}

/**
 * Which daily files go into the archive and under what member name: a file already in it with
 * the same content only needs removing; a different file under a taken name (logs restored from
 * a backup and appended to) is added as `<name>.N`.
 */
async function sortAgainstArchive(
  files: DailyLogFile[],
  oldNames: Map<string, string>,
): Promise<{ adds: { file: DailyLogFile; member: string }[]; alreadyArchived: DailyLogFile[] }> {
  const adds: { file: DailyLogFile; member: string }[] = [];
  const alreadyArchived: DailyLogFile[] = [];
  for (const f of files) {
    const known = oldNames.get(f.member);
    if (known === undefined) {
      adds.push({ file: f, member: f.member });
      continue;
    }
    if (known === (await sha256File(f.path))) {
      alreadyArchived.push(f);
      continue;
    }
    let n = 1;
    while (oldNames.has(`${f.member}.${n}`)) n++;
    adds.push({ file: f, member: `${f.member}.${n}` });
  }
  return { adds, alreadyArchived };
}

/**
 * Every eligible file is already in the archive, byte for byte: check the archive is still what
 * its sidecar says (and offsite), then the copies can go.
 */
async function finishAlreadyArchived(
  deps: LogRotateDeps,
  month: string,
  plan: { name: string; mode: RotatedArchive['mode'] },
  oldSidecar: LogArchiveSidecar,
  alreadyArchived: DailyLogFile[],
): Promise<RotatedArchive> {
  const back = await hashStored(deps.local, plan.name);
  if (back.sha256 !== oldSidecar.sha256) throw new IntegrityError(`${plan.name} no longer matches its sidecar; not removing any log file`);
  const out: RotatedArchive = {
    name: plan.name,
    month,
    mode: plan.mode,
    files_added: [],
    files_total: oldSidecar.files.length,
    size_bytes: oldSidecar.size,
    sha256: oldSidecar.sha256,
    verified: 'hash',
    offsite: deps.offsite ? 'copied' : 'not_configured',
    removed: 0,
    kept: [],
  };
  if (deps.offsite && (await deps.offsite.stat(plan.name))?.size !== oldSidecar.size) {
    try {
      await copyOffsite(deps.local, deps.offsite, plan.name, oldSidecar, `${JSON.stringify(oldSidecar, null, 2)}\n`, deps.signal);
    } catch (error) {
      out.offsite = 'failed';
      out.offsite_error = (error as Error).message;
      out.kept = alreadyArchived.map((f) => f.member);
      return out;
    }
  }
  await removeSources(alreadyArchived, out);
  deps.log.info(`[logs] Rotasi log ${month}: ${out.removed} file sudah ada di ${plan.name}, dihapus`);
  return out;
}

/**
 * The members of an existing archive, streamed from its decryption one at a time (merge mode);
 * fails when the archive does not hold exactly the files its sidecar lists.
 */
async function* membersOf(
  deps: LogRotateDeps,
  name: string,
  decryption: ArchiveDecryption,
  oldSidecar: LogArchiveSidecar | undefined,
  oldNames: Map<string, string>,
  now: Date,
): AsyncGenerator<PackSource> {
  const queue: PackSource[] = [];
  let wake: (() => void) | undefined;
  let done = false;
  let failed: unknown;
  // readLogArchive drives a callback per member; bridge it to this generator one member at a time.
  let release: (() => void) | undefined;
  const reading = readLogArchive(
    deps.local,
    name,
    decryption,
    async (m) => {
      const chunks: Buffer[] = [];
      for await (const c of m.body) chunks.push(c);
      const data = Buffer.concat(chunks);
      queue.push({
        name: m.name,
        size: data.length,
        mtime: m.mtime ?? now,
        data: async function* () {
          yield data;
        },
      });
      wake?.();
      await new Promise<void>((r) => (release = r));
      return undefined;
    },
    oldSidecar?.encryption,
  ).then((seen) => {
    const want = [...oldNames.keys()].sort().join('\n');
    if (
      oldSidecar &&
      seen
        .map((s) => s.name)
        .sort()
        .join('\n') !== want
    ) {
      throw new IntegrityError(`${name} does not hold the files its sidecar lists`);
    }
  });
  reading.then(
    () => {
      done = true;
      wake?.();
    },
    (error: unknown) => {
      failed = error;
      done = true;
      wake?.();
    },
  );
  for (;;) {
    if (queue.length > 0) {
      const next = queue.shift()!;
      yield next;
      release?.();
      continue;
    }
    if (failed) throw failed;
    if (done) break;
    await new Promise<void>((r) => (wake = r));
    wake = undefined;
  }
  if (failed) throw failed;
}

/** A daily log file as an archive member. */
function fileSource(file: DailyLogFile, member: string): PackSource {
  return {
    name: member,
    size: file.size,
    mtime: file.mtime,
    data: () => fs.createReadStream(file.path, { start: 0, end: Math.max(0, file.size - 1), highWaterMark: 256 * 1024 }) as AsyncIterable<Buffer>,
  };
}

/**
 * Packs the members into `staging` and reads it back before anything is replaced or removed:
 * the same bytes as written, and (with a key) every member decrypts and matches what was packed.
 * On any failure the staging file is removed.
 */
async function packAndVerify(
  deps: LogRotateDeps,
  staging: string,
  encryption: ArchiveEncryption,
  sources: AsyncIterable<PackSource>,
  decryption: ArchiveDecryption | undefined,
  meta: Parameters<typeof packLogArchive>[4],
): Promise<{ packed: Awaited<ReturnType<typeof packLogArchive>>; verified: RotatedArchive['verified'] }> {
  const packed = await packLogArchive(deps.local, staging, encryption, sources, meta, deps.signal).catch(async (error: unknown) => {
    await deps.local.remove(staging).catch(() => undefined);
    throw error;
  });
  try {
    const back = await hashStored(deps.local, staging);
    if (back.sha256 !== packed.sha256 || back.size !== packed.size) {
      throw new IntegrityError(`${staging} reads back different from what was written (disk or filesystem trouble)`);
    }
    if (!decryption) return { packed, verified: 'hash' };
    const seen = await readLogArchive(deps.local, staging, decryption, async () => undefined, encryption.info);
    const key = (m: LogMember) => `${m.name}:${m.size}:${m.sha256}`;
    if (seen.map(key).sort().join('\n') !== packed.members.map(key).sort().join('\n')) {
      throw new IntegrityError(`${staging} does not hold what was packed into it`);
    }
    return { packed, verified: 'decrypted' };
  } catch (error) {
    await deps.local.remove(staging).catch(() => undefined);
    throw error;
  }
}

/** Puts the checked archive in place, then its sidecar (the commit marker); returns the sidecar's text. */
async function commitArchive(
  deps: LogRotateDeps,
  staging: string,
  name: string,
  month: string,
  packed: Awaited<ReturnType<typeof packLogArchive>>,
  verified: RotatedArchive['verified'],
  encryptionInfo: ArchiveEncryption['info'],
  now: Date,
): Promise<string> {
  const { config } = deps;
  await deps.local.rename(staging, name);
  const sidecar: LogArchiveSidecar = {
    format: 'botctl-logs-sidecar',
    format_version: 1,
    name,
    month,
    part: parseLogArchiveName(name)?.part ?? 1,
    created_at: isoWithOffset(now, config.timezone),
    store_name: config.storeName,
    store_id: config.storeId,
    size: packed.size,
    sha256: packed.sha256,
    encryption: encryptionInfo,
    files: packed.members,
    verified,
  };
  const sidecarText = `${JSON.stringify(sidecar, null, 2)}\n`;
  await deps.local.writeSmall(logSidecarName(name), sidecarText);
  return sidecarText;
}

/** Removes archived daily files, keeping any that changed since they were read. */
async function removeSources(files: DailyLogFile[], out: RotatedArchive): Promise<void> {
  for (const f of files) {
    const st = await fsp.lstat(f.path).catch(() => undefined);
    if (!st || st.size !== f.size || st.mtime.getTime() !== f.mtime.getTime()) {
      out.kept.push(f.member);
      continue;
    }
    try {
      await fsp.unlink(f.path);
      out.removed++;
    } catch {
      out.kept.push(f.member);
    }
  }
}

/** Copies an archive offsite under a temporary name, checks its hash there, renames it, sidecar last. */
async function copyOffsite(
  local: Storage,
  offsite: Storage,
  name: string,
  expected: { size: number; sha256: string },
  sidecarText: string,
  signal?: AbortSignal,
): Promise<void> {
  const staging = `${name}.new`;
  await offsite.remove(staging);
  const put = await offsite.put(staging, await local.read(name), { mode: 0o600, signal });
  const back = await hashStored(offsite, staging);
  if (put.sha256 !== expected.sha256 || back.sha256 !== expected.sha256 || back.size !== expected.size) {
    await offsite.remove(staging).catch(() => undefined);
    throw new IntegrityError(`the offsite copy of ${name} does not match the local archive`);
  }
  await offsite.rename(staging, name);
  await offsite.writeSmall(logSidecarName(name), sidecarText);
}
