import path from 'node:path';
import {
  BotctlError,
  asError,
  classifyIoError,
  type Clock,
  type Config,
  DatabaseError,
  formatBytes,
  formatDuration,
  isoWithOffset,
  type Logger,
  zonedStamp,
} from '@botctl/core';
import type { HeldLock } from '../lock/maintenance-lock.js';
import type { Reporter } from '../reporter/reporter.js';
import { readHead, StorageError, type Storage } from '../storage/storage.js';
import { prefetch, withInactivityTimeout } from '../util/async.js';
import { type Codec, resolveCompression } from '../archive/compression.js';
import { DumpFormatError, LEVEL_STORED, LEVEL_TEXT, splitDumpParts, TarWriter } from '../archive/archive-writer.js';
import { catalogScope, listBackups, nextSequence } from './catalog.js';
import { collectFiles } from './collect-files.js';
import type { Dumper, DumpSession } from './dumper.js';
import { ageHeaderDigest, type ArchiveEncryption } from '../archive/encryption.js';
import {
  archiveName,
  type BackupKind,
  DEFAULT_PART_SIZE,
  dumpPartName,
  FORMAT_VERSION,
  MANIFEST_MEMBER,
  type Manifest,
  type MemberInfo,
  type Sidecar,
  sidecarName,
} from '../archive/format.js';
import { copyToOffsite, type OffsiteResult } from './offsite.js';
import { syncOffsite } from './offsite-sync.js';

export interface BackupDeps {
  config: Config;
  local: Storage;
  offsite?: Storage | undefined;
  dumper: Dumper;
  encryption: ArchiveEncryption;
  reporter: Reporter;
  log: Logger;
  clock: Clock;
  /** Takes the maintenance lock for the backup folder. */
  lock: (command: string) => HeldLock;
  toolVersion: string;
  signal?: AbortSignal | undefined;
  partSize?: number;
}

export interface CreateOptions {
  offsite: boolean;
  includeLogs: boolean;
  kind?: BackupKind;
  /** The caller already holds the lock (a pre-restore safety copy inside `restore`). */
  lockHeld?: boolean;
}

export interface CreateResult {
  status: 'ok' | 'partial';
  name: string;
  path: string;
  size: number;
  sha256: string;
  created_at: string;
  kind: BackupKind;
  duration_ms: number;
  dump_bytes: number;
  database: Sidecar['database'];
  encryption: Sidecar['encryption'];
  members: number;
  config_files: string[];
  log_files: number;
  tables: number;
  rows: number;
  offsite: OffsiteResult;
  warnings: string[];
}

/** The name for a backup starting now, moved forward a second at a time if it is taken. */
async function freeName(deps: BackupDeps, kind: BackupKind, codec: Codec): Promise<string> {
  const start = deps.clock.now().getTime();
  for (let i = 0; i < 120; i++) {
    const stamp = zonedStamp(new Date(start + i * 1000), deps.config.timezone);
    const name = archiveName(stamp, kind, codec);
    // One archive per second whatever its compression: the names sort and read as one series.
    const both = [archiveName(stamp, kind, 'gzip'), archiveName(stamp, kind, 'zstd')];
    let taken = false;
    for (const n of both) taken ||= Boolean((await deps.local.stat(n)) || (await deps.local.stat(sidecarName(n))));
    if (!taken) return name;
  }
  throw new BotctlError('NAME_TAKEN', 1, 'could not find a free backup name', { hint: 'check the clock and BACKUP_LOCAL_DIR' });
}

/** The age header's digest, read back from the stored archive's first bytes. */
async function readHeaderDigest(storage: Storage, name: string): Promise<string | undefined> {
  return ageHeaderDigest(await readHead(storage, name, 64 * 1024));
}

/**
 * The new backup's place in real order (a hybrid logical clock over this store's archives):
 * local ones always, offsite ones too when the run copies there anyway (a server that lost its
 * disk then continues the sequence), best effort.
 */
