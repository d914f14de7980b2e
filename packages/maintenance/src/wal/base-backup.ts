import { PassThrough } from 'node:stream';
import zlib from 'node:zlib';
import {
  type Clock,
  type Config,
  ConfigError,
  DatabaseError,
  findPgTool,
  isoWithOffset,
  libpqEnv,
  parseDatabaseUrl,
  type Redactor,
  zonedStamp,
} from '@botctl/core';
import { execa } from 'execa';
import type { ArchiveEncryption } from '../archive/encryption.js';
import type { EncryptionInfo } from '../archive/format.js';
import type { Storage } from '../storage/storage.js';

// A cluster's base backup: `pg_basebackup` in tar format on its standard output, through gzip and
// age into `<BACKUP_LOCAL_DIR>/base/base-YYYYMMDD-HHMMSS.tar.gz.age` (the same atomic write as
// every archive: a temporary name, fsync, link), then its sidecar, then the offsite copy. No
// plaintext touches the disk. `-X none`: the WAL it needs comes from the WAL archive (pg_basebackup
// waits until the last segment is archived before it reports success).

const BASE_SUFFIX = '.tar.gz.age';
const BASE_NAME = /^base-\d{8}-\d{6}\.tar\.gz\.age$/;

export interface BaseBackupSidecar {
  format: 'botctl-base-backup';
  format_version: 1;
  name: string;
  size: number;
  sha256: string;
  store_id: string;
  store_name: string;
  started_at: string;
  /** When pg_basebackup finished: a recovery can reach any moment after this one. */
  finished_at: string;
  timeline: number;
  /** The first WAL file it needs: WAL before it can go once no kept base backup starts earlier. */
  start_wal: string;
  start_lsn: string;
  end_lsn: string;
  compression: 'gzip';
  encryption: EncryptionInfo;
}

export interface BaseBackupDeps {
  config: Config;
  /** `<BACKUP_LOCAL_DIR>/base`. */
  local: Storage;
  /** `<offsite destination>/<store id>/base`. */
  offsite?: Storage | undefined;
  encryption: ArchiveEncryption;
  clock: Clock;
  redactor?: Redactor | undefined;
}

export interface BaseBackupResult extends BaseBackupSidecar {
  offsite: { status: 'stored' | 'skipped' } | { status: 'failed'; error: string };
}

const sidecarOf = (name: string) => `${name}.meta.json`;

/**
 * The WAL range, read from the tar stream as it passes: `backup_label` (its first member) names
 * the start (`START WAL LOCATION: 0/2000028 (file …)`, `START TIMELINE: 1`), `backup_manifest`
 * (its last) the end (`"WAL-Ranges": [{ … "End-LSN": "0/2000100" }]`). pg_basebackup prints
 * neither when it writes to standard output.
 */
