import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';

/** Marker in temporary names; anything carrying it is unfinished work and never a result. */
export const PARTIAL_MARKER = '.partial-';

export function partialName(finalName: string): string {
  return `${finalName}${PARTIAL_MARKER}${randomBytes(6).toString('hex')}`;
}

export function isPartialName(name: string): boolean {
  return name.includes(PARTIAL_MARKER);
}

/**
 * A write stream on a new file (`wx`) that exists once this resolves. `fs.createWriteStream(path)`
 * opens the file later, on its own; when the data source fails first, a cleanup that removes the
 * temp file can run before the open and leave it behind. Open first, then stream.
 */
export async function openExclusiveWriteStream(file: string, mode = 0o600, options: { highWaterMark?: number } = {}): Promise<fs.WriteStream> {
  const fh = await fsp.open(file, 'wx', mode);
  // flush: fsync before close, so the data is on disk before a rename makes it visible.
  return fs.createWriteStream(file, { fd: fh, flush: true, ...options });
}

/** fsync a directory so a rename or unlink inside it survives a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (error) {
    // Some filesystems (certain FUSE/NFS mounts) refuse fsync on directories; the rename itself
    // is still atomic there, so that refusal is not worth failing a backup over.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'ENOTSUP' && code !== 'EPERM') throw error;
  } finally {
    await fh?.close();
  }
}

/**
 * Writes `data` so that `file` is either its old content or the complete new one, never a
 * partial file: temp name in the same directory, fsync, rename, fsync the directory.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, partialName(path.basename(file)));
  try {
    const fh = await fsp.open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (error) {
    await fsp.rm(tmp, { force: true });
    throw error;
  }
  await fsyncDir(dir);
}

export function writeFileAtomicSync(file: string, data: string | Uint8Array, mode = 0o644): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, partialName(path.basename(file)));
  try {
    const fd = fs.openSync(tmp, 'wx', mode);
    try {
      fs.writeFileSync(fd, data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (error) {
    fs.rmSync(tmp, { force: true });
    throw error;
  }
}
