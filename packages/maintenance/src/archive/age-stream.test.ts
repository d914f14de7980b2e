import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { Decrypter, Encrypter, generateX25519Identity, identityToRecipient } from 'age-encryption';
import { ageDecrypt, ageEncrypt } from './age-stream.js';

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** Feeds data in uneven pieces, the way pipes deliver it. */
const source = (data: Buffer) =>
  Readable.from(
    (function* () {
      for (let i = 0; i < data.length; ) {
        const n = 1 + ((i * 7919) % 100_000);
        yield data.subarray(i, i + n);
        i += n;
      }
    })(),
    { objectMode: false },
  );

describe('age streams (native payload cipher)', () => {
  let dir: string;
  let identity: string;
  let recipient: string;
  let idFile: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'age-'));
    identity = await generateX25519Identity();
    recipient = await identityToRecipient(identity);
    idFile = path.join(dir, 'id.txt');
    fs.writeFileSync(idFile, `${identity}\n`);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  // Chunk boundaries matter: empty, one byte, exactly one chunk, one chunk and a byte, several.
  it.each([0, 1, 65536, 65537, 3 * 65536, 300_001])('%i bytes: the age CLI decrypts what we encrypt, and we decrypt what it encrypts', async (size) => {
    const data = crypto.randomBytes(size);
    const ours = await collect(await ageEncrypt(source(data), { kind: 'recipients', recipients: [recipient] }));
    const file = path.join(dir, `ours-${size}.age`);
    fs.writeFileSync(file, ours);
    expect(execFileSync('age', ['--decrypt', '-i', idFile, file], { maxBuffer: 1 << 26 }).equals(data)).toBe(true);

    const plain = path.join(dir, `plain-${size}`);
    fs.writeFileSync(plain, data);
    const theirs = execFileSync('age', ['-r', recipient, plain], { maxBuffer: 1 << 26 });
    const back = await collect(await ageDecrypt(source(theirs), { identities: [identity] }));
    expect(back.equals(data)).toBe(true);
  });

  it('interoperates with the age-encryption library in both directions, passphrase included', async () => {
    const data = crypto.randomBytes(150_000);
    const ours = await collect(await ageEncrypt(source(data), { kind: 'passphrase', passphrase: 'pass phrase words', logN: 10 }));
    const d = new Decrypter();
    d.addPassphrase('pass phrase words');
    expect(Buffer.from(await d.decrypt(new Uint8Array(ours))).equals(data)).toBe(true);

    const e = new Encrypter();
    e.setPassphrase('pass phrase words');
    e.setScryptWorkFactor(10);
    const theirs = Buffer.from(await e.encrypt(new Uint8Array(data)));
    expect((await collect(await ageDecrypt(source(theirs), { identities: [], passphrase: 'pass phrase words' }))).equals(data)).toBe(true);
  });

  it('refuses the wrong key before any output', async () => {
    const ours = await collect(await ageEncrypt(source(Buffer.from('x')), { kind: 'recipients', recipients: [recipient] }));
    const other = await generateX25519Identity();
    await expect(ageDecrypt(source(ours), { identities: [other] })).rejects.toThrow(/no identity matched/);
    const pw = await collect(await ageEncrypt(source(Buffer.from('x')), { kind: 'passphrase', passphrase: 'right one', logN: 10 }));
    await expect(ageDecrypt(source(pw), { identities: [], passphrase: 'wrong one' })).rejects.toThrow(/no identity matched/);
  });

  it('detects a modified byte and a file cut at a chunk boundary', async () => {
    const data = crypto.randomBytes(3 * 65536 + 10);
    const ours = await collect(await ageEncrypt(source(data), { kind: 'recipients', recipients: [recipient] }));
    const flipped = Buffer.from(ours);
    flipped[flipped.length - 70_000]! ^= 1;
    await expect(collect(await ageDecrypt(source(flipped), { identities: [identity] }))).rejects.toThrow(/failed authentication/);
    // Drop the whole last chunk: every remaining chunk is intact, only the end-of-file flag is missing.
    const cut = ours.subarray(0, ours.length - (10 + 16));
    await expect(collect(await ageDecrypt(source(cut), { identities: [identity] }))).rejects.toThrow(/failed authentication|truncated/);
  });
});
