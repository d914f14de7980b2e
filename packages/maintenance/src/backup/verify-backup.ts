import {
  BotctlError,
  ExitCode,
  IncompleteBackupError,
  IntegrityError,
  isoWithOffset,
  NotABackupError,
  NotFoundError,
  type Redactor,
  formatDuration,
} from '@botctl/core';
import type { BackupStoreDeps } from './deps.js';
import { readHead, type Storage } from '../storage/storage.js';
import { inspectArchive } from '../archive/archive-reader.js';
import { catalogScope, type Location, listBackups, type ResolvedArchive } from './catalog.js';
import { AGE_MAGIC, type ArchiveDecryption } from '../archive/encryption.js';
import { type Manifest, MAX_HISTORY, parseSidecar, type Sidecar, sidecarName, type VerificationRecord } from '../archive/format.js';
import { describeStore } from '../archive/store-identity.js';
import { hashObject } from '../storage/hash-object.js';
import { startPgRestore } from './pg-restore-sink.js';

export interface VerifyDeps extends BackupStoreDeps {
  /** Created on first use: only full verification needs a key. */
  decryption: () => Promise<ArchiveDecryption>;
  redactor?: Redactor;
  signal?: AbortSignal | undefined;
  pgBinDir?: string | undefined;
}

export type VerifyTarget = { kind: 'archive'; archive: ResolvedArchive } | { kind: 'latest' } | { kind: 'all' };

interface VerifyItem {
  name: string;
  location: Location;
  level: 'quick' | 'full';
  ok: boolean;
  duration_ms: number;
  error?: { code: string; message: string; hint?: string; exit_code: number };
  checked?: { size: number; members: number; dump_bytes?: number; tables?: number; rows?: number };
}

export interface VerifyReport {
  ok: boolean;
  level: 'quick' | 'full';
  results: VerifyItem[];
}

/** Errors that say something about the archive (recorded in its sidecar), not about our key or setup. */
function isVerdictOnArchive(error: unknown): boolean {
  return error instanceof IntegrityError || error instanceof NotABackupError;
}

export interface VerifyOutcome {
  item: VerifyItem;
  /** Set when the check failed. */
  error?: BotctlError;
  /** From a successful full check. */
  manifest?: Manifest;
  sidecar?: Sidecar;
}

export interface VerifyOneOptions {
  quick: boolean;
  /**
   * Full checks read the dump back through pg_restore by default. A restore, which feeds the
   * dump to pg_restore right after, checks hash, decryption and manifest only.
   */
  readDump?: boolean;
}

export async function verifyOne(deps: VerifyDeps, storage: Storage, name: string, location: Location, opts: VerifyOneOptions): Promise<VerifyOutcome> {
  const { quick } = opts;
  const readDump = opts.readDump ?? true;
  const t0 = performance.now();
  const level = quick ? 'quick' : 'full';
  let sidecar: Sidecar | undefined;
  try {
    const object = await storage.stat(name);
    if (!object) {
      throw new NotFoundError(`${name} not found in ${storage.description}`, { hint: 'see `botctl backup list`' });
    }
    const head = await readHead(storage, name, AGE_MAGIC.length);
    if (head.toString('latin1') !== AGE_MAGIC) {
      throw new NotABackupError(`${name} is not a botctl backup (not an age-encrypted file)`);
    }
    const raw = await storage.readSmall(sidecarName(name));
    if (!raw) {
      throw new IncompleteBackupError(`${name} has no sidecar (${sidecarName(name)}): the backup never completed or the sidecar was lost`, {
        hint: 'make a new backup; an archive without its sidecar is not trusted',
      });
    }
    sidecar = parseSidecar(raw.toString('utf8'));
    if (!sidecar) throw new NotABackupError(`${sidecarName(name)} is not a botctl sidecar`);
    if (object.size < sidecar.size) {
      throw new IntegrityError(`${name} is truncated: ${object.size} of ${sidecar.size} bytes`, {
        hint: 'the copy was cut short (disk full, interrupted transfer); use another copy',
      });
    }
    if (object.size !== sidecar.size) {
      throw new IntegrityError(`${name} is ${object.size} bytes but its sidecar says ${sidecar.size}: the file was changed`);
    }

    if (quick) {
      const h = await hashObject(storage, name, deps.signal);
      if (h.sha256 !== sidecar.sha256) {
        throw new IntegrityError(`${name} does not match its SHA-256: the file was modified or corrupted`);
      }
      return {
        item: { name, location, level, ok: true, duration_ms: Math.round(performance.now() - t0), checked: { size: h.size, members: sidecar.members.length } },
      };
    }

    const decryption = await deps.decryption();
    const pgRestore = !readDump
      ? undefined
      : startPgRestore({
          args: ['--file=/dev/null'],
          binDir: deps.pgBinDir,
          redactor: deps.redactor,
          signal: deps.signal,
          onFailure: (stderr) =>
            new IntegrityError(`pg_restore could not read the whole dump${stderr ? `: ${stderr}` : ''}`, {
              hint: 'the dump inside is damaged, or pg_restore is older than the pg_dump that made it',
            }),
        });
    const progress = deps.reporter.progress(`verify ${name}`, sidecar.size);
    let result;
    try {
      result = await inspectArchive(
        await storage.read(name),
        decryption,
        {
          ...(pgRestore ? { onDump: (chunk: Buffer) => pgRestore.write(chunk), onDumpEnd: () => pgRestore.end() } : {}),
          onCiphertextBytes: (n) => progress.update(n),
        },
        sidecar,
      );
    } catch (error) {
      pgRestore?.abort();
      throw error;
    } finally {
      progress.done();
    }
    if (result.sha256 !== sidecar.sha256) throw new IntegrityError(`${name} does not match the SHA-256 in its sidecar`);
    const sideMembers = JSON.stringify(sidecar.members);
    if (sideMembers !== JSON.stringify(result.manifest.members)) {
      throw new IntegrityError('the sidecar and the manifest inside the archive list different members');
    }
    // The sidecar is plain text: whose backup it is comes from the authenticated manifest.
    const m = result.manifest;
    if (
      (sidecar.store_id ?? m.store?.id) !== (m.store?.id ?? sidecar.store_id) ||
      sidecar.store_name !== m.store_name ||
      (sidecar.database?.name !== undefined && sidecar.database.name !== m.database.name) ||
      (sidecar.sequence !== undefined && sidecar.sequence !== m.sequence)
    ) {
      throw new IntegrityError(
        `the sidecar says ${describeStore(sidecar)} but the archive itself is a backup of ${describeStore({ store_id: m.store?.id, store_name: m.store_name })} (database ${m.database.name}): the sidecar was changed`,
        { hint: 'do not trust this copy; use another one' },
      );
    }
    return {
      manifest: result.manifest,
      sidecar,
      item: {
        name,
        location,
        level,
        ok: true,
        duration_ms: Math.round(performance.now() - t0),
        checked: {
          size: result.size,
          members: result.members.length + 1,
          dump_bytes: result.dumpBytes,
          tables: result.manifest.tables.length,
          rows: result.manifest.row_total,
        },
      },
    };
  } catch (error) {
    const e =
      error instanceof BotctlError
        ? error
        : new BotctlError('VERIFY_FAILED', ExitCode.INTEGRITY, error instanceof Error ? error.message : String(error), { cause: error });
    const item: VerifyItem = {
      name,
      location,
      level,
      ok: false,
      duration_ms: Math.round(performance.now() - t0),
      error: { code: e.code, message: e.message, exit_code: e.exitCode, ...(e.hint ? { hint: e.hint } : {}) },
    };
    return { item, error: e };
  }
}