function walRange() {
  let tail = '';
  const r: { start?: string; startWal?: string; end?: string; timeline?: number; scan: (chunk: Buffer) => void } = {
    scan(chunk: Buffer) {
      const text = tail + chunk.toString('latin1');
      if (!r.start) {
        const m = /START WAL LOCATION: ([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)\n(?:[^\n]*\n)*?START TIMELINE: (\d+)\n/.exec(text);
        if (m) {
          r.start = m[1];
          r.startWal = m[2];
          r.timeline = Number(m[3]);
        }
      }
      for (const m of text.matchAll(/"End-LSN": "([0-9A-F]+\/[0-9A-F]+)"/g)) r.end = m[1];
      tail = text.slice(-512);
    },
  };
  return r;
}

export async function createBaseBackup(deps: BaseBackupDeps, opts: { offsite: boolean }): Promise<BaseBackupResult> {
  const { config } = deps;
  if (!config.databaseUrl) {
    throw new ConfigError(['cluster backup needs DATABASE_URL in the cluster env file: a role with REPLICATION (or a superuser) on the cluster']);
  }
  const info = parseDatabaseUrl(config.databaseUrl);
  const started = deps.clock.now();
  const name = `base-${zonedStamp(started, config.timezone)}${BASE_SUFFIX}`;
  const sub = execa(findPgTool('pg_basebackup', { binDir: config.pgBinDir }), ['-D', '-', '-F', 't', '-X', 'none', '-c', 'fast', '-v'], {
    env: { ...libpqEnv(info), PGAPPNAME: 'botctl pg_basebackup' },
    stdin: 'ignore',
    buffer: { stdout: false, stderr: true },
    reject: false,
  });
  // The archive ends only when pg_basebackup succeeded: a run that dies half-way ends its output
  // too, and that must never become a complete-looking archive.
  const tarStream = new PassThrough({ highWaterMark: 1024 * 1024 });
  sub.stdout.pipe(tarStream, { end: false });
  const exited = sub.then((r) => {
    if (r.exitCode === 0) {
      tarStream.end();
      return r;
    }
    const why =
      (deps.redactor ? deps.redactor.redact(String(r.stderr ?? '')) : String(r.stderr ?? '')).trim().split('\n').filter(Boolean).at(-1) ?? r.shortMessage;
    const error = new DatabaseError(`pg_basebackup failed: ${why}`, {
      hint: 'the role in DATABASE_URL needs REPLICATION and pg_hba.conf a "replication" line for it; wal_level must be replica',
    });
    tarStream.destroy(error);
    throw error;
  });
  const gz = zlib.createGzip({ level: 1, chunkSize: 1024 * 1024 });
  const seen = walRange();
  tarStream.on('error', (e) => gz.destroy(e));
  tarStream.on('data', seen.scan);
  tarStream.pipe(gz);
  // Both settled before anything is decided: a put still cleaning up its temporary file when
  // pg_basebackup's failure is reported would leave that file behind (seen on Node 24).
  const storing = (async () => deps.local.put(name, await deps.encryption.encrypt(gz), { mode: 0o600 }))();
  const [stored, ran] = await Promise.allSettled([storing, exited]);
  if (stored.status === 'rejected' || ran.status === 'rejected') {
    sub.kill();
    await exited.catch(() => undefined);
    if (stored.status === 'fulfilled') await deps.local.remove(name).catch(() => undefined);
    throw ran.status === 'rejected' ? ran.reason : stored.status === 'rejected' ? stored.reason : undefined;
  }
  const put = stored.value;
  const sidecar: BaseBackupSidecar = {
    format: 'botctl-base-backup',
    format_version: 1,
    name,
    size: put.size,
    sha256: put.sha256,
    store_id: config.storeId,
    store_name: config.storeName,
    started_at: isoWithOffset(started, config.timezone),
    finished_at: isoWithOffset(deps.clock.now(), config.timezone),
    timeline: seen.timeline ?? 0,
    start_wal: seen.startWal ?? '',
    start_lsn: seen.start ?? '',
    end_lsn: seen.end ?? '',
    compression: 'gzip',
    encryption: deps.encryption.info,
  };
  const text = `${JSON.stringify(sidecar, null, 2)}\n`;
  await deps.local.writeSmall(sidecarOf(name), text);
  let offsite: BaseBackupResult['offsite'] = { status: 'skipped' };
  if (opts.offsite && deps.offsite) {
    try {
      await deps.offsite.put(name, await deps.local.read(name), { mode: 0o600 });
      await deps.offsite.writeSmall(sidecarOf(name), text);
      offsite = { status: 'stored' };
    } catch (error) {
      await deps.offsite.remove(name).catch(() => undefined);
      offsite = { status: 'failed', error: (error as Error).message };
    }
  }
  return { ...sidecar, offsite };
}

/** The complete base backups in a folder (sidecar present and naming this store), oldest first. */
export async function listBaseBackups(store: Storage, storeId: string): Promise<BaseBackupSidecar[]> {
  const out: BaseBackupSidecar[] = [];
  const names = new Set((await store.list()).map((o) => o.name));
  for (const n of names) {
    if (!BASE_NAME.test(n) || !names.has(sidecarOf(n))) continue;
    const raw = await store.readSmall(sidecarOf(n));
    try {
      const s = JSON.parse(String(raw)) as BaseBackupSidecar;
      if (s.format === 'botctl-base-backup' && s.name === n && s.store_id === storeId) out.push(s);
    } catch {
      // an unreadable sidecar: not a base backup we can use
    }
  }
  return out.sort((a, b) => Date.parse(a.finished_at) - Date.parse(b.finished_at));
}
