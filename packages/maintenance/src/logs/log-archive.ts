import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { asError, IntegrityError, isPartialName } from '@botctl/core';
import { LEVEL_TEXT, TarWriter } from '../archive/archive-writer.js';
import { type ArchiveDecryption, type ArchiveEncryption, classifyDecryptError } from '../archive/encryption.js';
import type { EncryptionInfo } from '../archive/format.js';
import { readTar, TarFormatError, unsafeMemberName } from '../archive/tar-reader.js';
import type { Storage } from '../storage/storage.js';
import { HashTap } from '../util/hashing.js';

/**
 * Log archives: one per month, `logs-YYYY-MM.tar.gz.enc` (tar, gzip, age: the backup
 * encryption), with a plaintext sidecar `<archive>.meta.json` listing every file and its SHA-256.
 * Inside, the daily files keep their `<service>/YYYY-MM-DD.log` names and `manifest.json` comes
 * last. When a month's archive cannot be rewritten (no key to read it on this host), further
 * files go into parts `logs-YYYY-MM.2.tar.gz.enc`, `.3`, …
 */
const LOG_ARCHIVE_FORMAT = 'botctl-logs';
const LOG_ARCHIVE_VERSION = 1;
const NAME_RE = /^logs-(\d{4}-\d{2})(?:\.(\d+))?\.tar\.gz\.enc$/;
const LOG_MANIFEST = 'manifest.json';

export interface LogMember {
  name: string;
  size: number;
  sha256: string;
}

export interface LogArchiveSidecar {
  format: 'botctl-logs-sidecar';
  format_version: number;
  name: string;
  month: string;
  part: number;
  created_at: string;
  store_name: string;
  /** Absent in sidecars written before store ids. */
  store_id?: string;
  size: number;
  sha256: string;
  encryption: EncryptionInfo;
  files: LogMember[];
  /** How the archive was checked before any source file was removed. */
  verified: 'decrypted' | 'hash';
}

export function logArchiveName(month: string, part = 1): string {
  return `logs-${month}${part > 1 ? `.${part}` : ''}.tar.gz.enc`;
}

export function parseLogArchiveName(name: string): { month: string; part: number } | undefined {
  if (isPartialName(name)) return undefined;
  const m = NAME_RE.exec(name);
  return m ? { month: m[1]!, part: m[2] ? Number(m[2]) : 1 } : undefined;
}

export const logSidecarName = (archive: string) => `${archive}.meta.json`;

