import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError, RefusedError } from '@botctl/core';
import { unsafeMemberName } from './tar-reader.js';

/**
 * The one gate every path taken from an archive, a manifest or a sidecar goes through before
 * botctl writes there. A name is relative, without `..`, backslashes or NUL; below `root`, no
 * existing component may be a symlink or anything but a folder, and the file itself, if it
 * exists, must be a regular file. Files are then created with O_EXCL|O_NOFOLLOW, so nothing is
 * ever written through a symlink, even one planted after the check.
 */
export function checkMemberName(member: string): void {
  const why = unsafeMemberName(member);
  if (why) throw new IntegrityError(`refusing archive member ${JSON.stringify(member)}: ${why}`);
}

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** `root/rel` for a relative name, refusing anything that could land outside `root`. */
export function joinInside(root: string, rel: string): string {
  checkMemberName(rel);
  const dest = path.resolve(root, rel);
  if (!inside(dest, root)) throw new IntegrityError(`refusing ${JSON.stringify(rel)}: it would land outside ${root}`);
  return dest;
}

/**
 * Checks the way from `root` down to `dest` (a path inside it): every existing folder below
 * `root` is a real folder (no symlink), and `dest`, when it exists, is a regular file (or, for
 * `kind: 'dir'`, a real folder). `root` itself may be a symlink (an operator's choice, like
 * logs -> /var/log/shop).
 */
export function checkWay(root: string, dest: string, kind: 'file' | 'dir' = 'file'): { exists: boolean } {
  if (!inside(dest, root)) throw new IntegrityError(`refusing ${dest}: it is not inside ${root}`);
  const parts = path.relative(root, dest).split(path.sep);
  let p = root;
  for (let i = 0; i < parts.length; i++) {
    p = path.join(p, parts[i]!);
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) return { exists: false };
    const last = i === parts.length - 1;
    if (st.isSymbolicLink()) {
      throw new RefusedError(`${p} is a symbolic link; botctl does not write through links (it would land in ${safeReadlink(p)})`, {
        hint: 'replace the link with a real folder or file, or restore into another place',
      });
    }
    if (!last && !st.isDirectory()) throw new RefusedError(`${p} exists and is not a folder; not writing below it`);
    if (last && kind === 'file' && !st.isFile()) throw new RefusedError(`${dest} exists and is not a regular file; not replacing it`);
    if (last && kind === 'dir' && !st.isDirectory()) throw new RefusedError(`${dest} exists and is not a folder`);
  }
  return { exists: true };
}

function safeReadlink(p: string): string {
  try {
    return fs.readlinkSync(p);
  } catch {
    return '?';
  }
}

/** Creates the folders from `root` down to `dir` (inside it or equal), each checked not to be a link. */
export async function makeWay(root: string, dir: string, mode: number): Promise<void> {
  await fsp.mkdir(root, { recursive: true, mode });
  if (path.resolve(dir) === path.resolve(root)) return;
  const parts = path.relative(root, dir).split(path.sep);
  let p = root;
  for (const part of parts) {
    p = path.join(p, part);
    try {
      await fsp.mkdir(p, { mode });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const st = await fsp.lstat(p);
    if (st.isSymbolicLink() || !st.isDirectory()) throw new RefusedError(`${p} is not a real folder; not writing below it`);
  }
}

const NO_FOLLOW = fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW;

/** A new file that did not exist (no symlink followed, nothing replaced). */
export function createExclusive(file: string, mode: number): Promise<fsp.FileHandle> {
  return fsp.open(file, NO_FOLLOW, mode);
}
