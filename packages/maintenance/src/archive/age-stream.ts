import crypto from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { Decrypter, Encrypter, type Identity, type Recipient, Stanza } from 'age-encryption';

/**
 * age v1 files (https://age-encryption.org/v1) with the payload done by Node's native
 * ChaCha20-Poly1305.
 *
 * The npm `age-encryption` package does everything age-specific: wrapping the file key for each
 * recipient (X25519, hybrid post-quantum), the header and its MAC, parsing and authenticating a
 * header when decrypting. Its payload cipher is pure JavaScript (~120 MB/s here, on the main
 * thread); the payload is a plain STREAM of 64 KiB ChaCha20-Poly1305 chunks, so we run it through
 * OpenSSL instead (~1-2 GB/s), which keeps botctl's share of the CPU small while pg_dump works.
 * The passphrase (scrypt) stanza is computed with Node's native scrypt for the same reason.
 * Files are read and written by the real `age` CLI in the tests, both ways.
 */

const CHUNK = 64 * 1024;
const TAG = 16;
const SCRYPT_LABEL = 'age-encryption.org/v1/scrypt';
/** Refuse absurd work factors in files we are asked to open (a cheap denial of service). */
const MAX_SCRYPT_LOG_N = 22;

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64').replace(/=+$/, '');

function chachaSeal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array): Buffer[] {
  const c = crypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  return [c.update(plaintext), c.final(), c.getAuthTag()];
}

function chachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array): Buffer | undefined {
  if (sealed.length < TAG) return undefined;
  const d = crypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  d.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return Buffer.concat([d.update(sealed.subarray(0, sealed.length - TAG)), d.final()]);
  } catch {
    return undefined;
  }
}

