import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { isPartialName } from '@botctl/core';
import { type RcloneServer, startRcloneServer } from '@botctl/test-utils';
import { sha256Hex } from '../util/hashing.js';
import { LocalDirStorage } from './local-dir-storage.js';
import { MemoryStorage } from './memory-storage.js';
import { RcloneStorage } from './rclone-storage.js';
import type { Storage } from './storage.js';

/** The contract every Storage implementation passes (restic's backend/test idea). */
type Made = { storage: Storage; cleanup: () => void | Promise<void> };

function contract(name: string, make: () => Made | Promise<Made>, hooks: { beforeAll?: () => Promise<void>; afterAll?: () => Promise<void> } = {}) {
  describe(`${name} storage contract`, () => {
    let storage: Storage;
    let cleanup: () => void | Promise<void>;
    if (hooks.beforeAll) beforeAll(hooks.beforeAll, 30_000);
    if (hooks.afterAll) afterAll(hooks.afterAll);
    beforeEach(async () => {
      ({ storage, cleanup } = await make());
    });
    afterEach(async () => {
      await cleanup();
    });

    it('puts an object and reports its size and SHA-256', async () => {
      const data = Buffer.from('hello backup');
      const r = await storage.put('a.bin', Readable.from([data]));
      expect(r).toEqual({ size: data.length, sha256: sha256Hex(data) });
      expect((await storage.stat('a.bin'))?.size).toBe(data.length);
      const back: Buffer[] = [];
      for await (const c of await storage.read('a.bin')) back.push(c as Buffer);
      expect(Buffer.concat(back).equals(data)).toBe(true);
    });

    it('never replaces an existing object', async () => {
      await storage.put('a.bin', Readable.from([Buffer.from('one')]));
      await expect(storage.put('a.bin', Readable.from([Buffer.from('two')]))).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
      const back: Buffer[] = [];
      for await (const c of await storage.read('a.bin')) back.push(c as Buffer);
      expect(Buffer.concat(back).toString()).toBe('one');
    });

    it('leaves nothing visible when the source fails half-way', async () => {
      async function* failing() {
        yield Buffer.from('partial data');
        throw new Error('source broke');
      }
      await expect(storage.put('b.bin', Readable.from(failing()))).rejects.toThrow('source broke');
      expect(await storage.stat('b.bin')).toBeUndefined();
      expect((await storage.list()).filter((o) => o.name.startsWith('b.bin'))).toEqual([]);
    });

    it('leaves no temporary file when the source failed before the write began', async () => {
      // A producer (pg_dump, age) that dies at once: the pipeline fails before the file is open.
      for (let i = 0; i < 20; i++) {
        const broken = new Readable({ read() {} });
        broken.on('error', () => {});
        broken.destroy(new Error('source broke early'));
        await expect(storage.put(`e${i}.bin`, broken)).rejects.toThrow('source broke early');
      }
      await new Promise((r) => setTimeout(r, 50));
      expect((await storage.list()).map((o) => o.name).filter((n) => n.startsWith('e'))).toEqual([]);
    });

    it('leaves nothing when aborted', async () => {
      const ac = new AbortController();
      async function* slow() {
        yield Buffer.from('x');
        ac.abort(new Error('stop'));
        await new Promise((r) => setTimeout(r, 20));
        yield Buffer.from('y');
      }
      await expect(storage.put('c.bin', Readable.from(slow()), { signal: ac.signal })).rejects.toThrow();
      expect((await storage.list()).map((o) => o.name).filter((n) => n.startsWith('c.bin'))).toEqual([]);
    });

    it('writes small objects atomically, replacing them', async () => {
      await storage.writeSmall('x.json', '{"a":1}');
      await storage.writeSmall('x.json', '{"a":2}');
      expect((await storage.readSmall('x.json'))?.toString()).toBe('{"a":2}');
      expect(await storage.readSmall('missing.json')).toBeUndefined();
      expect((await storage.list()).filter((o) => isPartialName(o.name))).toEqual([]);
    });

    it('removes objects, and removing a missing one is fine', async () => {
      await storage.writeSmall('y', 'data');
      await storage.remove('y');
      await storage.remove('y');
      expect(await storage.stat('y')).toBeUndefined();
    });

    it('removes many at once where it can (removeAll), missing ones included, and lists many', async () => {
      const names = Array.from({ length: 60 }, (_, i) => `many-${String(i).padStart(2, '0')}`);
      for (const n of names) await storage.writeSmall(n, n);
      expect(
        (await storage.list())
          .map((o) => o.name)
          .filter((n) => n.startsWith('many-'))
          .sort(),
      ).toEqual(names);
      const gone = [...names.slice(0, 50), 'never-there'];
      if (storage.removeAll) await storage.removeAll(gone.map((n) => [n]));
      else for (const n of gone) await storage.remove(n);
      expect(
        (await storage.list())
          .map((o) => o.name)
          .filter((n) => n.startsWith('many-'))
          .sort(),
      ).toEqual(names.slice(50));
    });

    it('renames an object over an existing one in one step', async () => {
      const read = async (n: string) => {
        const back: Buffer[] = [];
        for await (const c of await storage.read(n)) back.push(c as Buffer);
        return Buffer.concat(back).toString();
      };
      await storage.put('m.enc', Readable.from([Buffer.from('old')]));
      await storage.put('m.enc.new', Readable.from([Buffer.from('new')]));
      await storage.rename('m.enc.new', 'm.enc');
      expect(await read('m.enc')).toBe('new');
      expect(await storage.stat('m.enc.new')).toBeUndefined();
      await expect(storage.rename('missing', 'm.enc')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await read('m.enc')).toBe('new');
    });

    it('rejects names that are paths', async () => {
      await expect(storage.writeSmall('../evil', 'x')).rejects.toMatchObject({ code: 'INVALID_NAME' });
      await expect(storage.put('a/b', Readable.from([Buffer.from('x')]))).rejects.toMatchObject({ code: 'INVALID_NAME' });
    });
  });
}

