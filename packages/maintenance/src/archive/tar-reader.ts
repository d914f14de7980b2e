import { Header, Pax } from 'tar';

const BLOCK = 512;

export class TarFormatError extends Error {}

/** Pulls exact byte counts out of an async stream of chunks. */
class ByteReader {
  readonly #it: AsyncIterator<Buffer>;
  #buf: Buffer = Buffer.alloc(0);
  #done = false;

  constructor(source: AsyncIterable<Buffer>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    if (this.#done) return false;
    const r = await this.#it.next();
    if (r.done) {
      this.#done = true;
      return false;
    }
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, r.value]) : r.value;
    return true;
  }

  /** Exactly n bytes, or undefined at a clean end of input; a partial read is an error. */
  async exact(n: number): Promise<Buffer | undefined> {
    while (this.#buf.length < n) {
      if (!(await this.#fill())) {
        if (this.#buf.length === 0) return undefined;
        throw new TarFormatError(`archive ends in the middle of a block (needed ${n} bytes, have ${this.#buf.length})`);
      }
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** n bytes as a sequence of chunks, without gathering them. */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.#buf.length === 0 && !(await this.#fill())) {
        throw new TarFormatError(`archive is truncated (${left} bytes of a member missing)`);
      }
      const take = Math.min(left, this.#buf.length);
      const out = this.#buf.subarray(0, take);
      this.#buf = this.#buf.subarray(take);
      left -= take;
      yield out;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.stream(n)) {
      // discard
    }
  }

  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

type TarEntryType = ReturnType<() => Header['type']>;

export interface TarEntry {
  name: string;
  type: TarEntryType;
  size: number;
  mode: number;
  mtime: Date | undefined;
  linkpath: string | undefined;
  /** The member's data; must be consumed (or left) before asking for the next entry. */
  body: AsyncIterable<Buffer>;
}

/**
 * Reads a tar stream member by member (ustar, pax and GNU long names), with real backpressure:
 * nothing is read ahead beyond the current chunk. An entry's body not consumed by the caller is
 * skipped when the next entry is requested. Stops at the end-of-archive marker; a stream that
 * ends without one is an error (a cut-off archive).
 */
export async function* readTar(source: AsyncIterable<Buffer>): AsyncGenerator<TarEntry> {
  const r = new ByteReader(source);
  let pending: { remaining: () => number; padding: number } | undefined;
  let ex: Record<string, unknown> | undefined;
  let gex: Record<string, unknown> | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;
  try {
    for (;;) {
      if (pending) {
        await r.skip(pending.remaining() + pending.padding);
        pending = undefined;
      }
      const block = await r.exact(BLOCK);
      if (!block) throw new TarFormatError('archive ends without the end-of-archive marker (truncated)');
      if (block.every((b) => b === 0)) return;
      // Decode the plain header, then apply pax overrides ourselves (tar's Header would also
      // prepend the ustar prefix to a pax path).
      const h = new Header(block, 0);
      if (!h.cksumValid) throw new TarFormatError('a tar header has a bad checksum');
      const over = { ...gex, ...ex } as { path?: string; size?: number; linkpath?: string };
      const size = typeof over.size === 'number' && h.type !== 'ExtendedHeader' && h.type !== 'GlobalExtendedHeader' ? over.size : (h.size ?? 0);
      const padding = (BLOCK - (size % BLOCK)) % BLOCK;
      const type = h.type;
      if (type === 'ExtendedHeader' || type === 'GlobalExtendedHeader') {
        const body = (await r.exact(size + padding)) ?? Buffer.alloc(0);
        const pax = Pax.parse(body.subarray(0, size).toString('utf8'), ex as never, type === 'GlobalExtendedHeader');
        if (type === 'GlobalExtendedHeader') gex = { ...gex, ...pax };
        else ex = { ...pax };
        continue;
      }
      if (type === 'NextFileHasLongPath' || type === 'NextFileHasLongLinkpath') {
        const body = (await r.exact(size + padding)) ?? Buffer.alloc(0);
        const text = body.subarray(0, size).toString('utf8').replace(/\0.*$/s, '');
        if (type === 'NextFileHasLongPath') longName = text;
        else longLink = text;
        continue;
      }
      const name = over.path ?? longName ?? h.path ?? '';
      const linkpath = over.linkpath ?? longLink ?? h.linkpath;
      longName = undefined;
      longLink = undefined;
      ex = undefined;
      let consumed = 0;
      const hasBody = type === 'File' || type === 'OldFile' || type === 'ContiguousFile';
      const dataSize = hasBody ? size : 0;
      pending = { remaining: () => dataSize - consumed, padding: hasBody ? padding : 0 };
      const stream = r.stream.bind(r);
      const body = (async function* () {
        for await (const chunk of stream(dataSize - consumed)) {
          consumed += chunk.length;
          yield chunk;
        }
      })();
      yield { name, type, size: dataSize, mode: h.mode ?? 0, mtime: h.mtime, linkpath: linkpath || undefined, body };
    }
  } finally {
    await r.close().catch(() => undefined);
  }
}

/**
 * Why a member name is unsafe to extract, or undefined when it is fine: absolute paths,
 * `..` components, backslashes and NUL are refused, so nothing can land outside the target.
 */
export function unsafeMemberName(name: string): string | undefined {
  if (name.length === 0) return 'empty name';
  if (name.includes('\0')) return 'NUL in name';
  if (name.startsWith('/') || /^[A-Za-z]:/.test(name)) return 'absolute path';
  if (name.includes('\\')) return 'backslash in name';
  if (name.split('/').some((part) => part === '..')) return "'..' in path";
  return undefined;
}
