import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { type Config, formatBytes, IntegrityError, NoSpaceError, partialName } from '@botctl/core';
import { DUMP_PART_PREFIX, type Manifest, MANIFEST_MEMBER } from '../archive/format.js';
import { checkMemberName, checkWay, createExclusive, joinInside, makeWay } from '../archive/safe-path.js';

/** `restore/<backup name without extension>/` in the tenant folder. */
export function stagingDir(config: Config, archiveName: string): string {
  return path.join(config.baseDir, 'restore', archiveName.replace(/\.tar\.(gz|zst)\.enc$/, ''));
}

export interface FilePlan {
  member: string;
  /** As the manifest declares it: the member is refused if the archive holds more. */
  size: number;
  kind: 'config' | 'log' | 'other';
  /** Where it goes back to; null: it is kept in the staging folder for a person to look at. */
  destination: string | null;
  /** Why a member that was asked for is not put back. */
  not_placed?: string;
}

export interface FileWish {
  config: boolean;
  logs: boolean;
  /** Where the env file goes back to (recover knows it when the .env is gone); else the one in use. */
  envFile?: string | undefined;
}

/**
 * Which non-dump members go where. Config goes back only to a place this tenant's settings name
 * (its env file, a BACKUP_EXTRA_FILES entry): a path recorded in the manifest alone is never
 * enough to write somewhere. Logs go below BOT_LOG_PATH. Every way is checked for links now,
 * before anything is written.
 */
export function planFiles(config: Config, manifest: Manifest, wish: FileWish): FilePlan[] {
  const out: FilePlan[] = [];
  const known = new Map(manifest.config_files.map((c) => [c.member, c]));
  const extra = new Set(config.backup.extraFiles.map((f) => path.resolve(f)));
  for (const m of manifest.members) {
    if (m.name.startsWith(DUMP_PART_PREFIX) || m.name === MANIFEST_MEMBER) continue;
    checkMemberName(m.name);
    const base = { member: m.name, size: m.size };
    if (m.name.startsWith('config/')) {
      if (!wish.config) {
        out.push({ ...base, kind: 'config', destination: null });
        continue;
      }
      const info = known.get(m.name);
      let destination: string | undefined;
      if (info?.role === 'env') destination = wish.envFile ?? config.envFile ?? path.join(config.baseDir, '.env');
      else if (info?.role === 'extra' && extra.has(path.resolve(info.path))) destination = path.resolve(info.path);
      if (!destination) {
        out.push({
          ...base,
          kind: 'config',
          destination: null,
          not_placed: `${info?.path ?? m.name} is neither this tenant's env file nor one of its BACKUP_EXTRA_FILES: kept in the staging folder`,
        });
        continue;
      }
      checkWay(path.dirname(destination), destination);
      out.push({ ...base, kind: 'config', destination });
    } else if (m.name.startsWith('logs/')) {
      if (!wish.logs) {
        out.push({ ...base, kind: 'log', destination: null });
        continue;
      }
      const destination = joinInside(config.logPath, m.name.slice('logs/'.length));
      checkWay(config.logPath, destination);
      out.push({ ...base, kind: 'log', destination });
    } else {
      out.push({ ...base, kind: 'other', destination: null });
    }
  }
  return out;
}

async function freeBytes(dir: string): Promise<{ free: number; total: number; at: string } | undefined> {
  let p = path.resolve(dir);
  for (;;) {
    const st = await fsp.statfs(p).catch(() => undefined);
    if (st) return { free: st.bavail * st.bsize, total: st.blocks * st.bsize, at: p };
    const up = path.dirname(p);
    if (up === p) return undefined;
    p = up;
  }
}

/**
 * Refuses, before anything is written, a restore whose files would not fit: the sizes the
 * manifest declares, per filesystem, against its free space less a reserve (2 %, at least 16 MiB),
 * so a crafted archive cannot fill the disk (a "decompression bomb") and a full tenant folder is
 * found before the database is touched.
 */
