import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { BotctlError, classifyIoError, type Config, ConfigError, ExitCode, IntegrityError, type Secret, WrongKeyError } from '@botctl/core';
// age-encryption and the stream code are loaded on first use: a backup starts pg_dump first and
// loads them while pg_dump is still reading the catalog.
const age = () => import('age-encryption');
const ageStream = () => import('./age-stream.js');
import type { EncryptionInfo } from './format.js';

/** The scrypt work factor every age implementation accepts (age's own default). */
const SCRYPT_WORK_FACTOR = 18;
export const AGE_MAGIC = 'age-encryption.org/v1\n';

function recipientFingerprint(recipient: string): string {
  return `sha256:${createHash('sha256').update(recipient).digest('hex').slice(0, 16)}`;
}

export interface ArchiveEncryption {
  readonly info: EncryptionInfo;
  encrypt(plaintext: Readable): Promise<Readable>;
}

/**
 * Encryption for new archives: age recipients when configured (the backup host then cannot read
 * its own old backups: only the holder of the identity can), otherwise the passphrase.
 */
export function createArchiveEncryption(config: Config): ArchiveEncryption {
  const recipients = config.backup.ageRecipients;
  const passphrase = config.backup.encryptionPassword;
  if (recipients.length > 0) {
    return {
      info: { mode: 'recipients', recipients: recipients.map((r) => ({ fingerprint: recipientFingerprint(r) })) },
      async encrypt(plaintext) {
        try {
          return await (await ageStream()).ageEncrypt(plaintext, { kind: 'recipients', recipients });
        } catch (error) {
          if (/recipient/i.test(String(error))) {
            throw new ConfigError(['BACKUP_AGE_RECIPIENTS contains an invalid age recipient'], { cause: error });
          }
          throw error;
        }
      },
    };
  }
  if (passphrase) {
    return {
      info: { mode: 'passphrase', scrypt_work_factor: SCRYPT_WORK_FACTOR },
      async encrypt(plaintext) {
        return (await ageStream()).ageEncrypt(plaintext, { kind: 'passphrase', passphrase: passphrase.reveal(), logN: SCRYPT_WORK_FACTOR });
      },
    };
  }
  throw new ConfigError(['no backup encryption configured: set BACKUP_AGE_RECIPIENTS or BACKUP_ENCRYPTION_PASSWORD']);
}

/** Reads `AGE-SECRET-KEY-...` lines from an age identity file (comments and blanks ignored). */
async function readIdentityFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ConfigError([`BACKUP_AGE_IDENTITY_FILE ${file} cannot be read (${code ?? 'error'})`]);
  }
  const ids = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('AGE-SECRET-KEY-'));
  if (ids.length === 0) throw new ConfigError([`BACKUP_AGE_IDENTITY_FILE ${file} holds no AGE-SECRET-KEY line`]);
  return ids;
}

export interface ArchiveDecryption {
  /** Recipient fingerprints of the identities we hold, to explain a wrong-key failure. */
  readonly fingerprints: string[];
  /** Resolves once the header is authenticated; the stream then yields plaintext. */
  decrypt(ciphertext: Readable): Promise<Readable>;
}

export async function createArchiveDecryption(config: Config): Promise<ArchiveDecryption> {
  const identities = config.backup.ageIdentityFile ? await readIdentityFile(config.backup.ageIdentityFile) : [];
  const passphrase: Secret | undefined = config.backup.encryptionPassword;
  if (identities.length === 0 && !passphrase) {
    throw new ConfigError(['nothing to decrypt with: set BACKUP_AGE_IDENTITY_FILE (recipient mode) or BACKUP_ENCRYPTION_PASSWORD'], {
      hint: 'in recipient mode the backup host cannot decrypt; use `backup verify --quick` there, or pass the identity file',
    });
  }
  const fingerprints: string[] = [];
  for (const id of identities) {
    try {
      fingerprints.push(recipientFingerprint(await (await age()).identityToRecipient(id)));
    } catch {
      throw new ConfigError([`BACKUP_AGE_IDENTITY_FILE holds an invalid identity`]);
    }
  }
  return {
    fingerprints,
    async decrypt(ciphertext) {
      // Errors are raw age errors; callers classify them with what they know of the archive.
      return (await ageStream()).ageDecrypt(ciphertext, { identities, passphrase: passphrase?.reveal() });
    },
  };
}

