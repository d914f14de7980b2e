import { createHash } from 'node:crypto';
import fs, { type WriteStream } from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import {
  BotctlError,
  classifyIoError,
  ExitCode,
  fsyncDir,
  IntegrityError,
  isPartialName,
  openExclusiveWriteStream,
  partialName,
  UsageError,
} from '@botctl/core';
import { type ArchiveDecryption, type ArchiveEncryption, classifyDecryptError } from '../archive/encryption.js';
import { StorageError, type Storage, storagePath } from '../storage/storage.js';

// The WAL archive of one PostgreSQL cluster: PostgreSQL's archiver hands each finished file of
// pg_wal (segments, timeline history files, backup labels) to `botctl wal push`; recovery asks for
// them back with `botctl wal fetch`. Each file is stored once, compressed and encrypted with age,
// under a name that carries the SHA-256 of its content:
//
//   <wal folder>/<first 16 hex digits of the name>/<name>-<sha256>.gz.age
//
// The folder per 16 digits (one timeline and "log" of 4 GiB) keeps listings short, as pgBackRest
// does. The digest in the name makes a second push of the same file a no-op, tells a different
// file under the same name apart (refused: an archived segment is never replaced) and lets fetch
// check what it decrypted without any other index.

/** What PostgreSQL's archiver hands over: segments, `.partial` segments, `.backup` labels and timeline `.history` files. */
const WAL_FILE = /^(?:[0-9A-F]{24}(?:\.partial|\.[0-9A-F]{8}\.backup)?|[0-9A-F]{8}\.history)$/;
export const OBJECT = /^([0-9A-F.a-z]+)-([0-9a-f]{64})\.gz\.age$/;
const SUFFIX = '.gz.age';

export function isWalFileName(name: string): boolean {
  return WAL_FILE.test(name);
}

/** The folder a WAL file's objects live in: its first 16 hex digits (timeline and log); history files apart. */
function folderOf(name: string): string {
  return name.endsWith('.history') ? 'history' : name.slice(0, 16);
}

/** A folder of folders: a WAL archive's root. */
type Folders = Storage & { sub(name: string): Storage; folders(): Promise<string[]> };

export interface WalStores {
  /** `<BACKUP_LOCAL_DIR>/wal`. */
  local: Folders;
  /** `<offsite destination>/<store id>/wal`, when one is set. */
  offsite?: Folders | undefined;
}

export interface WalPushDeps extends WalStores {
  encryption: ArchiveEncryption;
}

export interface WalPushResult {
  name: string;
  sha256: string;
  size: number;
  stored: { location: 'local' | 'offsite'; object: string; size: number; outcome: 'stored' | 'already' }[];
}

async function sha256OfFile(file: string): Promise<{ sha256: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const c of fs.createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    h.update(c);
    size += c.length;
  }
  return { sha256: h.digest('hex'), size };
}

/** The objects stored for one WAL file name (temporaries left out). */
async function objectsFor(store: Storage, name: string): Promise<{ object: string; sha256: string }[]> {
  const out: { object: string; sha256: string }[] = [];
  for (const o of await store.list()) {
    if (isPartialName(o.name)) continue;
    const m = OBJECT.exec(o.name);
    if (m && m[1] === name) out.push({ object: o.name, sha256: m[2]! });
  }
  return out;
}

/**
 * `botctl wal push %p`: stores one WAL file locally, then offsite, and resolves only when every copy
 * is durable (written under a temporary name, fsynced, renamed, the folder fsynced). The same file
 * pushed again is a success; another file under a name already archived is refused.
 */
