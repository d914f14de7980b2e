import { Secret } from '../secret.js';
import { FieldCipher } from './field-encryption.js';

describe('FieldCipher', () => {
  const k1 = FieldCipher.generateKey();
  const k2 = FieldCipher.generateKey();

  it('round-trips with AES-256-GCM and stores no plaintext', () => {
    const c = FieldCipher.fromSecret(new Secret(k1));
    const token = c.encrypt('user@mail:pass123', 'stock');
    expect(token).toMatch(/^v1\.[0-9a-f]{8}\./);
    expect(token).not.toContain('pass123');
    expect(c.decryptText(token, 'stock')).toBe('user@mail:pass123');
  });

  it('refuses a token moved to another column (context) or tampered with', () => {
    const c = FieldCipher.fromSecret(new Secret(k1));
    const token = c.encrypt('x', 'stock');
    expect(() => c.decrypt(token, 'snk')).toThrow(/failed authentication/);
    const bad = token.slice(0, -2) + (token.endsWith('A') ? 'BB' : 'AA');
    expect(() => c.decrypt(bad, 'stock')).toThrow();
  });

  it('rotates: the new key encrypts, the old key still decrypts', () => {
    const old = FieldCipher.fromSecret(new Secret(k1));
    const token = old.encrypt('legacy', 'stock');
    const rotated = FieldCipher.fromSecret(new Secret(`${k2},${k1}`));
    expect(rotated.decryptText(token, 'stock')).toBe('legacy');
    expect(rotated.needsRotation(token)).toBe(true);
    expect(rotated.needsRotation(rotated.encrypt('new', 'stock'))).toBe(false);
  });

  it('rejects keys that are not 32 bytes', () => {
    expect(() => FieldCipher.fromSecret(new Secret('short'))).toThrow(/not 32 bytes/);
  });
});

describe('Fernet tokens from the original Python bot', () => {
  it('decrypts a token made by the Python cryptography package with the same key', async () => {
    const { execFileSync } = await import('node:child_process');
    const key = FieldCipher.generateKey();
    const plaintext = 'akun-lama@contoh.id:rahasia Ω';
    // Debian's python3-cryptography (scripts/setup.sh installs it): the exact library the original bot used.
    const token = execFileSync(
      'python3',
      [
        '-c',
        'import sys; from cryptography.fernet import Fernet; sys.stdout.write(Fernet(sys.stdin.readline().strip().encode()).encrypt(sys.stdin.readline().rstrip("\\n").encode()).decode())',
      ],
      { input: `${key}\n${plaintext}\n`, encoding: 'utf8' },
    );
    expect(token).toMatch(/^gAAAAA/);
    const c = FieldCipher.fromSecret(new Secret(key));
    expect(c.decryptText(token, 'product_term_submissions.content_enc')).toBe(plaintext);
    // A different key must not read it.
    expect(() => FieldCipher.fromSecret(new Secret(FieldCipher.generateKey())).decrypt(token, 'x')).toThrow(/does not match any key/);
    // New writes use AES-256-GCM; the old token is flagged for re-encryption.
    expect(c.needsRotation(token)).toBe(true);
  });
});
