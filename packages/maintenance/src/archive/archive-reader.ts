import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { asError, BotctlError, IntegrityError, NotABackupError } from '@botctl/core';
import { HashTap } from '../util/hashing.js';
import { codecOf, decompressor, peek } from './compression.js';
import { ageHeaderDigest, type ArchiveDecryption, classifyDecryptError } from './encryption.js';
import { isDumpPart, MANIFEST_MEMBER, type Manifest, type MemberInfo, parseManifest, type Sidecar, dumpPartName } from './format.js';
import { readTar, TarFormatError, type TarEntry, unsafeMemberName } from './tar-reader.js';

export interface InspectHandlers {
  /** Receives the dump's bytes in order (parts concatenated); backpressure through the promise. */
  onDump?: (chunk: Buffer) => Promise<void>;
  /** Called once after the last dump part. */
  onDumpEnd?: () => Promise<void>;
  /** Non-dump members (config, logs); the body must be consumed or ignored. */
  onMember?: (entry: TarEntry, consume: (sink?: (chunk: Buffer) => Promise<void> | void) => Promise<MemberInfo>) => Promise<void>;
  onCiphertextBytes?: (bytes: number) => void;
}

export interface InspectResult {
  manifest: Manifest;
  members: MemberInfo[];
  sha256: string;
  size: number;
  dumpBytes: number;
}

function forward(from: Readable, to: { destroy(error?: Error): void }, map: (e: unknown) => Error): void {
  from.on('error', (e) => to.destroy(map(e)));
}

/**
 * Reads a whole archive: hashes the ciphertext, decrypts to the very end (age authenticates every
 * chunk and detects truncation only at the last one), decompresses (gzip or zstd), walks the tar and checks every
 * member against the manifest. Errors are the documented ones: WRONG_KEY, INTEGRITY (modified,
 * truncated) and NOT_A_BACKUP (decrypts, but is not our format).
 */
