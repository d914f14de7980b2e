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