export async function pushWalFile(deps: WalPushDeps, file: string): Promise<WalPushResult> {
  const name = path.basename(file);
  if (!isWalFileName(name)) {
    throw new UsageError(`${name} is not a WAL file name (a segment, .partial, .backup or .history file)`, {
      hint: "archive_command passes %p: archive_command = 'botctl --env-file … wal push %p'",
    });
  }
  let digest: { sha256: string; size: number };
  try {
    digest = await sha256OfFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new UsageError(`${file} does not exist`, { hint: 'PostgreSQL runs archive_command in its data directory; %p is relative to it' });
    throw classifyIoError(error, file);
  }
  const object = `${name}-${digest.sha256}${SUFFIX}`;
  const stored: WalPushResult['stored'] = [];
  // Compressed and encrypted once, into the local copy; the offsite copy is that file's bytes.
  const local = deps.local.sub(folderOf(name));
  stored.push(
    await storeOnce(local, 'local', name, digest.sha256, object, async () => {
      const source = fs.createReadStream(file, { highWaterMark: 1024 * 1024 });
      const gz = zlib.createGzip({ level: 1, chunkSize: 1024 * 1024 });
      source.on('error', (e) => gz.destroy(e));
      source.pipe(gz);
      return deps.encryption.encrypt(gz);
    }),
  );
  if (deps.offsite) {
    stored.push(await storeOnce(deps.offsite.sub(folderOf(name)), 'offsite', name, digest.sha256, object, () => local.read(object)));
  }
  return { name, sha256: digest.sha256, size: digest.size, stored };
}

/** Stores `object` in `store` unless this content is there already; refuses other content under the name. */
async function storeOnce(
  store: Storage,
  location: 'local' | 'offsite',
  name: string,
  sha256: string,
  object: string,
  content: () => Promise<Readable>,
): Promise<WalPushResult['stored'][number]> {
  const existing = await objectsFor(store, name);
  if (existing.some((e) => e.sha256 === sha256)) return { location, object, size: (await store.stat(object))?.size ?? 0, outcome: 'already' };
  if (existing.length > 0) {
    throw new BotctlError(
      'WAL_CONFLICT',
      ExitCode.INTEGRITY,
      `${name} is already archived in ${store.description} with other content; an archived WAL file is never replaced`,
      {
        hint: 'two clusters archiving to one folder? Give each cluster its own env file and BACKUP_STORE_ID; after a restore to a new cluster, archive to a new folder',
      },
    );
  }
  try {
    const put = await store.put(object, await content(), { mode: 0o600 });
    return { location, object, size: put.size, outcome: 'stored' };
  } catch (error) {
    // Another push of the same file finished first: the name carries the digest, so it is this content.
    if (error instanceof StorageError && error.code === 'ALREADY_EXISTS')
      return { location, object, size: (await store.stat(object))?.size ?? 0, outcome: 'already' };
    throw classifyIoError(error, `${name} in ${store.description}`);
  }
}

/** The newest archived WAL file of a WAL archive (its folders sorted by name, the last with files): the recovery point. */
export async function newestArchivedWal(root: WalStores['local']): Promise<{ name: string; at: Date } | undefined> {
  const folders = (await root.folders())
    .filter((f) => /^[0-9A-F]{16}$/.test(f))
    .sort()
    .reverse();
  for (const f of folders) {
    const objects = (await root.sub(f).list()).filter((o) => OBJECT.test(o.name));
    if (objects.length === 0) continue;
    const newest = objects.reduce((a, b) => (b.name > a.name ? b : a));
    return { name: newest.name.slice(0, 24), at: newest.mtime };
  }
  return undefined;
}

/**
 * Archived segments after `segment` on its timeline (in its folder and the next one): when there
 * are, a recovery that could not get `segment` stopped at a gap, not at the end of the archive.
 */
export async function segmentsAfter(stores: WalStores, segment: string): Promise<string[]> {
  const timeline = segment.slice(0, 8);
  const log = Number.parseInt(segment.slice(8, 16), 16);
  const folders = [segment.slice(0, 16), `${timeline}${(log + 1).toString(16).toUpperCase().padStart(8, '0')}`];
  const found = new Set<string>();
  for (const root of [stores.local, stores.offsite]) {
    if (!root) continue;
    for (const folder of folders) {
      const objects = await root
        .sub(folder)
        .list()
        .catch(() => []);
      for (const o of objects) {
        const m = OBJECT.exec(o.name);
        if (m && /^[0-9A-F]{24}$/.test(m[1]!) && m[1]! > segment && m[1]!.startsWith(timeline)) found.add(m[1]!);
      }
    }
  }
  return [...found].sort();
}

