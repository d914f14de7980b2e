import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { LocalDirStorage } from './local-dir-storage.js';
import { mountProblem } from './mount-guard.js';

describe('BACKUP_OFFSITE_REQUIRE_MOUNT guard', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mount-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('a folder on the same filesystem as the local backups is not a mount, even when it does not exist yet', async () => {
    const local = path.join(dir, 'backups', 'local');
    fs.mkdirSync(local, { recursive: true });
    // /mnt/nas/shop1 after the NFS mount dropped: the folder is gone, its parent is on the local disk.
    const problem = await mountProblem(path.join(dir, 'mnt', 'nas', 'shop1'), local);
    expect(problem).toMatch(
      /mnt\/nas\/shop1 is not a mount point: it is on (the root filesystem|the same filesystem as the local backups in .*backups\/local) \(BACKUP_OFFSITE_REQUIRE_MOUNT=true\)/,
    );
  });

  it('the guarded storage refuses every operation and creates nothing', async () => {
    const local = path.join(dir, 'local');
    const offsite = path.join(dir, 'offsite');
    const s = new LocalDirStorage(offsite, 'offsite', { requireMountApartFrom: local });
    const source = Readable.from([Buffer.from('x')]);
    await expect(s.put('a.enc', source)).rejects.toMatchObject({ code: 'NOT_MOUNTED' });
    expect(source.destroyed).toBe(true);
    await expect(s.writeSmall('a.meta.json', '{}')).rejects.toMatchObject({ code: 'NOT_MOUNTED' });
    await expect(s.list()).rejects.toMatchObject({ code: 'NOT_MOUNTED' });
    await expect(s.sub('logs').list()).rejects.toMatchObject({ code: 'NOT_MOUNTED' });
    await expect(s.remove('a.enc')).rejects.toMatchObject({ code: 'NOT_MOUNTED' });
    expect(fs.existsSync(offsite)).toBe(false);
    // Without the setting the same folder is fine.
    await new LocalDirStorage(offsite, 'offsite').writeSmall('a.meta.json', '{}');
    expect(fs.readdirSync(offsite)).toEqual(['a.meta.json']);
  });
});
