import { execFile, spawn } from 'node:child_process';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import zlib from 'node:zlib';
import { BotctlError, ExitCode } from '@botctl/core';
import { lowerPriority } from '../util/priority.js';

// The archive's compression (BACKUP_COMPRESSION): gzip, today's format, where pg_dump compresses
// its own output and the tar stream stores it; or zstd, where pg_dump writes an uncompressed dump
// (-Z0) and the whole tar stream goes through the `zstd` program, on its own threads, beside
// pg_dump instead of inside it. Readers tell the two apart by the first bytes of the plaintext,
// so a renamed archive still reads.

export type Codec = 'gzip' | 'zstd';

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);
const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** The codec a plaintext stream starts with; undefined when it is neither. */
export function codecOf(head: Buffer): Codec | undefined {
  if (head.subarray(0, 2).equals(GZIP_MAGIC)) return 'gzip';
  if (head.subarray(0, 4).equals(ZSTD_MAGIC)) return 'zstd';
  return undefined;
}

/** The name part: `.tar.gz.enc` or `.tar.zst.enc`. */
export const CODEC_EXTENSION: Record<Codec, string> = { gzip: 'gz', zstd: 'zst' };

/** A compressor or decompressor: bytes go into `input`, come out of `output`. */
export interface CodecStream {
  input: Writable;
  output: Readable;
  /** Stops it (the program, if one runs) with this error on `output`. */
  destroy(error: Error): void;
}

const ZSTD_HINT = 'install zstd (apt-get install -y zstd), or set BACKUP_COMPRESSION=gzip';

/**
 * The `zstd` program as a stream. `output` ends only once the program exited 0: a zstd that
 * dies half way must never look like the end of the data (the archive would be stored whole).
 */
function zstdProgram(args: string[], what: string, nice = 0): CodecStream {
  const child = spawn('zstd', ['-q', ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  lowerPriority(child.pid, nice);
  const output = new PassThrough({ highWaterMark: 1024 * 1024 });
  let stderr = '';
  let ended = false;
  let failure: Error | undefined;
  const fail = (error: Error) => {
    if (failure) return;
    failure = error;
    child.kill('SIGKILL');
    output.destroy(error);
  };
  child.on('error', (e: NodeJS.ErrnoException) =>
    fail(
      e.code === 'ENOENT' ? new BotctlError('MISSING_TOOL', ExitCode.CONFIG, `the zstd program is not installed (needed for ${what})`, { hint: ZSTD_HINT }) : e,
    ),
  );
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 4096) stderr += d.toString('utf8');
  });
  // EPIPE when it stopped reading: its exit status says why.
  child.stdin.on('error', () => undefined);
  child.stdout.pipe(output, { end: false });
  // A reader that stopped at the tar's end-of-archive marker closes `output` with a few bytes of
  // padding unread: drain them, so the program finishes instead of blocking on a full pipe.
  output.once('close', () => {
    if (!ended) child.stdout.resume();
  });
  child.stdout.once('end', () => {
    ended = true;
  });
  child.once('close', (code, signal) => {
    if (failure) return;
    if (code === 0 && ended) output.end();
    else fail(new Error(`zstd ${what} failed (${signal ?? `exit ${code}`}): ${stderr.trim().split('\n').at(-1) ?? ''}`.trim()));
  });
  return { input: child.stdin, output, destroy: fail };
}