export async function inspectArchive(
  ciphertext: Readable,
  decryption: ArchiveDecryption,
  handlers: InspectHandlers = {},
  expected?: Sidecar,
): Promise<InspectResult> {
  const tap = new HashTap(handlers.onCiphertextBytes, 64 * 1024);
  forward(ciphertext, tap, asError);
  ciphertext.pipe(tap);

  let plain: Readable;
  try {
    plain = await decryption.decrypt(tap);
  } catch (error) {
    ciphertext.destroy();
    throw classifyDecryptError(error, {
      fingerprints: decryption.fingerprints,
      expected: expected?.encryption,
      expectedHeader: expected?.header_sha256,
      actualHeader: ageHeaderDigest(tap.head),
    });
  }
  const decryptError = (e: unknown) => classifyDecryptError(e, { fingerprints: decryption.fingerprints, expected: expected?.encryption });
  // gzip (the plan's format) or zstd, by the plaintext's first bytes, whatever the name says.
  let head: Buffer;
  try {
    head = await peek(plain, 4);
  } catch (error) {
    ciphertext.destroy();
    throw decryptError(error);
  }
  const codec = codecOf(head);
  if (!codec) {
    ciphertext.destroy();
    plain.destroy();
    throw new NotABackupError('not a botctl backup: it decrypts, but the content is neither gzip nor zstd');
  }
  const unpack = decompressor(codec);
  plain.on('error', (e) => unpack.destroy(decryptError(e)));
  plain.pipe(unpack.input);

  const members: MemberInfo[] = [];
  let manifestText: string | undefined;
  let dumpBytes = 0;
  let expectDumpIndex = 0;
  let dumpEnded = false;
  const endDump = async () => {
    if (!dumpEnded) {
      dumpEnded = true;
      await handlers.onDumpEnd?.();
    }
  };

  const consume = async (entry: TarEntry, sink?: (chunk: Buffer) => Promise<void> | void): Promise<MemberInfo> => {
    const h = createHash('sha256');
    let size = 0;
    for await (const chunk of entry.body) {
      h.update(chunk);
      size += chunk.length;
      if (sink) await sink(chunk);
    }
    const info = { name: entry.name, size, sha256: h.digest('hex') };
    members.push(info);
    return info;
  };

  try {
    for await (const entry of readTar(unpack.output)) {
      if (manifestText !== undefined) throw new NotABackupError(`member ${entry.name} follows manifest.json, which must be last`);
      const unsafe = unsafeMemberName(entry.name);
      if (unsafe) throw new IntegrityError(`the archive holds an unsafe entry ${JSON.stringify(entry.name)} (${unsafe}); refusing it`);
      if (entry.type !== 'File' && entry.type !== 'OldFile') {
        throw new IntegrityError(`the archive holds a ${entry.type} entry ${JSON.stringify(entry.name)}; only regular files are allowed`);
      }
      if (isDumpPart(entry.name)) {
        if (dumpEnded || entry.name !== dumpPartName(expectDumpIndex)) {
          throw new IntegrityError(`dump part ${entry.name} is out of order (expected ${dumpPartName(expectDumpIndex)})`);
        }
        expectDumpIndex++;
        const info = await consume(entry, handlers.onDump);
        dumpBytes += info.size;
        continue;
      }
      await endDump();
      if (entry.name === MANIFEST_MEMBER) {
        const chunks: Buffer[] = [];
        for await (const c of entry.body) chunks.push(c);
        manifestText = Buffer.concat(chunks).toString('utf8');
        continue;
      }
      if (handlers.onMember) {
        let consumed: MemberInfo | undefined;
        await handlers.onMember(entry, async (sink) => (consumed = await consume(entry, sink)));
        if (!consumed) await consume(entry);
      } else {
        await consume(entry);
      }
    }
    await endDump();
  } catch (error) {
    ciphertext.destroy();
    // The zstd program stops too (it may be blocked writing what nobody reads now).
    unpack.destroy(asError(error));
    if (error instanceof BotctlError) throw error;
    if (error instanceof TarFormatError) throw new NotABackupError(`not a botctl backup: ${error.message}`, { cause: error });
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' || /incorrect header check|unexpected end of file/i.test(String(error))) {
      throw new NotABackupError('not a botctl backup: it decrypts, but the content is not a gzip-compressed tar', { cause: error });
    }
    if (/^zstd decompression failed/.test(String((error as Error).message))) {
      throw new NotABackupError(`not a botctl backup: it decrypts, but the content is not a zstd-compressed tar (${(error as Error).message})`, {
        cause: error,
      });
    }
    throw error;
  }

  if (manifestText === undefined) throw new NotABackupError('not a botctl backup: the archive has no manifest.json');
  const manifest = parseManifest(manifestText);
  if (!manifest) throw new NotABackupError('not a botctl backup: manifest.json is not a botctl manifest');
  if (manifest.format_version > 1) {
    throw new NotABackupError(`backup format version ${manifest.format_version} is newer than this botctl understands`, {
      hint: 'upgrade botctl',
    });
  }
  if (expectDumpIndex === 0) throw new IntegrityError('the archive holds no database dump');

  const listed = new Map(manifest.members.map((m) => [m.name, m]));
  for (const m of members) {
    const want = listed.get(m.name);
    if (!want) throw new IntegrityError(`member ${m.name} is not listed in the manifest`);
    if (want.size !== m.size || want.sha256 !== m.sha256) throw new IntegrityError(`member ${m.name} does not match its size or SHA-256 in the manifest`);
    listed.delete(m.name);
  }
  if (listed.size > 0) throw new IntegrityError(`the archive lacks ${[...listed.keys()].join(', ')}, listed in the manifest`);
  if (dumpBytes !== manifest.dump.size) throw new IntegrityError('the dump size differs from the manifest');

  return { manifest, members, sha256: tap.digest(), size: tap.bytes, dumpBytes };
}