export async function checkFileSpace(plans: FilePlan[], stagingRoot: string): Promise<void> {
  const byFs = new Map<string, { need: number; free: number; total: number; biggest: FilePlan; at: string }>();
  for (const p of plans) {
    const where = await freeBytes(path.dirname(p.destination ?? path.join(stagingRoot, p.member)));
    if (!where) continue;
    const st = await fsp.stat(where.at);
    const key = String(st.dev);
    const e = byFs.get(key) ?? { need: 0, free: where.free, total: where.total, biggest: p, at: where.at };
    e.need += p.size;
    if (p.size > e.biggest.size) e.biggest = p;
    byFs.set(key, e);
  }
  for (const e of byFs.values()) {
    const reserve = Math.max(16 * 1024 * 1024, e.total * 0.02);
    if (e.need > e.free - reserve) {
      throw new NoSpaceError(
        `restoring the config and log files needs ${formatBytes(e.need)} (${e.biggest.member} alone is ${formatBytes(e.biggest.size)}), but only ${formatBytes(Math.max(0, e.free))} is free there (${formatBytes(reserve)} kept in reserve); nothing was changed`,
        { hint: `free disk space in ${e.at}: the files go to restore/<backup>/ in the tenant folder (BOT_LOG_PATH with --with-logs)` },
      );
    }
  }
}

export interface Placement {
  member: string;
  destination: string;
  /** `placed`: written (the previous config file kept as `kept_as`); `merged`: the log had other lines, both kept; `present`: already there. */
  action: 'placed' | 'merged' | 'present';
  /** The existing config file was kept under this name. */
  kept_as: string | null;
}

export interface NotPlaced {
  member: string;
  destination: string;
  error: string;
  /** Where the file from the backup is now. */
  staged: string;
}

interface Staged {
  plan: FilePlan;
  file: string;
}

/** Every line of both texts once, in time order (log lines start with `[YYYY-MM-DD HH:MM:SS]`). */
function mergeLogLines(current: string, fromBackup: string): string {
  const lines = new Set<string>();
  for (const text of [fromBackup, current]) for (const l of text.split('\n')) if (l !== '') lines.add(l);
  const stamp = (l: string) => /^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\]/.exec(l)?.[1] ?? '';
  return `${[...lines]
    .map((l, i) => ({ l, i, s: stamp(l) }))
    .sort((a, b) => (a.s && b.s ? a.s.localeCompare(b.s) : 0) || a.i - b.i)
    .map((x) => x.l)
    .join('\n')}\n`;
}

/**
 * Writes the archive's config and log members as they stream, before the database restore is
 * committed: a member to put back goes into a temporary file beside its destination (same
 * filesystem, so placing it later is a rename that needs no space); the others into the
 * staging folder (0700), 0600 files. A member larger than the manifest says is refused as soon
 * as it is. `discard` removes everything written; `place` puts files where they belong.
 */
export class FileStager {
  readonly stagingRoot: string;
  readonly #plans: Map<string, FilePlan>;
  readonly #staged: Staged[] = [];
  readonly #written: string[] = [];

  constructor(stagingRoot: string, plans: FilePlan[]) {
    this.stagingRoot = stagingRoot;
    this.#plans = new Map(plans.map((p) => [p.member, p]));
  }

  /** Clears an old staging folder of the same backup and checks the way to it. */
  async prepare(baseDir: string): Promise<void> {
    if (checkWay(baseDir, this.stagingRoot, 'dir').exists) await fsp.rm(this.stagingRoot, { recursive: true, force: true });
  }

  get stagedAnything(): boolean {
    return this.#staged.some((s) => s.plan.destination === null);
  }

