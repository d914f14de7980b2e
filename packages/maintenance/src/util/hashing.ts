import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/** Passes bytes through unchanged while hashing (SHA-256) and counting them. */
export class HashTap extends Transform {
  readonly #hash: Hash = createHash('sha256');
  #bytes = 0;
  #digest: string | undefined;
  readonly #onProgress: ((bytes: number) => void) | undefined;
  readonly #headLimit: number;
  #head: Buffer[] = [];
  #headLength = 0;

  /** `headBytes`: also keep the stream's first bytes (an age header, to tell damage from a wrong key). */
  constructor(onProgress?: (bytes: number) => void, headBytes = 0) {
    super();
    this.#onProgress = onProgress;
    this.#headLimit = headBytes;
  }

  /** The first bytes seen (up to `headBytes`). */
  get head(): Buffer {
    return Buffer.concat(this.#head);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.#headLength < this.#headLimit) {
      const part = chunk.subarray(0, this.#headLimit - this.#headLength);
      this.#head.push(Buffer.from(part));
      this.#headLength += part.length;
    }
    this.#hash.update(chunk);
    this.#bytes += chunk.length;
    this.#onProgress?.(this.#bytes);
    done(null, chunk);
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** Hex digest; only valid once the stream has ended. */
  digest(): string {
    this.#digest ??= this.#hash.digest('hex');
    return this.#digest;
  }
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