/** This backup's place in the real creation order, and the size of the newest complete backup (the progress estimate). */
async function sequenceFor(deps: BackupDeps, now: Date, withOffsite: boolean): Promise<{ sequence: number; previousSize: number | undefined }> {
  const scope = catalogScope(deps.config, now);
  const known = await listBackups([{ location: 'local', storage: deps.local }], scope);
  const previousSize = known.find((b) => b.complete && b.kind !== 'pre-restore')?.size;
  if (withOffsite && deps.offsite) known.push(...(await listBackups([{ location: 'offsite', storage: deps.offsite }], scope).catch(() => [])));
  return { sequence: nextSequence(known, now), previousSize };
}

function displayPath(config: Config, storage: Storage, name: string): string {
  const full = path.join(storage.description, name);
  const rel = path.relative(config.baseDir, full);
  return rel.startsWith('..') || path.isAbsolute(rel) ? full : rel;
}

/** Among several failures of one run, the one that explains it. */
function rootCause(signal: AbortSignal, ...errors: unknown[]): unknown {
  // The first failure aborts the rest; what they then report is its consequence.
  if (signal.aborted && signal.reason !== undefined) return signal.reason;
  const present = errors.filter((e) => e !== undefined);
  return present.find((e) => e instanceof BotctlError) ?? present[0];
}

/**
 * Makes one backup: pg_dump → tar (dump parts, config, logs, manifest) → gzip → age → file,
 * streamed end to end; nothing plaintext touches the disk and memory is bounded by a few dump
 * parts. The archive appears under its final name only when complete (fsync + rename), the
 * sidecar after it (the commit marker), then the optional offsite copy.
 */