export interface WalFetchDeps extends WalStores {
  decryption: ArchiveDecryption;
}

export interface WalFetchResult {
  name: string;
  from: 'local' | 'offsite';
  object: string;
  size: number;
}

/**
 * Not in the archive: restore_command must then exit non-zero and not above 125 (PostgreSQL takes
 * that as "not there": the end of the WAL, a timeline that does not exist), so NOT_FOUND (12).
 */
export class WalNotFoundError extends BotctlError {
  constructor(name: string) {
    super('NOT_FOUND', ExitCode.NOT_FOUND, `${name} is not in the WAL archive`);
  }
}

/**
 * `botctl wal fetch %f %p`: finds the WAL file locally, else offsite, decrypts and decompresses it
 * to a temporary file beside `dest`, checks its SHA-256 against the name it was stored under,
 * fsyncs and renames it into place. A damaged copy is an integrity error naming it (the other copy
 * is tried first).
 */
export async function fetchWalFile(deps: WalFetchDeps, name: string, dest: string): Promise<WalFetchResult> {
  if (!isWalFileName(name))
    throw new UsageError(`${name} is not a WAL file name`, { hint: "restore_command passes %f and %p: 'botctl --env-file … wal fetch %f %p'" });
  const sources: ['local' | 'offsite', Storage][] = [['local', deps.local.sub(folderOf(name))]];
  if (deps.offsite) sources.push(['offsite', deps.offsite.sub(folderOf(name))]);
  const damaged: BotctlError[] = [];
  for (const [from, store] of sources) {
    let found: { object: string; sha256: string }[];
    try {
      found = await objectsFor(store, name);
    } catch (error) {
      if (from === 'offsite') break;
      throw error;
    }
    if (found.length > 1) throw new IntegrityError(`${name} is stored more than once with different content in ${store.description}`);
    const hit = found[0];
    if (!hit) continue;
    try {
      const size = await restoreObject(deps.decryption, store, hit, dest);
      return { name, from, object: hit.object, size };
    } catch (error) {
      if (error instanceof BotctlError && error.exitCode === ExitCode.INTEGRITY) {
        damaged.push(error);
        continue;
      }
      throw error;
    }
  }
  if (damaged.length > 0) throw damaged[0]!;
  throw new WalNotFoundError(name);
}

async function restoreObject(decryption: ArchiveDecryption, store: Storage, hit: { object: string; sha256: string }, dest: string): Promise<number> {
  const where = storagePath(store, hit.object);
  const tmp = path.join(path.dirname(dest), partialName(path.basename(dest)));
  const hash = createHash('sha256');
  let size = 0;
  const tap = new PassThrough({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      size += chunk.length;
      cb(null, chunk);
    },
  });
  let out: WriteStream | undefined;
  try {
    // Opened before decrypting: once the ciphertext is read, its errors must find the pipeline
    // listening (an await between them left a damaged copy's error unhandled).
    try {
      out = await openExclusiveWriteStream(tmp);
    } catch (error) {
      throw classifyIoError(error, dest);
    }
    let plaintext: Readable;
    try {
      plaintext = await decryption.decrypt(await store.read(hit.object));
    } catch (error) {
      const e = classifyDecryptError(error, { fingerprints: decryption.fingerprints });
      throw new BotctlError(e.code, e.exitCode, `${where}: ${e.message}`, { hint: e.hint, cause: error });
    }
    try {
      await pipeline(plaintext, zlib.createGunzip(), tap, out);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).syscall) throw classifyIoError(error, dest);
      throw new IntegrityError(`${where} is damaged: ${(error as Error).message}`, {
        hint: 'the other copy (local or offsite) is tried first; restore this file from wherever else it is kept',
      });
    }
    if (hash.digest('hex') !== hit.sha256) {
      throw new IntegrityError(`${where} does not hold what was archived under that name (SHA-256 differs)`, {
        hint: 'the copy was changed after it was written; use the other copy',
      });
    }
    await fsp.rename(tmp, dest);
    await fsyncDir(path.dirname(dest));
    return size;
  } finally {
    out?.destroy();
    await fsp.rm(tmp, { force: true });
  }
}
