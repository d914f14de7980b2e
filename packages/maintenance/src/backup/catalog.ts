import fs from 'node:fs';
import path from 'node:path';
import { type Config, deriveStoreId, isPartialName, NotFoundError, zonedToInstant } from '@botctl/core';
import { LocalDirStorage } from '../storage/local-dir-storage.js';
import type { Storage, StoredObject } from '../storage/storage.js';
import { mapLimit } from '../util/async.js';
import {
  type BackupKind,
  type DrillRecord,
  isArchiveName,
  parseArchiveName,
  parseSidecar,
  type Sidecar,
  sidecarName,
  type VerificationRecord,
} from '../archive/format.js';
import { sidecarIsOurs, storeIdentity, type StoreIdentity } from '../archive/store-identity.js';

export type Location = 'local' | 'offsite';

interface Copy {
  location: Location;
  storage: Storage;
  object: StoredObject;
  sidecar: Sidecar | undefined;
  /** Found in the storage's legacy folder (the flat offsite root of earlier versions). */
  legacy: boolean;
}

/** A clock this far ahead of an archive's date is believed; beyond it, the archive is "dated in the future". */
const FUTURE_TOLERANCE_MS = 10 * 60_000;

/** What a listing is for: whose archives count, in which zone, and what "now" is. */
export interface CatalogScope {
  timeZone: string;
  identity: StoreIdentity;
  now: Date;
}

export function catalogScope(config: Config, now: Date): CatalogScope {
  return { timeZone: config.timezone, identity: storeIdentity(config), now };
}

/** An archive found where this tenant looks, that belongs to another store: never counted or touched. */
export interface ForeignArchive {
  name: string;
  location: Location;
  store_name: string | undefined;
  store_id: string | undefined;
}

export interface BackupEntry {
  name: string;
  /** When the backup started by the clock of the day (sidecar), else from the name, else the file time. */
  time: Date;
  /**
   * Real creation order (higher is newer): the sidecar's sequence, or for archives made before
   * sequences, the time. Lists are sorted by it, newest first.
   */
  order: number;
  /** Its time is later than now (beyond FUTURE_TOLERANCE_MS): the clock was ahead when it was made, or is behind now. */
  future: boolean;
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

/** Newest first in real order; the name breaks ties. */
function byRealOrder(a: { order: number; name: string }, b: { order: number; name: string }): number {
  return b.order - a.order || b.name.localeCompare(a.name);
}

/**
 * This store's archives in the given storages (and their legacy folders), newest first in real
 * order, merged by name: which copies exist, whether a sidecar completes it, and the latest
 * verification and drill recorded in any copy's sidecar. Archives without a sidecar in the
 * store's own folders are listed as incomplete, not hidden; an archive whose sidecar names
 * another store, or one without a sidecar in a shared legacy folder, is not this store's and is
 * left out (reported to `onForeign`).
 */
export async function listBackups(
  storages: { location: Location; storage: Storage }[],
  scope: CatalogScope,
  onForeign?: (a: ForeignArchive) => void,
): Promise<BackupEntry[]> {
  const byName = new Map<string, Copy[]>();
  const places = storages.flatMap(({ location, storage }) => [
    { location, storage, legacy: false },
    ...(storage.legacy ? [{ location, storage: storage.legacy, legacy: true }] : []),
  ]);
  for (const { location, storage, legacy } of places) {
    const objects = (await storage.list()).filter((o) => isArchiveName(o.name) && !isPartialName(o.name));
    // Thousands of sidecars are read a few dozen at a time, not one after another (an rclone
    // remote, where each read is a program, a few).
    const sidecars = await mapLimit(objects, storage instanceof LocalDirStorage ? 32 : 4, (o) => readSidecar(storage, o.name));
    for (const [i, object] of objects.entries()) {
      const sidecar = sidecars[i];
      // No sidecar, or one that names no store: ours in our own folder, nobody's in a shared one.
      const claimed = sidecar && (sidecar.store_id !== undefined || sidecar.store_name !== undefined);
      const ours = claimed ? sidecarIsOurs(sidecar, scope.identity) : !legacy;
      if (!ours) {
        onForeign?.({ name: object.name, location, store_name: sidecar?.store_name, store_id: sidecar?.store_id });
        continue;
      }
      const list = byName.get(object.name) ?? [];
      // The store's own folder first: it is where new copies go and what prune acts on first.
      if (legacy) list.push({ location, storage, object, sidecar, legacy });
      else list.unshift({ location, storage, object, sidecar, legacy });
      byName.set(object.name, list);
    }
  }
  const entries: BackupEntry[] = [];
  const nowMs = scope.now.getTime();
  for (const [name, copies] of byName) {
    const withSidecar = copies.find((c) => c.sidecar);
    const sc = withSidecar?.sidecar;
    const verifications = copies.flatMap((c) => c.sidecar?.verifications ?? []);
    const drills = copies.flatMap((c) => c.sidecar?.drills ?? []);
    const time = (sc && new Date(sc.created_at)) || nameTime(name, scope.timeZone) || copies[0]!.object.mtime;
    entries.push({
      name,
      time,
      order: typeof sc?.sequence === 'number' ? sc.sequence : time.getTime(),
      future: time.getTime() > nowMs + FUTURE_TOLERANCE_MS,
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
  return entries.sort(byRealOrder);
}

/**
 * The sequence for a backup made now: a hybrid logical clock. It follows the wall clock while
 * that moves forward, and stays above every sequence (or, for older archives, every time)
 * already stored, so a backup made after the clock was set back is still the newest.
 */
export function nextSequence(existing: { order: number }[], now: Date): number {
  return Math.max(now.getTime(), ...existing.map((e) => e.order + 1));
}

/** The storages a backup operation looks at: local, and offsite when configured. */
export function placesOf(
  deps: { local: Storage; offsite?: Storage | undefined },
  which: 'local' | 'offsite' | 'all' = 'all',
): { location: Location; storage: Storage }[] {
  const out: { location: Location; storage: Storage }[] = [];
  if (which !== 'offsite') out.push({ location: 'local', storage: deps.local });
  if (which !== 'local' && deps.offsite) out.push({ location: 'offsite', storage: deps.offsite });
  return out;
}

/**
 * The stores whose complete backups are in a folder, from their sidecars (store id, or for
 * older ones the id their store and database names give): to find a tenant's own backups when
 * its settings are lost.
 */
export async function storesIn(storage: Storage): Promise<{ id: string; name: string }[]> {
  const found = new Map<string, string>();
  for (const o of await storage.list().catch(() => [])) {
    if (!isArchiveName(o.name)) continue;
    const sc = await readSidecar(storage, o.name);
    if (!sc?.store_name) continue;
    found.set(sc.store_id ?? deriveStoreId(sc.store_name, sc.database?.name), sc.store_name);
  }
  return [...found].map(([id, name]) => ({ id, name }));
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
