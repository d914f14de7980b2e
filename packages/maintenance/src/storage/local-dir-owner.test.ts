import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { makeTempDir, removeDir } from '@botctl/test-utils';
import { LocalDirStorage } from './local-dir-storage.js';

// Run as root (a sysadmin's `botctl cluster backup`, a manual backup), botctl must not leave
// folders or files that the user who owns the storage cannot use: PostgreSQL's archiver (postgres)
// could then never write its next WAL file, the tenant user never prune.
const asRoot = process.getuid?.() === 0;
const postgres = (() => {
  const f = fs
    .readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('postgres:'))
    ?.split(':');
  return f ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
})();

describe('LocalDirStorage run as root in a folder another user owns', () => {
  let root: string;
  beforeEach(() => {
    root = makeTempDir('botctl-owner-');
  });
  afterEach(() => removeDir(root));

  it('gives the folders it creates and the objects it writes the owner of the folder they go into', async () => {
    if (!asRoot || !postgres) return; // only root can write as another user's storage; CI runs as root
    const home = path.join(root, 'cluster');
    fs.mkdirSync(home);
    fs.chownSync(home, postgres.uid, postgres.gid);
    const store = new LocalDirStorage(path.join(home, 'backups', 'wal', '0000000100000000'));
    await store.put('a.gz.age', Readable.from([Buffer.from('x')]));
    await store.writeSmall('a.meta.json', '{}');
    for (const p of [
      'backups',
      'backups/wal',
      'backups/wal/0000000100000000',
      'backups/wal/0000000100000000/a.gz.age',
      'backups/wal/0000000100000000/a.meta.json',
    ]) {
      const st = fs.statSync(path.join(home, p));
      expect([p, st.uid, st.gid]).toEqual([p, postgres.uid, postgres.gid]);
    }
  });

  it('leaves root-owned storage root-owned', async () => {
    if (!asRoot) return;
    const store = new LocalDirStorage(path.join(root, 'a', 'b'));
    await store.put('x', Readable.from([Buffer.from('x')]));
    expect(fs.statSync(path.join(root, 'a', 'b', 'x')).uid).toBe(0);
    expect(fs.statSync(path.join(root, 'a')).uid).toBe(0);
  });
});
