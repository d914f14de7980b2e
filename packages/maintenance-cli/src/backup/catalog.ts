import fs from 'node:fs';
import path from 'node:path';
import { isPartialName, NotFoundError, zonedToInstant } from '@botctl/core';
import { LocalDirStorage } from '../storage/local-dir-storage.js';
import type { Storage, StoredObject } from '../storage/storage.js';
import {
  type BackupKind,
  type DrillRecord,
  isArchiveName,
  parseArchiveName,
  parseSidecar,
  type Sidecar,
  SIDECAR_SUFFIX,
  sidecarName,
  type VerificationRecord,
} from './format.js';

export type Location = 'local' | 'offsite';

export interface Copy {
  location: Location;
  storage: Storage;
  object: StoredObject;
  sidecar: Sidecar | undefined;
}

export interface BackupEntry {
  name: string;
  /** When the backup started (sidecar), else from the name, else the file time. */
  time: Date;
  created_at: string | undefined;
  kind: BackupKind;
  size: number;
  sha256: string | undefined;
  store_name: string | undefined;
  /** A copy with a sidecar exists. */
  complete: boolean;
  copies: Copy[];
  last_verification: VerificationRecord | undefined;
  last_good_verification: VerificationRecord | undefined;
  last_drill: DrillRecord | undefined;
}

async function readSidecar(storage: Storage, name: string): Promise<Sidecar | undefined> {
  const buf = await storage.readSmall(sidecarName(name)).catch(() => undefined);
  return buf ? parseSidecar(buf.toString('utf8')) : undefined;
}

function nameTime(name: string, timeZone: string): Date | undefined {
  const p = parseArchiveName(name);
  if (!p) return undefined;
  const s = p.stamp;
  return zonedToInstant(
    { year: +s.slice(0, 4), month: +s.slice(4, 6), day: +s.slice(6, 8), hour: +s.slice(9, 11), minute: +s.slice(11, 13), second: +s.slice(13, 15) },
    timeZone,
  );
}

const latestBy = <T extends { at: string }>(xs: T[]): T | undefined =>
  xs.reduce<T | undefined>((best, x) => (!best || Date.parse(x.at) > Date.parse(best.at) ? x : best), undefined);

/**
 * Every archive in the given storages, newest first, merged by name: which copies exist, whether
 * a sidecar completes it, and the latest verification and drill recorded in any copy's sidecar.
 * Archives without a sidecar are listed as incomplete, not hidden.
 */
export async function listBackups(storages: { location: Location; storage: Storage }[], timeZone: string): Promise<BackupEntry[]> {
  const byName = new Map<string, Copy[]>();
  for (const { location, storage } of storages) {
    const objects = await storage.list();
    for (const object of objects) {
      if (!isArchiveName(object.name) || isPartialName(object.name)) continue;
      const sidecar = await readSidecar(storage, object.name);
      const list = byName.get(object.name) ?? [];
      list.push({ location, storage, object, sidecar });
      byName.set(object.name, list);
    }
  }
  const entries: BackupEntry[] = [];
  for (const [name, copies] of byName) {
    const withSidecar = copies.find((c) => c.sidecar);
    const sc = withSidecar?.sidecar;
    const verifications = copies.flatMap((c) => c.sidecar?.verifications ?? []);
    const drills = copies.flatMap((c) => c.sidecar?.drills ?? []);
    const time = (sc && new Date(sc.created_at)) || nameTime(name, timeZone) || copies[0]!.object.mtime;
    entries.push({
      name,
      time,
      created_at: sc?.created_at,
      kind: sc?.kind ?? (parseArchiveName(name)?.preRestore ? 'pre-restore' : 'manual'),
      size: sc?.size ?? copies[0]!.object.size,
      sha256: sc?.sha256,
      store_name: sc?.store_name,
      complete: Boolean(sc),
      copies,
      last_verification: latestBy(verifications),
      last_good_verification: latestBy(verifications.filter((v) => v.ok)),
      last_drill: latestBy(drills),
    });
  }
  return entries.sort((a, b) => b.time.getTime() - a.time.getTime() || b.name.localeCompare(a.name));
}

/** Sidecars whose archive is gone: leftovers worth reporting. */
export async function orphanSidecars(storage: Storage): Promise<string[]> {
  const objects = await storage.list();
  const names = new Set(objects.map((o) => o.name));
  return objects
    .filter((o) => o.name.endsWith(SIDECAR_SUFFIX) && !isPartialName(o.name))
    .map((o) => o.name.slice(0, -SIDECAR_SUFFIX.length))
    .filter((archive) => isArchiveName(archive) && !names.has(archive));
}

export interface ResolvedArchive {
  storage: Storage;
  name: string;
  location: Location;
}

/**
 * `<file>` may name an archive in the local backup folder (`backup-…tar.gz.enc`) or be a path to
 * any file (which is then checked where it lies).
 */
export function resolveArchiveArg(arg: string, local: Storage, cwd: string): ResolvedArchive {
  const looksLikePath = arg.includes('/') || arg.includes(path.sep);
  if (!looksLikePath) return { storage: local, name: arg, location: 'local' };
  const abs = path.resolve(cwd, arg);
  if (!fs.existsSync(abs)) throw new NotFoundError(`${arg} does not exist`, { hint: 'see `botctl backup list` for the backups there are' });
  const dir = path.dirname(abs);
  if (local instanceof LocalDirStorage && path.resolve(local.dir) === dir) return { storage: local, name: path.basename(abs), location: 'local' };
  return { storage: new LocalDirStorage(dir, 'local'), name: path.basename(abs), location: 'local' };
}
