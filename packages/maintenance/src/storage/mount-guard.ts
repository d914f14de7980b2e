import fsp from 'node:fs/promises';
import path from 'node:path';

/** The folder itself, or the nearest folder above it that exists (a dropped mount leaves no folder). */
async function nearestExisting(dir: string): Promise<{ path: string; dev: number }> {
  let p = path.resolve(dir);
  for (;;) {
    const st = await fsp.stat(p).catch(() => undefined);
    if (st) return { path: p, dev: st.dev };
    const up = path.dirname(p);
    if (up === p) throw new Error(`cannot stat any folder above ${dir}`);
    p = up;
  }
}

/**
 * Why `dir` is not a filesystem mounted apart from this machine's own disk, or undefined when it
 * is. The classic failure this catches: the NFS/SFTP mount dropped, the mount point is an empty
 * folder on the root disk, and the "offsite" copies quietly fill the disk they were meant to
 * survive. A folder counts as mounted when its filesystem (st_dev) is neither the root
 * filesystem's nor the local backup folder's.
 */
export async function mountProblem(dir: string, localDir: string): Promise<string | undefined> {
  const here = await nearestExisting(dir);
  const root = await fsp.stat('/');
  if (here.dev === root.dev) {
    return `${dir} is not a mount point: it is on the root filesystem (BACKUP_OFFSITE_REQUIRE_MOUNT=true); the offsite mount is missing or dropped`;
  }
  const local = await nearestExisting(localDir);
  if (here.dev === local.dev) {
    return `${dir} is not a mount point: it is on the same filesystem as the local backups in ${localDir} (BACKUP_OFFSITE_REQUIRE_MOUNT=true)`;
  }
  return undefined;
}