/** Appends a verification result to the sidecar of that copy (atomic rewrite). */
async function record(storage: Storage, name: string, rec: VerificationRecord): Promise<boolean> {
  const raw = await storage.readSmall(sidecarName(name)).catch(() => undefined);
  const sc = raw ? parseSidecar(raw.toString('utf8')) : undefined;
  if (!sc) return false;
  sc.verifications = [...sc.verifications, rec].slice(-MAX_HISTORY);
  await storage.writeSmall(sidecarName(name), `${JSON.stringify(sc, null, 2)}\n`);
  return true;
}

/**
 * `backup verify`: quick (SHA-256 against the sidecar) or full (decrypt to the end, check every
 * member against the manifest, read the whole dump through pg_restore). Each verdict is recorded
 * in the archive's sidecar and the maintenance log.
 */
export async function verifyBackups(
  deps: VerifyDeps,
  target: VerifyTarget,
  opts: { quick: boolean },
): Promise<{ report: VerifyReport; firstError: BotctlError | undefined }> {
  const lock = deps.lock('backup verify');
  try {
    const stores: { location: Location; storage: Storage }[] = [{ location: 'local', storage: deps.local }];
    if (deps.offsite) stores.push({ location: 'offsite', storage: deps.offsite });
    let targets: ResolvedArchive[];
    if (target.kind === 'archive') targets = [target.archive];
    else {
      const entries = await listBackups(target.kind === 'all' ? stores : stores.slice(0, 1), catalogScope(deps.config, deps.clock.now()));
      if (target.kind === 'latest') {
        const latest = entries.find((e) => e.complete && e.copies.some((c) => c.location === 'local' && c.sidecar));
        if (!latest) throw new NotFoundError('there is no complete local backup to verify', { hint: 'make one with `botctl backup create`' });
        targets = [{ storage: deps.local, name: latest.name, location: 'local' }];
      } else {
        targets = entries.flatMap((e) => e.copies.map((c) => ({ storage: c.storage, name: e.name, location: c.location })));
        if (targets.length === 0) throw new NotFoundError('there are no backups to verify', { hint: 'make one with `botctl backup create`' });
      }
    }

    const results: VerifyItem[] = [];
    let firstError: BotctlError | undefined;
    for (const t of targets) {
      if (deps.signal?.aborted) throw deps.signal.reason;
      deps.reporter.step(`Verifying ${t.name} (${t.location}, ${opts.quick ? 'quick' : 'full'})`);
      const { item, error } = await verifyOne(deps, t.storage, t.name, t.location, { quick: opts.quick });
      if (deps.signal?.aborted) throw deps.signal.reason;
      firstError ??= error;
      // A wrong key or a missing tool says nothing about the archive: not recorded against it.
      if (item.ok || isVerdictOnArchive(error)) {
        const rec: VerificationRecord = {
          at: isoWithOffset(deps.clock.now(), deps.config.timezone),
          level: item.level,
          ok: item.ok,
          location: t.location,
          ...(item.error ? { error: item.error.message } : {}),
        };
        await record(t.storage, t.name, rec).catch((error: unknown) => {
          deps.reporter.warn(`could not record the result in the sidecar: ${(error as Error).message}`);
        });
      }
      if (item.ok) {
        deps.log.info(`Verifikasi backup OK (${item.level}, ${t.location}): ${t.name} (${formatDuration(item.duration_ms)})`);
      } else {
        deps.log.error(`Verifikasi backup GAGAL (${item.level}, ${t.location}): ${t.name}: ${item.error?.message}`);
      }
      results.push(item);
    }
    return { report: { ok: results.every((r) => r.ok), level: opts.quick ? 'quick' : 'full', results }, firstError };
  } finally {
    lock.release();
  }
}