/** The compressor of a new archive. gzip's level can change between members (`setLevel`). */
export function compressor(codec: Codec, level: number, nice = 0): CodecStream & { setLevel?: (level: number) => Promise<void> } {
  // Under BACKUP_NICE the shop comes first: one worker thread (level 1 keeps up with pg_dump on
  // one core), so the compressor never takes every core at once; at 0, one per core.
  if (codec === 'zstd') return zstdProgram([`-${level}`, `-T${nice > 0 ? 1 : 0}`, '-c'], 'compression', nice);
  const gzip = zlib.createGzip({ level, chunkSize: 256 * 1024 });
  let current = level;
  return {
    input: gzip,
    output: gzip,
    destroy: (e) => gzip.destroy(e),
    setLevel: (next) =>
      next === current
        ? Promise.resolve()
        : new Promise<void>((resolve, reject) => {
            current = next;
            if (gzip.destroyed) {
              reject(gzip.errored ?? new Error('gzip stream destroyed'));
              return;
            }
            // Gzip is zlib-based and has params(); @types/node only declares it on Deflate.
            (gzip as unknown as zlib.ZlibParams).params(next, zlib.constants.Z_DEFAULT_STRATEGY, () => (gzip.errored ? reject(gzip.errored) : resolve()));
          }),
  };
}

/** The decompressor for a plaintext that starts with `codec`'s magic. */
export function decompressor(codec: Codec): CodecStream {
  if (codec === 'zstd') return zstdProgram(['-d', '-c'], 'decompression');
  const gunzip = zlib.createGunzip({ chunkSize: 256 * 1024 });
  return { input: gunzip, output: gunzip, destroy: (e) => gunzip.destroy(e) };
}

/**
 * The first bytes of a stream, put back so the stream reads from its start: what the codec is
 * decided by. Resolves with fewer bytes (or none) when the stream ends first.
 */
export function peek(stream: Readable, bytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let have = 0;
    const done = (error?: Error, ended = false) => {
      stream.off('readable', onReadable);
      stream.off('end', onEnd);
      stream.off('error', onError);
      const head = Buffer.concat(chunks);
      // After its end a stream takes nothing back: the caller gets what there was.
      if (head.length > 0 && !ended) stream.unshift(head);
      if (error) reject(error);
      else resolve(head);
    };
    const onReadable = () => {
      while (have < bytes) {
        const c = stream.read() as Buffer | null;
        if (c === null) break;
        chunks.push(c);
        have += c.length;
      }
      if (have >= bytes) done();
    };
    const onEnd = () => done(undefined, true);
    const onError = (e: Error) => done(e);
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('error', onError);
  });
}

/** What a backup is compressed with: BACKUP_COMPRESSION with `auto` decided. */
export interface ResolvedCompression {
  codec: Codec;
  level: number | undefined;
  /** `auto` chose gzip because the zstd program is not installed. */
  zstdMissing?: boolean;
  /** `zstd --version`, when zstd is used. */
  zstd?: string;
}

/**
 * BACKUP_COMPRESSION for one backup. `auto` (the default): zstd at level 1 where the zstd
 * program is installed (about twice as fast as pg_dump's own compression, docs/performance.md),
 * else gzip, today's format; a backup never fails for want of zstd unless zstd was asked for.
 */
export async function resolveCompression(setting: { codec: Codec | 'auto'; level: number | undefined }): Promise<ResolvedCompression> {
  if (setting.codec === 'gzip') return { codec: 'gzip', level: setting.level };
  if (setting.codec === 'zstd') return { codec: 'zstd', level: setting.level ?? 1, zstd: await zstdVersion() };
  try {
    return { codec: 'zstd', level: 1, zstd: await zstdVersion() };
  } catch (error) {
    if (error instanceof BotctlError && error.code === 'MISSING_TOOL') return { codec: 'gzip', level: undefined, zstdMissing: true };
    throw error;
  }
}

/** `zstd --version`'s first line, or a MISSING_TOOL error with the install hint. */
function zstdVersion(): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('zstd', ['--version'], { timeout: 10_000 }, (error, stdout) => {
      if (!error) resolve(stdout.trim().split('\n')[0] ?? 'zstd');
      else if ((error as NodeJS.ErrnoException).code === 'ENOENT')
        reject(new BotctlError('MISSING_TOOL', ExitCode.CONFIG, 'the zstd program is not installed (BACKUP_COMPRESSION=zstd needs it)', { hint: ZSTD_HINT }));
      else reject(error);
    }),
  );
}