  /** Streams one member to its file; `feed` calls the sink for each chunk in order. */
  async stage(member: string, declaredSize: number, feed: (sink: (chunk: Buffer) => Promise<void>) => Promise<unknown>): Promise<string> {
    const plan = this.#plans.get(member);
    if (!plan) throw new IntegrityError(`the archive holds ${member}, which its manifest does not list`);
    if (declaredSize !== plan.size) {
      throw new IntegrityError(`${member} is ${formatBytes(declaredSize)} in the archive but ${formatBytes(plan.size)} in its manifest; refusing it`);
    }
    let file: string;
    let mode: number;
    if (plan.destination) {
      const dir = path.dirname(plan.destination);
      if (plan.kind === 'log') await makeWay(rootOf(plan), dir, 0o750);
      file = path.join(dir, partialName(path.basename(plan.destination)));
      mode = plan.kind === 'config' ? 0o600 : 0o640;
    } else {
      file = joinInside(this.stagingRoot, member);
      await makeWay(this.stagingRoot, path.dirname(file), 0o700);
      mode = 0o600;
    }
    const fh = await createExclusive(file, mode);
    this.#written.push(file);
    let bytes = 0;
    try {
      await feed(async (c) => {
        bytes += c.length;
        if (bytes > plan.size) throw new IntegrityError(`${member} holds more than the ${formatBytes(plan.size)} its manifest declares; refusing it`);
        await fh.write(c);
      });
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.#staged.push({ plan, file });
    return file;
  }

  /** Removes everything this stager wrote (the restore did not happen). */
  async discard(): Promise<void> {
    for (const f of this.#written) await fsp.rm(f, { force: true }).catch(() => undefined);
    await fsp.rm(this.stagingRoot, { recursive: true, force: true }).catch(() => undefined);
  }

  /**
   * Puts staged files in place, after the database is committed. A config file that exists is
   * first renamed to `<name>.bak-<stamp>`. A log that exists keeps every line: if it already holds
   * the backup's content it stays as it is, otherwise both are merged by time. Nothing here needs
   * new space except a merge; a failure is reported per file, with where the backup's copy is.
   */
  async place(stamp: string): Promise<{ placed: Placement[]; failed: NotPlaced[] }> {
    const placed: Placement[] = [];
    const failed: NotPlaced[] = [];
    for (const s of this.#staged) {
      const dest = s.plan.destination;
      if (!dest) continue;
      try {
        checkWay(s.plan.kind === 'log' ? rootOf(s.plan) : path.dirname(dest), dest);
        const exists = fs.existsSync(dest);
        if (s.plan.kind === 'config') {
          let keptAs: string | null = null;
          await ownLike(s.file, dest);
          if (exists) {
            keptAs = `${dest}.bak-${stamp}`;
            await fsp.rename(dest, keptAs);
          }
          await fsp.rename(s.file, dest);
          placed.push({ member: s.plan.member, destination: dest, action: 'placed', kept_as: keptAs });
          continue;
        }
        if (!exists) {
          await ownLike(s.file, dest);
          await fsp.rename(s.file, dest);
          placed.push({ member: s.plan.member, destination: dest, action: 'placed', kept_as: null });
          continue;
        }
        const [current, backup] = await Promise.all([fsp.readFile(dest), fsp.readFile(s.file)]);
        if (current.subarray(0, backup.length).equals(backup)) {
          // Already there, or the live file goes on from where the backup stopped.
          await fsp.rm(s.file, { force: true });
          placed.push({ member: s.plan.member, destination: dest, action: 'present', kept_as: null });
          continue;
        }
        const merged = mergeLogLines(current.toString('utf8'), backup.toString('utf8'));
        await fsp.writeFile(s.file, merged);
        await fsp.rename(s.file, dest);
        placed.push({ member: s.plan.member, destination: dest, action: 'merged', kept_as: null });
      } catch (error) {
        failed.push({ member: s.plan.member, destination: dest, error: (error as Error).message, staged: s.file });
      }
    }
    return { placed, failed };
  }
}

/**
 * Run as root, botctl gives a file it puts back the owner of the file it replaces, or of the
 * folder it goes into: a restore by root must not leave an .env the bot's user cannot read.
 */
async function ownLike(file: string, dest: string): Promise<void> {
  if (process.getuid?.() !== 0) return;
  const like = (await fsp.stat(dest).catch(() => undefined)) ?? (await fsp.stat(path.dirname(dest)));
  await fsp.chown(file, like.uid, like.gid);
}

/** The folder a log destination must stay inside: BOT_LOG_PATH, found from the member's name. */
function rootOf(plan: FilePlan): string {
  const rel = plan.member.slice('logs/'.length);
  let root = plan.destination!;
  for (let i = 0; i < rel.split('/').length; i++) root = path.dirname(root);
  return root;
}