contract('memory', () => ({ storage: new MemoryStorage(), cleanup: () => {} }));
contract('local folder', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-'));
  return { storage: new LocalDirStorage(path.join(dir, 'nested', 'backups')), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
});
// An offsite folder (a mount, maybe over the network) is read asynchronously, the local one synchronously: both keep the contract.
contract('offsite folder', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-'));
  return { storage: new LocalDirStorage(path.join(dir, 'nested', 'offsite'), 'offsite'), cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
});

// The same contract against real rclone servers on 127.0.0.1 (issue 7), through the real rclone
// client: each test gets a fresh folder on the server.
for (const protocol of ['sftp', 'webdav'] as const) {
  let server: RcloneServer;
  let root: string;
  let n = 0;
  contract(
    `rclone ${protocol}`,
    () => {
      const sub = `t${++n}/nested`;
      return { storage: new RcloneStorage({ remote: `${server.remoteName}:${sub}`, env: server.env }), cleanup: () => {} };
    },
    {
      beforeAll: async () => {
        root = fs.mkdtempSync(path.join(os.tmpdir(), `rclone-${protocol}-`));
        server = await startRcloneServer({ protocol, dir: path.join(root, 'served'), stateDir: path.join(root, 'state') });
      },
      afterAll: async () => {
        await server?.stop();
        fs.rmSync(root, { recursive: true, force: true });
      },
    },
  );
}

describe('LocalDirStorage', () => {
  it('creates archives with mode 0600', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-'));
    try {
      const s = new LocalDirStorage(dir);
      await s.put('secret.enc', Readable.from([Buffer.from('x')]));
      expect(fs.statSync(path.join(dir, 'secret.enc')).mode & 0o777).toBe(0o600);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('removeAll removes each group in its order, groups side by side: a group whose first object cannot go keeps the rest of it', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-'));
    try {
      const s = new LocalDirStorage(dir);
      const groups = Array.from({ length: 40 }, (_, i) => [`a-${i}.enc`, `a-${i}.enc.meta.json`]);
      for (const n of groups.flat()) await s.writeSmall(n, n);
      // An object that cannot be unlinked (a folder in its place): its group stops there.
      fs.rmSync(path.join(dir, 'a-7.enc'));
      fs.mkdirSync(path.join(dir, 'a-7.enc'));
      await expect(s.removeAll(groups)).rejects.toThrow();
      const left = fs.readdirSync(dir).sort();
      expect(left).toContain('a-7.enc');
      expect(left).toContain('a-7.enc.meta.json');
      // No sidecar is gone while its archive is still there.
      for (const [a, sc] of groups) if (left.includes(a!)) expect(left).toContain(sc);
      fs.rmdirSync(path.join(dir, 'a-7.enc'));
      await s.removeAll(groups);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('LocalDirStorage on a slow disk', () => {
  it('a source failing while the temp file opens, with no listener of its own: put() rejects, nothing unhandled, nothing left', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-'));
    try {
      const s = new LocalDirStorage(dir);
      const broken = new Readable({ read() {} });
      const put = s.put('early.bin', broken);
      setImmediate(() => broken.destroy(new Error('age died')));
      await expect(put).rejects.toThrow('age died');
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // CI once kept `backup-….tar.gz.enc.partial-…` after pg_dump failed: the pipeline had already
  // failed when the temp file's open() returned, so the cleanup ran before the file existed.
  it('removes its temporary file even when the source fails before the open() returns', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storage-'));
    const realOpen = fs.open;
    // A disk that takes 100 ms to create a file (a loaded host, a network mount).
    const slowOpen = ((...args: Parameters<typeof fs.open>) => {
      setTimeout(() => (realOpen as (...a: unknown[]) => void)(...args), 100);
    }) as typeof fs.open;
    fs.open = slowOpen;
    try {
      const s = new LocalDirStorage(dir);
      const broken = new Readable({ read() {} });
      broken.on('error', () => {});
      const put = s.put('early.bin', broken);
      setImmediate(() => broken.destroy(new Error('pg_dump died')));
      await expect(put).rejects.toThrow('pg_dump died');
      fs.open = realOpen;
      await new Promise((r) => setTimeout(r, 300));
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.open = realOpen;
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
