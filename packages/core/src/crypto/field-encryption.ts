import crypto from 'node:crypto';
import { ConfigError, IntegrityError } from '../errors.js';
import type { Secret } from '../secret.js';

/**
 * Encryption at rest for single fields (stock secrets, SNK submissions).
 *
 * DATA_ENCRYPTION_KEY holds one or more comma-separated keys, each 32 bytes in base64 or
 * base64url (a Fernet key from the original Python bot is exactly that). The first key
 * encrypts; all of them decrypt, so a key can rotate: put the new key first, keep the old one
 * after it until everything was re-encrypted.
 *
 * New tokens: `v1.<key id>.<base64url(iv ‖ ciphertext ‖ tag)>`, AES-256-GCM with a key derived by
 * HKDF-SHA256 from the configured key, and the field's context (e.g. "product_stock_items.secret")
 * as associated data, so a value copied into another column does not decrypt.
 * Fernet tokens (`gAAAA...`) written by the Python bot are still read.
 */

interface DataKey {
  id: string;
  aes: Buffer;
  /** HMAC key of digest(). */
  digest: Buffer;
  fernetSigning: Buffer;
  fernetEncryption: Buffer;
}

function decodeKey(text: string): Buffer | undefined {
  const t = text.trim();
  const b = /^[A-Za-z0-9_-]+=*$/.test(t) ? Buffer.from(t, 'base64url') : Buffer.from(t, 'base64');
  return b.length === 32 ? b : undefined;
}

function deriveKey(raw: Buffer): DataKey {
  const aes = Buffer.from(crypto.hkdfSync('sha256', raw, Buffer.alloc(0), 'botctl field encryption v1', 32));
  const id = crypto.createHash('sha256').update('botctl key id').update(raw).digest('hex').slice(0, 8);
  const digest = Buffer.from(crypto.hkdfSync('sha256', raw, Buffer.alloc(0), 'botctl field digest v1', 32));
  return { id, aes, digest, fernetSigning: raw.subarray(0, 16), fernetEncryption: raw.subarray(16, 32) };
}

export class FieldCipher {
  readonly #keys: DataKey[];

  private constructor(keys: DataKey[]) {
    this.#keys = keys;
  }

  static fromSecret(secret: Secret | undefined): FieldCipher {
    if (!secret) {
      throw new ConfigError(['DATA_ENCRYPTION_KEY is not set'], {
        hint: 'generate one with `botctl keygen --data-key` and keep a copy outside the server',
      });
    }
    const parts = secret
      .reveal()
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const keys: DataKey[] = [];
    parts.forEach((p, i) => {
      const raw = decodeKey(p);
      if (!raw) throw new ConfigError([`DATA_ENCRYPTION_KEY key #${i + 1} is not 32 bytes of base64`]);
      keys.push(deriveKey(raw));
    });
    if (keys.length === 0) throw new ConfigError(['DATA_ENCRYPTION_KEY is empty']);
    return new FieldCipher(keys);
  }

  /**
   * A keyed digest of a value for equality checks in the database (`<key id>.<hex>`), under the
   * current key: the same value in the same context gives the same digest, and without the key a
   * digest says nothing about the value. A digest under another key id is recomputed by its reader.
   */
  digest(value: string, context: string): string {
    const key = this.#keys[0]!;
    return `${key.id}.${crypto.createHmac('sha256', key.digest).update(context).update('\0').update(value).digest('hex')}`;
  }

  static generateKey(): string {
    return `${crypto.randomBytes(32).toString('base64url')}=`;
  }

  get currentKeyId(): string {
    return this.#keys[0]!.id;
  }

  encrypt(plaintext: string | Buffer, context: string): string {
    const key = this.#keys[0]!;
    const iv = crypto.randomBytes(12);
    const c = crypto.createCipheriv('aes-256-gcm', key.aes, iv);
    c.setAAD(Buffer.from(context));
    const ct = Buffer.concat([c.update(typeof plaintext === 'string' ? Buffer.from(plaintext) : plaintext), c.final()]);
    return `v1.${key.id}.${Buffer.concat([iv, ct, c.getAuthTag()]).toString('base64url')}`;
  }

  decrypt(token: string, context: string): Buffer {
    if (token.startsWith('v1.')) return this.#decryptV1(token, context);
    if (token.startsWith('gAAAA')) return this.#decryptFernet(token);
    throw new IntegrityError('encrypted field has an unknown format');
  }

  decryptText(token: string, context: string): string {
    return this.decrypt(token, context).toString('utf8');
  }

  /** True when the token is not under the current key (re-encrypt it during rotation). */
  needsRotation(token: string): boolean {
    return !token.startsWith(`v1.${this.currentKeyId}.`);
  }

  #decryptV1(token: string, context: string): Buffer {
    const [, kid, body] = token.split('.');
    const key = this.#keys.find((k) => k.id === kid);
    if (!key || !body) throw new IntegrityError(`encrypted field uses key ${kid ?? '?'}, which is not in DATA_ENCRYPTION_KEY`);
    const raw = Buffer.from(body, 'base64url');
    if (raw.length < 28) throw new IntegrityError('encrypted field is truncated');
    const d = crypto.createDecipheriv('aes-256-gcm', key.aes, raw.subarray(0, 12));
    d.setAAD(Buffer.from(context));
    d.setAuthTag(raw.subarray(raw.length - 16));
    try {
      return Buffer.concat([d.update(raw.subarray(12, raw.length - 16)), d.final()]);
    } catch {
      throw new IntegrityError('encrypted field failed authentication (wrong key, wrong column or tampered)');
    }
  }

  /** Fernet spec: 0x80 ‖ timestamp(8) ‖ iv(16) ‖ AES-128-CBC ciphertext ‖ HMAC-SHA256(32). */
  #decryptFernet(token: string): Buffer {
    const raw = Buffer.from(token, 'base64url');
    if (raw.length < 1 + 8 + 16 + 16 + 32 || raw[0] !== 0x80) throw new IntegrityError('malformed Fernet token');
    const signed = raw.subarray(0, raw.length - 32);
    const mac = raw.subarray(raw.length - 32);
    for (const key of this.#keys) {
      const expected = crypto.createHmac('sha256', key.fernetSigning).update(signed).digest();
      if (!crypto.timingSafeEqual(expected, mac)) continue;
      const d = crypto.createDecipheriv('aes-128-cbc', key.fernetEncryption, raw.subarray(9, 25));
      return Buffer.concat([d.update(raw.subarray(25, raw.length - 32)), d.final()]);
    }
    throw new IntegrityError('Fernet token does not match any key in DATA_ENCRYPTION_KEY');
  }
}