/** SHA-256 of an age file's header (its first bytes up to and including the `--- <mac>` line). */
export function ageHeaderDigest(head: Buffer): string | undefined {
  const i = head.indexOf('\n--- ');
  if (i < 0) return undefined;
  const eol = head.indexOf('\n', i + 1);
  if (eol < 0) return undefined;
  return createHash('sha256')
    .update(head.subarray(0, eol + 1))
    .digest('hex');
}

export interface DecryptContext {
  fingerprints?: string[];
  expected?: EncryptionInfo;
  /** The sidecar's `header_sha256` and the header actually read: tell damage from a wrong key. */
  expectedHeader?: string | undefined;
  actualHeader?: string | undefined;
}

/** Turns the age library's errors into the documented ones. */
export function classifyDecryptError(error: unknown, ctx: DecryptContext = {}): BotctlError {
  if (error instanceof BotctlError) return error;
  const msg = error instanceof Error ? error.message : String(error);
  if (/no identity matched/i.test(msg)) {
    // A header that is not the one written, or one encrypted to the very recipient whose identity
    // we hold, did not fail for want of the right key: it is damaged.
    const headerChanged = ctx.expectedHeader !== undefined && ctx.actualHeader !== undefined && ctx.expectedHeader !== ctx.actualHeader;
    const forUs = ctx.expected?.mode === 'recipients' && (ctx.expected.recipients ?? []).some((r) => ctx.fingerprints?.includes(r.fingerprint));
    if (headerChanged || forUs) {
      return new IntegrityError(
        `the archive header is damaged: ${headerChanged ? 'it differs from the one recorded when the backup was made' : 'it is encrypted for the identity we hold, yet does not open with it'} (modified or corrupted)`,
        { hint: 'use another copy of this backup (local or offsite)', cause: error },
      );
    }
    const expected = ctx.expected?.recipients?.map((r) => r.fingerprint).join(', ');
    const ours = ctx.fingerprints?.length ? ctx.fingerprints.join(', ') : 'a passphrase';
    return new WrongKeyError('cannot decrypt: the passphrase or identity does not match this backup', {
      hint:
        ctx.expected?.mode === 'passphrase'
          ? 'this backup was made with BACKUP_ENCRYPTION_PASSWORD; set the passphrase that was in use then'
          : `the backup was encrypted for ${expected ?? 'other recipients'}; you hold ${ours}`,
      cause: error,
    });
  }
  if (/invalid header HMAC/i.test(msg)) {
    return new IntegrityError('the archive header failed authentication: the file was modified or corrupted', { cause: error });
  }
  if (/invalid (version|header|stanza|non-ASCII)|stream ended before/i.test(msg)) {
    return new IntegrityError('the archive header is damaged: the file was modified, corrupted or cut short', { cause: error });
  }
  if ((error as Error | undefined)?.name === 'AgePayloadError' || /authentication|truncated|tag|decrypt|final chunk|invalid/i.test(msg)) {
    return new IntegrityError('the archive failed authentication while decrypting: it was modified, corrupted or truncated', {
      cause: error,
    });
  }
  return new BotctlError('DECRYPT_FAILED', ExitCode.INTEGRITY, `decryption failed: ${msg}`, { cause: error });
}

/** Writes a new identity file (0600, never overwriting) and returns its recipient. */
export async function generateIdentityFile(file: string, createdAt: string): Promise<{ recipient: string; file: string }> {
  const { generateX25519Identity, identityToRecipient } = await age();
  const identity = await generateX25519Identity();
  const recipient = await identityToRecipient(identity);
  const text = `# created: ${createdAt}\n# public key: ${recipient}\n${identity}\n`;
  await writeNewSecretFile(file, text, 'an identity', 'losing an identity loses every backup made for it');
  return { recipient, file };
}

/**
 * Writes a new key file (0600), never over an existing one. A missing folder is created (0700:
 * it holds keys); a folder that cannot be made or written is one clear error with a hint.
 */
export async function writeNewSecretFile(file: string, text: string, what: string, why: string): Promise<void> {
  try {
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await fsp.writeFile(file, text, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' && fs.existsSync(file)) {
      throw new BotctlError('EXISTS', ExitCode.REFUSED, `${file} already exists; refusing to overwrite ${what}`, {
        hint: `choose another --output path; ${why}`,
      });
    }
    const io = classifyIoError(error, file);
    if (io instanceof BotctlError) throw io;
    throw new BotctlError('IO', ExitCode.FAILURE, `cannot write ${file}: ${code ?? (error as Error).message}`, {
      cause: error,
      hint: 'give --output a path in a folder you can write (a missing folder is created; a file in the way is not replaced)',
    });
  }
}
