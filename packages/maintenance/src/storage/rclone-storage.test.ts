import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { type RcloneServer, startRcloneServer } from '@botctl/test-utils';
import { sha256Hex } from '../util/hashing.js';
import { probeStorage } from './probe.js';
import { RcloneStorage } from './rclone-storage.js';

let root: string;
let server: RcloneServer;

beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'rclone-unit-'));
  server = await startRcloneServer({ protocol: 'sftp', dir: path.join(root, 'served'), stateDir: path.join(root, 'state') });
}, 30_000);

afterAll(async () => {
  await server?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

describe('RcloneStorage', () => {
  it('a download cut by the server errors; it never ends early looking complete', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    await new RcloneStorage({ remote: `${server.remoteName}:cut`, env: server.env }).put('big.enc', Readable.from([data]));
    // Slow reads, so the server can die in the middle.
    const slow = new RcloneStorage({ remote: `${server.remoteName}:cut`, env: { ...server.env, RCLONE_BWLIMIT: '256k' } });
    const stream = await slow.read('big.enc');
    let got = 0;
    const consumed = (async () => {
      for await (const c of stream) {
        got += (c as Buffer).length;
        if (got > 64 * 1024) server.kill();
      }
    })();
    await expect(consumed).rejects.toThrow(/rclone cat on \S+ failed/);
    expect(got).toBeLessThan(data.length);
    await server.restart();
    // Once the server is back the object reads whole.
    const back: Buffer[] = [];
    for await (const c of await new RcloneStorage({ remote: `${server.remoteName}:cut`, env: server.env }).read('big.enc')) back.push(c as Buffer);
    expect(sha256Hex(Buffer.concat(back))).toBe(sha256Hex(data));
  }, 60_000);

  it("names remote paths, and passes rclone's reason for a failure on without credentials", async () => {
    const s = new RcloneStorage({ remote: `${server.remoteName}:`, env: server.env });
    expect(s.sub('logs').description).toBe(`${server.remoteName}:logs`);
    expect(new RcloneStorage({ remote: 'b2:bucket/x' }).sub('logs').description).toBe('b2:bucket/x/logs');
    // A wrong password: rclone's message is passed on, with no credential in it.
    const wrong = new RcloneStorage({
      remote: `${server.remoteName}:x`,
      env: { ...server.env, [`RCLONE_CONFIG_${server.remoteName}_PASS`]: 'bm90LXRoZS1wYXNzd29yZA' },
    });
    const error = (await wrong.list().catch((e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^rclone lsjson on \S+ failed \(exit \d+\): .*(auth|password|handshake)/i);
    expect(error.message).not.toContain(server.password);
  }, 30_000);

  it('probe: every step against a real server, free space from SFTP', async () => {
    const probe = await probeStorage(new RcloneStorage({ remote: `${server.remoteName}:probe`, env: server.env }));
    expect(probe.ok).toBe(true);
    expect(probe.steps.map((s) => s.step)).toEqual(['ready', 'write', 'read', 'rename', 'delete', 'space']);
    expect(probe.steps[0]!.detail).toMatch(/^rclone v1\.\d+\.\d+/);
    expect(probe.space?.free).toBeGreaterThan(0);
    expect(fs.readdirSync(path.join(server.dir, 'probe'))).toEqual([]);
  }, 30_000);

  it('lists the folders below it (a WAL archive per timeline and log), and none where there is nothing yet', async () => {
    const wal = new RcloneStorage({ remote: `${server.remoteName}:wal`, env: server.env });
    expect(await wal.folders()).toEqual([]);
    await wal.sub('0000000100000000').put('a.gz.age', Readable.from([Buffer.from('a')]));
    await wal.sub('0000000100000001').put('b.gz.age', Readable.from([Buffer.from('b')]));
    await wal.put('top-level-file', Readable.from([Buffer.from('c')]));
    expect((await wal.folders()).sort()).toEqual(['0000000100000000', '0000000100000001']);
  }, 30_000);
});