export async function createBackup(deps: BackupDeps, opts: CreateOptions): Promise<CreateResult> {
  const { config, reporter, log, clock } = deps;
  const kind = opts.kind ?? 'manual';
  const started = clock.now();
  const t0 = performance.now();
  const lock = opts.lockHeld ? undefined : deps.lock(kind === 'scheduled' ? 'backup create (scheduled)' : 'backup create');
  const warnings: string[] = [];
  let session: DumpSession | undefined;
  // Aborted on failure, interruption (SIGINT/SIGTERM through deps.signal) or a stalled dump:
  // stops pg_dump and every stream.
  const abort = new AbortController();
  const onOuterAbort = () => abort.abort(deps.signal?.reason);
  deps.signal?.addEventListener('abort', onOuterAbort, { once: true });

  try {
    if (deps.signal?.aborted) throw deps.signal.reason;
    // Decided (and a missing zstd said) before pg_dump starts: the compressor is a program of its own.
    const compression = await resolveCompression(config.backup.compression);
    const name = await freeName(deps, kind, compression.codec);
    const { sequence, previousSize } = await sequenceFor(deps, started, opts.offsite);
    log.info(`Backup dimulai: ${name} (offsite: ${opts.offsite ? 'ya' : 'tidak'})`);
    reporter.step(`Backing up to ${displayPath(config, deps.local, name)}`);

    const files = await collectFiles(config, opts.includeLogs);
    warnings.push(...files.warnings);
    for (const w of files.warnings) {
      reporter.warn(w);
      log.warn(w);
    }

    // zstd compresses the whole archive, so pg_dump does not (-Z0); gzip: pg_dump's own level.
    session = await deps.dumper.start(abort.signal, { compressLevel: compression.codec === 'zstd' ? 0 : compression.level });
    reporter.step(`Dumping database "${session.database}" (PostgreSQL ${session.serverVersion.text}, pg_dump ${session.pgDumpVersion.text})`);

    // gzip: pg_dump's dump parts stored, the files after them compressed. zstd: all at its level.
    const writer = compression.codec === 'zstd' ? new TarWriter('zstd', compression.level, config.backup.nice) : new TarWriter('gzip', LEVEL_STORED);
    // Failures reach us through `produce` and `store`; this keeps an early one from being "unhandled".
    writer.output.on('error', () => undefined);
    const members: MemberInfo[] = [];
    let dumpBytes = 0;
    let manifest: Manifest | undefined;
    const progress = reporter.progress('dump', previousSize);
    const partSize = deps.partSize ?? DEFAULT_PART_SIZE;
    const stallMs = config.backup.dumpStallSeconds * 1000;
    const mtime = started;
    const activeSession = session;

    const produce = (async () => {
      try {
        const source = withInactivityTimeout(
          activeSession.output,
          stallMs,
          (e) => abort.abort(e),
          () =>
            new DatabaseError(`pg_dump wrote nothing for ${config.backup.dumpStallSeconds} s and was stopped`, {
              hint: 'a lock held by another session, or a hung server? raise BACKUP_DUMP_STALL_SECONDS if the database is just slow',
            }),
        );
        let index = 0;
        for await (const part of prefetch(
          splitDumpParts(source, partSize, (n) => progress.update(n)),
          2,
        )) {
          dumpBytes += part.size;
          members.push(await writer.addEntry(dumpPartName(index++), part.size, [part.data], { mtime, onWritten: (b) => activeSession.release?.(b) }));
        }
        progress.done();
        await writer.setLevel(LEVEL_TEXT);
        for (const f of [...files.config, ...files.logs]) {
          const m = await writer.addFile(f.member, f.path, f.size, { mtime: f.mtime, mode: f.mode });
          if (m.short > 0) warnings.push(`${f.path} shrank while being archived; ${m.short} bytes were padded with zeros`);
          members.push({ name: m.name, size: m.size, sha256: m.sha256 });
        }
        const tables = await activeSession.tableCounts;
        manifest = {
          format: 'botctl-backup',
          format_version: FORMAT_VERSION,
          tool: { name: 'botctl', version: deps.toolVersion },
          store_name: config.storeName,
          store: { id: config.storeId, name: config.storeName },
          sequence,
          created_at: isoWithOffset(started, config.timezone),
          database: {
            name: activeSession.database,
            server_version: activeSession.serverVersion.text,
            pg_dump_version: activeSession.pgDumpVersion.text,
            dump_format: 'custom',
            snapshot: activeSession.snapshot,
          },
          dump: { parts: index, size: dumpBytes },
          config_files: files.configInfo,
          log_files: files.logs.length,
          members: members.map((m) => ({ name: m.name, size: m.size, sha256: m.sha256 })),
          tables,
          row_total: tables.reduce((a, t) => a + t.rows, 0),
        };
        const text = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
        await writer.addEntry(MANIFEST_MEMBER, text.length, [text], { mtime, mode: 0o644 });
        await writer.finish();
      } catch (error) {
        progress.done();
        abort.abort(error);
        writer.destroy(asError(error));
        throw error;
      }
    })();

    const store = (async () => {
      try {
        const ciphertext = await deps.encryption.encrypt(writer.output);
        // Its errors reach us through put(); this keeps an early one from being "unhandled".
        ciphertext.on('error', () => undefined);
        return await deps.local.put(name, ciphertext, { signal: abort.signal, mode: 0o600 });
      } catch (error) {
        abort.abort(error);
        writer.destroy(asError(error));
        throw error;
      }
    })();

    const [produced, stored] = await Promise.allSettled([produce, store]);
    if (produced.status === 'rejected' || stored.status === 'rejected') {
      const cause = rootCause(
        abort.signal,
        produced.status === 'rejected' ? produced.reason : undefined,
        stored.status === 'rejected' ? stored.reason : undefined,
      );
      if (cause instanceof DumpFormatError) throw new DatabaseError(cause.message, { hint: 'check which pg_dump runs (PATH, PG_BIN_DIR)' });
      if (cause instanceof StorageError && cause.code === 'ALREADY_EXISTS') throw new BotctlError('NAME_TAKEN', 1, cause.message);
      throw classifyIoError(cause, `the archive in ${deps.local.description}`);
    }
    const put = stored.value;
    const m = manifest!;
    const durationMs = Math.round(performance.now() - t0);

    const headerSha256 = await readHeaderDigest(deps.local, name).catch(() => undefined);
    const sidecar: Sidecar = {
      format: 'botctl-backup-sidecar',
      format_version: FORMAT_VERSION,
      name,
      size: put.size,
      sha256: put.sha256,
      created_at: m.created_at,
      store_name: config.storeName,
      store_id: config.storeId,
      sequence,
      ...(headerSha256 ? { header_sha256: headerSha256 } : {}),
      kind,
      tool_version: deps.toolVersion,
      database: { name: m.database.name, server_version: m.database.server_version, pg_dump_version: m.database.pg_dump_version },
      encryption: deps.encryption.info,
      members: m.members,
      duration_ms: durationMs,
      rows: { tables: m.tables.length, total: m.row_total },
      verifications: [],
      drills: [],
    };
    try {
      // The sidecar is the commit marker: without it the archive does not count as a backup.
      await deps.local.writeSmall(sidecarName(name), `${JSON.stringify(sidecar, null, 2)}\n`);
    } catch (error) {
      await deps.local.remove(name).catch(() => undefined);
      throw classifyIoError(error, `the sidecar in ${deps.local.description}`);
    }
    const where = displayPath(config, deps.local, name);
    log.info(`Backup database selesai: ${where} (${formatBytes(put.size)}, ${m.tables.length} tabel, ${m.row_total} baris, ${formatDuration(durationMs)})`);
    reporter.step(`Archive written and synced: ${formatBytes(put.size)} in ${formatDuration(durationMs)}`);

    let offsite: OffsiteResult = { status: 'skipped' };
    if (opts.offsite) {
      if (!deps.offsite) {
        offsite = { status: 'failed', error: 'no offsite destination configured (BACKUP_OFFSITE_REMOTE or BACKUP_OFFSITE_DIR)' };
      } else {
        reporter.step(`Copying to offsite ${deps.offsite.description}`);
        offsite = await copyToOffsite({ local: deps.local, offsite: deps.offsite, name, sidecar, signal: abort.signal });
      }
      if (offsite.status === 'ok') {
        log.info(`Salinan offsite terverifikasi: ${offsite.path}`);
        // Earlier backups whose offsite copy failed (the destination was down) go now too.
        const sync = await syncOffsite({ local: deps.local, offsite: deps.offsite!, reporter, log, signal: abort.signal }, catalogScope(config, clock.now()), {
          except: name,
        }).catch((error: unknown) => ({ copied: [], failed: [{ name: '', error: (error as Error).message }] }));
        offsite = { ...offsite, caught_up: sync.copied };
        for (const f of sync.failed) warnings.push(`an earlier backup ${f.name} still lacks its offsite copy: ${f.error}`);
      } else if (offsite.status === 'failed') log.error(`Salinan offsite gagal: ${offsite.error} (backup lokal tetap tersimpan: ${where})`);
    }

    return {
      status: offsite.status === 'failed' ? 'partial' : 'ok',
      name,
      path: path.join(deps.local.description, name),
      size: put.size,
      sha256: put.sha256,
      created_at: m.created_at,
      kind,
      duration_ms: Math.round(performance.now() - t0),
      dump_bytes: m.dump.size,
      database: sidecar.database,
      encryption: sidecar.encryption,
      members: m.members.length + 1,
      config_files: m.config_files.map((c) => c.member),
      log_files: m.log_files,
      tables: m.tables.length,
      rows: m.row_total,
      offsite,
      warnings,
    };
  } catch (error) {
    const reason = deps.signal?.aborted && deps.signal.reason instanceof BotctlError ? deps.signal.reason : error;
    const message = reason instanceof Error ? reason.message : String(reason);
    log.error(`Backup database gagal: ${message}`);
    throw reason;
  } finally {
    deps.signal?.removeEventListener('abort', onOuterAbort);
    if (session) await session.close().catch(() => undefined);
    lock?.release();
  }
}
