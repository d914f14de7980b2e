import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { type Config, IntegrityError, RefusedError, writeFileAtomic } from '@botctl/core';
import type { Manifest } from './format.js';
import { unsafeMemberName } from './tar-reader.js';

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/** `restore/<backup name without extension>/` in the tenant folder. */
export function stagingDir(config: Config, archiveName: string): string {
  return path.join(config.baseDir, 'restore', archiveName.replace(/\.tar\.gz\.enc$/, ''));
}

/**
 * A path under `root` for an archive member, refusing anything that could land outside it.
 * Names were already checked while verifying; this is the second lock on the door.
 */
export function safeJoin(root: string, member: string): string {
  const why = unsafeMemberName(member);
  if (why) throw new IntegrityError(`refusing archive member ${JSON.stringify(member)}: ${why}`);
  const dest = path.resolve(root, member);
  if (!inside(dest, root)) throw new IntegrityError(`refusing archive member ${JSON.stringify(member)}: it would land outside ${root}`);
  return dest;
}

/**
 * Writes a member into the staging folder as it streams (fresh file, 0600: config holds secrets).
 * `feed` calls the sink for each chunk, in order.
 */
export async function stageMember(
  root: string,
  member: string,
  feed: (sink: (chunk: Buffer) => Promise<void>) => Promise<unknown>,
): Promise<string> {
  const dest = safeJoin(root, member);
  await fsp.mkdir(path.dirname(dest), { recursive: true, mode: 0o700 });
  const fh = await fsp.open(dest, 'wx', 0o600);
  try {
    await feed(async (c) => {
      await fh.write(c);
    });
    await fh.sync();
  } finally {
    await fh.close();
  }
  return dest;
}

export interface Placement {
  member: string;
  staged: string;
  destination: string;
  /** The existing file was kept under this name. */
  kept_as: string | null;
}

/**
 * Where config and log members go back to: config inside the tenant folder by their relative path,
 * config from outside it (`config/external/...`) to its original absolute path, logs under
 * BOT_LOG_PATH.
 */
export function destinationsFor(
  config: Config,
  manifest: Manifest,
  members: string[],
  what: { config: boolean; logs: boolean },
): { member: string; destination: string }[] {
  const out: { member: string; destination: string }[] = [];
  const known = new Map(manifest.config_files.map((c) => [c.member, c]));
  for (const member of members) {
    if (what.config && member.startsWith('config/')) {
      const info = known.get(member);
      if (member.startsWith('config/external/')) {
        if (!info) continue;
        out.push({ member, destination: info.path });
      } else {
        out.push({ member, destination: safeJoin(config.baseDir, member.slice('config/'.length)) });
      }
    } else if (what.logs && member.startsWith('logs/')) {
      out.push({ member, destination: safeJoin(config.logPath, member.slice('logs/'.length)) });
    }
  }
  return out;
}

/**
 * Puts staged files in place. An existing file is first renamed to `<name>.bak-<stamp>`; a
 * destination that is a symlink or not a regular file is refused (nothing is followed).
 */
export async function placeFiles(
  staged: Map<string, string>,
  targets: { member: string; destination: string }[],
  stamp: string,
): Promise<Placement[]> {
  for (const t of targets) {
    const st = fs.lstatSync(t.destination, { throwIfNoEntry: false });
    if (st && !st.isFile()) throw new RefusedError(`${t.destination} exists and is not a regular file; not replacing it`);
    if (!staged.has(t.member)) throw new IntegrityError(`${t.member} was not staged`);
  }
  const done: Placement[] = [];
  for (const t of targets) {
    const src = staged.get(t.member)!;
    await fsp.mkdir(path.dirname(t.destination), { recursive: true });
    let keptAs: string | null = null;
    if (fs.existsSync(t.destination)) {
      keptAs = `${t.destination}.bak-${stamp}`;
      await fsp.rename(t.destination, keptAs);
    }
    const mode = t.member.startsWith('config/') ? 0o600 : 0o644;
    await writeFileAtomic(t.destination, await fsp.readFile(src), mode);
    done.push({ member: t.member, staged: src, destination: t.destination, kept_as: keptAs });
  }
  return done;
}