export async function readLogSidecar(storage: Storage, archive: string): Promise<LogArchiveSidecar | undefined> {
  const raw = await storage.readSmall(logSidecarName(archive));
  if (!raw) return undefined;
  try {
    const s = JSON.parse(raw.toString('utf8')) as LogArchiveSidecar;
    return s.format === 'botctl-logs-sidecar' ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The log archive is this store's: its store id, or (older sidecars) its store name. */
export function logSidecarIsOurs(sc: Pick<LogArchiveSidecar, 'store_id' | 'store_name'>, storeId: string, storeName: string): boolean {
  return sc.store_id !== undefined ? sc.store_id === storeId : sc.store_name === storeName;
}

/** SHA-256 of a whole stored object, read as a stream. */
export async function hashStored(storage: Storage, name: string): Promise<{ size: number; sha256: string }> {
  const tap = new HashTap();
  for await (const _ of (await storage.read(name)).pipe(tap)) {
    // hashing only
  }
  return { size: tap.bytes, sha256: tap.digest() };
}

export interface PackSource {
  name: string;
  size: number;
  mtime: Date;
  /** Exactly `size` bytes. */
  data: () => AsyncIterable<Buffer>;
}

/**
 * Streams tar → gzip → age into `storage` under `name`: nothing in plaintext touches the disk.
 * `sources` yields members lazily (old entries of an archive being rewritten, then new files).
 */
export async function packLogArchive(
  storage: Storage,
  name: string,
  encryption: ArchiveEncryption,
  sources: AsyncIterable<PackSource>,
  manifestExtra: Record<string, unknown>,
  signal?: AbortSignal,
): Promise<{ size: number; sha256: string; members: LogMember[] }> {
  const writer = new TarWriter('gzip', LEVEL_TEXT);
  writer.output.on('error', () => undefined);
  const members: LogMember[] = [];
  const produce = (async () => {
    try {
      for await (const s of sources) {
        const m = await writer.addEntry(s.name, s.size, s.data(), { mtime: s.mtime, mode: 0o640 });
        if (m.short > 0) throw new IntegrityError(`${s.name} shrank while being archived`);
        members.push({ name: m.name, size: m.size, sha256: m.sha256 });
      }
      const text = Buffer.from(
        `${JSON.stringify({ format: LOG_ARCHIVE_FORMAT, format_version: LOG_ARCHIVE_VERSION, ...manifestExtra, files: members }, null, 2)}\n`,
      );
      await writer.addEntry(LOG_MANIFEST, text.length, [text], { mode: 0o644 });
      await writer.finish();
    } catch (error) {
      writer.destroy(asError(error));
      throw error;
    }
  })();
  const store = (async () => {
    try {
      const ciphertext = await encryption.encrypt(writer.output);
      ciphertext.on('error', () => undefined);
      return await storage.put(name, ciphertext, { mode: 0o600, signal });
    } catch (error) {
      writer.destroy(asError(error));
      throw error;
    }
  })();
  const [p, s] = await Promise.allSettled([produce, store]);
  if (p.status === 'rejected') throw p.reason;
  if (s.status === 'rejected') throw s.reason;
  return { ...s.value, members };
}

export interface ReadMember {
  name: string;
  size: number;
  mtime: Date | undefined;
  body: AsyncIterable<Buffer>;
}

/**
 * Decrypts and walks an archive, calling `onMember` for each log file (the manifest is read and
 * checked, not passed on). Every member's SHA-256 is compared with the manifest's; a member not in
 * the manifest, or one missing from it, is an integrity error.
 */
export async function readLogArchive(
  storage: Storage,
  name: string,
  decryption: ArchiveDecryption,
  onMember: (m: ReadMember) => Promise<string | undefined>,
  expected?: EncryptionInfo,
): Promise<LogMember[]> {
  let plain: Readable;
  try {
    plain = await decryption.decrypt(await storage.read(name));
  } catch (error) {
    throw classifyDecryptError(error, { fingerprints: decryption.fingerprints, ...(expected ? { expected } : {}) });
  }
  const gunzip = zlib.createGunzip();
  plain.on('error', (e) => gunzip.destroy(e));
  plain.pipe(gunzip);
  const seen: LogMember[] = [];
  let manifest: { files?: LogMember[] } | undefined;
  try {
    for await (const entry of readTar(gunzip as AsyncIterable<Buffer>)) {
      if (entry.type !== 'File' && entry.type !== 'OldFile') throw new IntegrityError(`${name}: unexpected member type ${entry.type} (${entry.name})`);
      const why = unsafeMemberName(entry.name);
      if (why) throw new IntegrityError(`${name}: refusing member ${JSON.stringify(entry.name)}: ${why}`);
      if (entry.name === LOG_MANIFEST) {
        const chunks: Buffer[] = [];
        for await (const c of entry.body) chunks.push(c);
        manifest = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { files?: LogMember[] };
        continue;
      }
      const hash = createHash('sha256');
      let size = 0;
      const body = (async function* () {
        for await (const c of entry.body) {
          hash.update(c);
          size += c.length;
          yield c;
        }
      })();
      await onMember({ name: entry.name, size: entry.size, mtime: entry.mtime, body });
      for await (const _ of body) {
        // drain what the callback did not read, so the hash covers the member
      }
      seen.push({ name: entry.name, size, sha256: hash.digest('hex') });
    }
  } catch (error) {
    if (error instanceof IntegrityError) throw error;
    if (error instanceof TarFormatError || /unexpected end|incorrect header|invalid/i.test(String(error))) {
      throw new IntegrityError(`${name}: ${(error as Error).message}`, { cause: error });
    }
    throw classifyDecryptError(error, { fingerprints: decryption.fingerprints, ...(expected ? { expected } : {}) });
  }
  if (!manifest?.files) throw new IntegrityError(`${name}: no manifest inside (cut short, or not a log archive)`);
  const want = new Map(manifest.files.map((f) => [f.name, f]));
  if (want.size !== seen.length) throw new IntegrityError(`${name}: manifest lists ${want.size} files, the archive holds ${seen.length}`);
  for (const m of seen) {
    const w = want.get(m.name);
    if (!w || w.sha256 !== m.sha256 || w.size !== m.size) throw new IntegrityError(`${name}: ${m.name} does not match the manifest`);
  }
  return seen;
}