function scryptKey(passphrase: string, salt: Uint8Array, logN: number): Promise<Buffer> {
  const N = 2 ** logN;
  const labelAndSalt = Buffer.concat([Buffer.from(SCRYPT_LABEL), salt]);
  return new Promise((resolve, reject) =>
    crypto.scrypt(passphrase, labelAndSalt, 32, { N, r: 8, p: 1, maxmem: 128 * N * 8 + 64 * 1024 * 1024 }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

/** age's scrypt recipient (passphrase), with native scrypt. */
class ScryptRecipient implements Recipient {
  constructor(
    private readonly passphrase: string,
    private readonly logN: number,
  ) {}
  async wrapFileKey(fileKey: Uint8Array): Promise<Stanza[]> {
    const salt = crypto.randomBytes(16);
    const key = await scryptKey(this.passphrase, salt, this.logN);
    return [new Stanza(['scrypt', b64(salt), String(this.logN)], Buffer.concat(chachaSeal(key, new Uint8Array(12), fileKey)))];
  }
}

/** age's scrypt identity, with native scrypt. */
class ScryptIdentity implements Identity {
  constructor(private readonly passphrase: string) {}
  async unwrapFileKey(stanzas: Stanza[]): Promise<Uint8Array | null> {
    const s = stanzas.find((x) => x.args[0] === 'scrypt');
    if (!s) return null;
    if (stanzas.length !== 1) throw new Error('scrypt recipient is not the only one in the header');
    const [, saltText, logText] = s.args;
    const logN = Number(logText);
    const salt = Buffer.from(saltText ?? '', 'base64');
    if (salt.length !== 16 || !/^[1-9]\d?$/.test(logText ?? '') || s.body.length !== 32) throw new Error('invalid scrypt stanza');
    if (logN > MAX_SCRYPT_LOG_N) throw new Error('scrypt work factor is too high');
    const key = await scryptKey(this.passphrase, salt, logN);
    return chachaOpen(key, new Uint8Array(12), s.body) ?? null;
  }
}

/** Captures the file key the library generates, contributing no stanza of its own. */
class FileKeyTap implements Recipient {
  key: Uint8Array | undefined;
  wrapFileKey(fileKey: Uint8Array): Stanza[] {
    this.key = fileKey;
    return [];
  }
}

function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(crypto.hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const n = Buffer.alloc(12);
  // 11-byte big-endian counter; 2^53 chunks is far beyond any backup.
  n.writeUIntBE(Math.floor(counter / 2 ** 32), 3, 3);
  n.writeUInt32BE(counter >>> 0, 7);
  n[11] = last ? 1 : 0;
  return n;
}

/** Where the textual header ends: after the `--- <mac>` line. */
function headerEnd(buf: Buffer): number {
  const i = buf.indexOf('\n--- ');
  if (i < 0) return -1;
  const eol = buf.indexOf('\n', i + 1);
  return eol < 0 ? -1 : eol + 1;
}

export type AgeKey = { kind: 'recipients'; recipients: readonly string[] } | { kind: 'passphrase'; passphrase: string; logN: number };

/** The header and payload nonce of a new file, and the payload key. */
async function newHeader(key: AgeKey): Promise<{ prefix: Buffer; streamKey: Buffer }> {
  const e = new Encrypter();
  const tap = new FileKeyTap();
  if (key.kind === 'recipients') for (const r of key.recipients) e.addRecipient(r);
  else e.addRecipient(new ScryptRecipient(key.passphrase, key.logN));
  e.addRecipient(tap);
  // A payload source that never yields: the library emits header and nonce, and encrypts nothing.
  const out = await e.encrypt(new ReadableStream<Uint8Array>({ pull: () => new Promise(() => undefined) }));
  const reader = out.getReader();
  let buf: Buffer = Buffer.alloc(0);
  try {
    for (;;) {
      const end = headerEnd(buf);
      if (end >= 0 && buf.length >= end + 16) {
        if (buf.length !== end + 16) throw new Error('unexpected age header layout');
        break;
      }
      const r = await reader.read();
      if (r.done) throw new Error('age header ended early');
      buf = Buffer.concat([buf, r.value]);
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  if (!tap.key) throw new Error('no file key');
  const end = headerEnd(buf);
  return { prefix: buf, streamKey: payloadKey(tap.key, buf.subarray(end, end + 16)) };
}

/** Plaintext in, age file out. */
class StreamEncryptor extends Transform {
  readonly #key: Buffer;
  #prefix: Buffer | undefined;
  readonly #buf = Buffer.allocUnsafe(CHUNK);
  #used = 0;
  #counter = 0;

  constructor(streamKey: Buffer, prefix: Buffer) {
    super({ readableHighWaterMark: 1024 * 1024, writableHighWaterMark: 1024 * 1024 });
    this.#key = streamKey;
    this.#prefix = prefix;
  }

  #pushPrefix(): void {
    if (this.#prefix) {
      this.push(this.#prefix);
      this.#prefix = undefined;
    }
  }

  #seal(data: Buffer, last: boolean): void {
    for (const part of chachaSeal(this.#key, chunkNonce(this.#counter++, last), data)) if (part.length) this.push(part);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#pushPrefix();
    let off = 0;
    while (off < chunk.length) {
      // A full chunk is sealed only once more data follows: the last chunk carries a flag.
      if (this.#used === CHUNK) {
        // The cipher copies its output, so the plaintext buffer is reused.
        this.#seal(this.#buf, false);
        this.#used = 0;
      }
      const n = chunk.copy(this.#buf, this.#used, off, Math.min(chunk.length, off + CHUNK - this.#used));
      this.#used += n;
      off += n;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.#pushPrefix();
    this.#seal(this.#buf.subarray(0, this.#used), true);
    done();
  }
}

export class AgePayloadError extends Error {
  override name = 'AgePayloadError';
}

/** age file (after the header and nonce) in, plaintext out. */
class StreamDecryptor extends Transform {
  readonly #key: Buffer;
  #pending: Buffer[] = [];
  #pendingLen = 0;
  #counter = 0;

  constructor(streamKey: Buffer) {
    super({ readableHighWaterMark: 1024 * 1024, writableHighWaterMark: 1024 * 1024 });
    this.#key = streamKey;
  }

  #take(n: number): Buffer {
    const all = this.#pending.length === 1 ? this.#pending[0]! : Buffer.concat(this.#pending);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.#pending = rest.length ? [rest] : [];
    this.#pendingLen = rest.length;
    return out;
  }

  #open(sealed: Buffer, last: boolean): Buffer {
    const plain = chachaOpen(this.#key, chunkNonce(this.#counter, last), sealed);
    if (!plain) {
      throw new AgePayloadError(last ? 'age: last chunk failed authentication (truncated or modified)' : `age: chunk ${this.#counter} failed authentication`);
    }
    this.#counter++;
    return plain;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.#pending.push(chunk);
    this.#pendingLen += chunk.length;
    try {
      // Keep at least one byte back: a chunk is known not to be the last only when more follows.
      while (this.#pendingLen > CHUNK + TAG) this.push(this.#open(this.#take(CHUNK + TAG), false));
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    try {
      const rest = this.#take(this.#pendingLen);
      if (rest.length < TAG) throw new AgePayloadError('age: payload truncated');
      const plain = this.#open(rest, true);
      if (plain.length === 0 && this.#counter > 1) throw new AgePayloadError('age: final chunk is empty');
      if (plain.length) this.push(plain);
      done();
    } catch (error) {
      done(error as Error);
    }
  }
}

/** Encrypts a stream to an age file. Errors of `plaintext` are passed on to the result. */
export async function ageEncrypt(plaintext: Readable, key: AgeKey): Promise<Readable> {
  const { prefix, streamKey } = await newHeader(key);
  const enc = new StreamEncryptor(streamKey, prefix);
  plaintext.on('error', (e) => enc.destroy(e));
  return plaintext.pipe(enc);
}

export interface AgeDecryptKeys {
  identities: readonly string[];
  passphrase?: string | undefined;
}

/** Reads the textual header and the payload nonce, keeping whatever came after them. */
async function readHeader(it: AsyncIterator<Buffer>): Promise<{ header: Buffer; nonce: Buffer; rest: Buffer }> {
  let buf: Buffer = Buffer.alloc(0);
  for (;;) {
    const end = headerEnd(buf);
    if (end >= 0 && buf.length >= end + 16) return { header: buf.subarray(0, end), nonce: buf.subarray(end, end + 16), rest: buf.subarray(end + 16) };
    if (end < 0 && buf.length > 1024 * 1024) throw new Error('invalid header: too long');
    const r = await it.next();
    if (r.done) throw new Error(end < 0 ? 'invalid header: stream ended before reading the header' : 'stream ended before reading 16 bytes');
    buf = buf.length ? Buffer.concat([buf, r.value]) : r.value;
  }
}

/**
 * Decrypts an age file. Resolves once the header is authenticated (wrong key: "no identity
 * matched…", modified header: "invalid header HMAC"); payload failures surface as stream errors.
 */
export async function ageDecrypt(ciphertext: Readable, keys: AgeDecryptKeys): Promise<Readable> {
  const it = (ciphertext as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const { header, nonce, rest } = await readHeader(it);
  const d = new Decrypter();
  for (const id of keys.identities) d.addIdentity(id);
  if (keys.passphrase !== undefined) d.addIdentity(new ScryptIdentity(keys.passphrase));
  const fileKey = await d.decryptHeader(header);
  const dec = new StreamDecryptor(payloadKey(fileKey, nonce));
  const source = Readable.from(
    (async function* () {
      if (rest.length) yield rest;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    })(),
    { objectMode: false },
  );
  source.on('error', (e) => dec.destroy(e));
  ciphertext.on('error', (e) => dec.destroy(e));
  return source.pipe(dec);
}
