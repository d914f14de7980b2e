import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { Header, Pax } from 'tar';
import { type Codec, compressor } from './compression.js';
import { onceDrained } from '../util/async.js';
import type { MemberInfo } from './format.js';

const BLOCK = 512;
const ZEROS = Buffer.alloc(BLOCK * 2);

/** Compression levels per member: pg_dump's custom format is already zlib-compressed. */
export const LEVEL_STORED = zlib.constants.Z_NO_COMPRESSION;
export const LEVEL_TEXT = 6;

/**
 * Writes a ustar (+pax where needed) stream into a compressor, one member at a time, with
 * backpressure. A tar header needs the member's size before its data, so callers hand over
 * members whose size is known: dump parts buffered in memory, files by their stat size.
 *
 * With gzip the level is switched between members (zlib's deflateParams): dump parts, already
 * compressed by pg_dump, go in as stored blocks, since compressing them again costs seconds per
 * GiB for a 0.01 % gain; config, logs and the manifest are compressed normally. The result is one
 * ordinary gzip stream any gunzip reads. With zstd (pg_dump -Z0) the whole stream goes through
 * the zstd program at one level: one ordinary zstd frame any `zstd -d` reads.
 */
export class TarWriter {
  readonly #c: ReturnType<typeof compressor>;
  /** The compressed stream (for the encryption). */
  readonly output: Readable;

  /** `nice`: BACKUP_NICE for a compressor that is a program of its own (zstd). */
  constructor(codec: Codec = 'gzip', level = LEVEL_TEXT, nice = 0) {
    this.#c = compressor(codec, level, nice);
    this.output = this.#c.output;
  }

  /** `written`: called once the compressor has taken `buf` whole (it may then be reused). */
  async #write(buf: Buffer, written?: () => void): Promise<void> {
    if (buf.length === 0) {
      written?.();
      return;
    }
    const input = this.#c.input;
    if (input.destroyed) throw this.output.errored ?? new Error('the compressor stopped');
    const more = written ? input.write(buf, (error) => error || written()) : input.write(buf);
    if (!more) await onceDrained(input);
  }

  /** gzip only: the level for the members from here on (zstd keeps its one level). */
  async setLevel(level: number): Promise<void> {
    await this.#c.setLevel?.(level);
  }

  /** Stops the compressor with this error (on `output`). */
  destroy(error: Error): void {
    this.#c.destroy(error);
  }

  /**
   * Adds one regular-file member. `data` must yield exactly `size` bytes; fewer are padded with
   * zeros (reported as `short`), more are an error, since the header is already written.
   */
  async addEntry(
    name: string,
    size: number,
    data: Iterable<Buffer> | AsyncIterable<Buffer>,
    opts: { mtime?: Date; mode?: number; onWritten?: (chunk: Buffer) => void } = {},
  ): Promise<MemberInfo & { short: number }> {
    const mtime = opts.mtime ?? new Date();
    const header = new Header({ path: name, mode: opts.mode ?? 0o600, size, mtime, type: 'File', uid: 0, gid: 0, uname: 'root', gname: 'root' });
    const block = Buffer.alloc(BLOCK);
    header.encode(block, 0);
    if (header.needPax) await this.#write(new Pax({ path: name, size, mtime }).encode());
    await this.#write(block);

    const hash = createHash('sha256');
    let written = 0;
    for await (const chunk of data as AsyncIterable<Buffer>) {
      if (written + chunk.length > size) throw new Error(`member ${name} grew beyond its declared size ${size}`);
      hash.update(chunk);
      written += chunk.length;
      const onWritten = opts.onWritten;
      await this.#write(chunk, onWritten && (() => onWritten(chunk)));
    }
    const short = size - written;
    if (short > 0) {
      const zeros = Buffer.alloc(Math.min(short, 1024 * 1024));
      let left = short;
      while (left > 0) {
        const n = Math.min(left, zeros.length);
        hash.update(zeros.subarray(0, n));
        await this.#write(zeros.subarray(0, n));
        left -= n;
      }
    }
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    if (pad) await this.#write(ZEROS.subarray(0, pad));
    return { name, size, sha256: hash.digest('hex'), short };
  }

  /** A file from disk, read up to the size it had when listed (logs may grow meanwhile). */
  async addFile(name: string, file: string, size: number, opts: { mtime?: Date; mode?: number } = {}) {
    if (size === 0) return this.addEntry(name, 0, [], opts);
    const stream = fs.createReadStream(file, { start: 0, end: size - 1, highWaterMark: 256 * 1024 });
    try {
      return await this.addEntry(name, size, stream as AsyncIterable<Buffer>, opts);
    } finally {
      stream.destroy();
    }
  }

  /** End-of-archive marker, then the end of the compressor's input. */
  async finish(): Promise<void> {
    await this.#write(ZEROS);
    const input = this.#c.input;
    await new Promise<void>((resolve, reject) => {
      input.once('error', reject);
      input.end(() => resolve());
    });
  }
}

export interface DumpPart {
  /** The part in one buffer: one hash update and one compressor write per part, however small pg_dump's writes were. */
  data: Buffer;
  size: number;
}

const PGDMP = Buffer.from('PGDMP');

export class DumpFormatError extends Error {}

/**
 * Cuts pg_dump's output into parts of `partSize` bytes (the last one shorter), checking on the
 * way that it is a custom-format dump. Memory: one part being filled. pg_dump writes in small
 * pieces (~17 KiB reads on average), so gathering them here saves per-piece work downstream.
 */
export async function* splitDumpParts(source: AsyncIterable<Buffer>, partSize: number, onBytes?: (total: number) => void): AsyncGenerator<DumpPart> {
  let chunks: Buffer[] = [];
  let size = 0;
  let total = 0;
  let head = Buffer.alloc(0);
  let checked = false;
  for await (const input of source) {
    let chunk = input;
    if (!checked) {
      head = Buffer.concat([head, chunk.subarray(0, PGDMP.length)]);
      if (head.length >= PGDMP.length) {
        if (!head.subarray(0, PGDMP.length).equals(PGDMP)) {
          throw new DumpFormatError('pg_dump wrote something that is not a custom-format dump (no PGDMP header)');
        }
        checked = true;
      }
    }
    total += chunk.length;
    onBytes?.(total);
    if (size === 0 && chunk.length === partSize) {
      // A whole part in one block (the dumper reads in part-sized blocks): no copy.
      yield { data: chunk, size: partSize };
      continue;
    }
    while (chunk.length > 0) {
      const take = Math.min(partSize - size, chunk.length);
      chunks.push(chunk.subarray(0, take));
      size += take;
      chunk = chunk.subarray(take);
      if (size === partSize) {
        yield { data: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size), size };
        chunks = [];
        size = 0;
      }
    }
  }
  if (total === 0) throw new DumpFormatError('pg_dump exited without writing anything');
  if (!checked) throw new DumpFormatError('pg_dump output is too short to be a dump');
  if (size > 0) yield { data: Buffer.concat(chunks, size), size };
}
