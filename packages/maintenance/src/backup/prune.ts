import {
  classifyIoError,
  formatBytes,
  isoWithOffset,
  isPartialName,
  isRetentionDuration,
  PartialError,
  RefusedError,
  UsageError,
  humanTime,
  zonedDate,
  zonedParts,
} from '@botctl/core';
import { offsiteHint } from '../storage/offsite-storage.js';
import type { BackupStoreDeps } from './deps.js';
import type { Storage } from '../storage/storage.js';
import { type BackupEntry, catalogScope, listBackups, type Location, placesOf } from './catalog.js';
import { type BackupKind, isArchiveName, parseSidecar, SIDECAR_SUFFIX, sidecarName } from '../archive/format.js';
import { sidecarIsOurs, type StoreIdentity } from '../archive/store-identity.js';

export interface RetentionPolicy {
  /** The newest N backups. */
  keep: number;
  /** The newest backup of each of the last D days that have backups. */
  daily: number;
  /** ... of each of the last W ISO weeks. */
  weekly: number;
  /** ... of each of the last M months. */
  monthly: number;
  /** ... of each of the last Y years. */
  yearly?: number;
  /** Every backup within this duration (`7d`, `1y2m`) of the newest one (restic's --keep-within). */
  within?: string | undefined;
  /** Pre-restore safety copies are kept this many days, outside the other rules. */
  preRestoreKeepDays: number;
}

export interface PruneCandidate {
  name: string;
  time: Date;
  /** Real creation order, higher is newer (BackupEntry.order); defaults to the time. */
  order?: number;
  /** Dated later than now: the clock was wrong when it was made (BackupEntry.future). */
  future?: boolean;
  kind: BackupKind;
  complete: boolean;
  size: number;
  /** Its latest verification passed. */
  verified: boolean;
}

export interface PruneDecision {
  name: string;
  time: string;
  kind: BackupKind;
  size: number;
  action: 'keep' | 'remove';
  /** Why: every rule that keeps it, or why none does. */
  reasons: string[];
  /** Dated in the future: calendar rules ignored it, it is ordered by when it was really made. */
  future: boolean;
}

/** Refuses policies that could empty the backup folder. */
function validatePolicy(p: RetentionPolicy): void {
  for (const [k, v] of Object.entries(p)) {
    if (k === 'within') continue;
    if (!Number.isInteger(v) || v < 0) throw new UsageError(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be a whole number ≥ 0`);
  }
  if (p.within !== undefined && !isRetentionDuration(p.within)) {
    throw new UsageError(`--keep-within ${JSON.stringify(p.within)} is not a duration`, {
      hint: 'e.g. 7d, 2w, 6m, 1y2m3d4h (y years, m months, w weeks, d days, h hours)',
    });
  }
  if (p.keep === 0) {
    throw new RefusedError('--keep 0 would remove every backup; refused', { hint: 'keep at least the newest: --keep 1 or more' });
  }
  if (p.keep + p.daily + p.weekly + p.monthly + (p.yearly ?? 0) === 0 && p.within === undefined) {
    throw new RefusedError('this policy keeps nothing; refused', { hint: 'give --keep N (N ≥ 1)' });
  }
}

/** `keep 7, daily 7, weekly 4, monthly 6, yearly 0, within 30d` */
export function describePolicy(p: RetentionPolicy): string {
  return `keep ${p.keep}, daily ${p.daily}, weekly ${p.weekly}, monthly ${p.monthly}, yearly ${p.yearly ?? 0}${p.within ? `, within ${p.within}` : ''}`;
}

/** ISO 8601 week (`2026-W48`) of a calendar date. */
export function isoWeek(year: number, month: number, day: number): string {
  const d = new Date(Date.UTC(year, month - 1, day));
  const dow = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - dow);
  const yearStart = Date.UTC(d.getUTCFullYear(), 0, 1);
  const week = Math.ceil(((d.getTime() - yearStart) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/** The moment `within` (`1y2m3d4h`, `2w`) before `from`, by the calendar (months and years) in UTC. */
export function subtractDuration(from: Date, within: string): Date {
  const m = /^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?$/.exec(within);
  if (!m) throw new UsageError(`--keep-within ${JSON.stringify(within)} is not a duration`);
  const [, y = '0', mo = '0', w = '0', d = '0', h = '0'] = m;
  const t = new Date(from.getTime());
  t.setUTCFullYear(t.getUTCFullYear() - Number(y), t.getUTCMonth() - Number(mo));
  return new Date(t.getTime() - (Number(w) * 7 + Number(d)) * 86_400_000 - Number(h) * 3_600_000);
}

/**
 * Decides, for each backup, keep or remove and why, like `restic forget`. Pure: the same
 * backups, policy, clock and zone give the same plan. Calendar buckets (day, ISO week, month,
 * year) are taken in `timeZone`.
 *
 * Backups are taken newest first in real creation order (`order`), not by the dates in their
 * names: a clock that ran ahead for a while must not make its archives look newer than the ones
 * made after it was set right. Archives dated in the future get no calendar or `within` rule
 * (their dates say nothing); they are kept only by "the last N" in real order.
 *
 * Never removed: the newest backup (real order), the newest backup whose last verification
 * passed, a pre-restore copy younger than its retention (or dated in the future), and archives
 * without a sidecar (they are not ours to judge: a person should look at them).
 */
export function planPrune(backups: PruneCandidate[], policy: RetentionPolicy, now: Date, timeZone: string): PruneDecision[] {
  validatePolicy(policy);
  const orderOf = (b: PruneCandidate) => b.order ?? b.time.getTime();
  const sorted = [...backups].sort((a, b) => orderOf(b) - orderOf(a) || b.name.localeCompare(a.name));
  const reasons = new Map<string, string[]>(sorted.map((b) => [b.name, []]));
  const why = (b: PruneCandidate, r: string) => reasons.get(b.name)!.push(r);

  const complete = sorted.filter((b) => b.complete);
  const regular = complete.filter((b) => b.kind !== 'pre-restore');
  const dated = regular.filter((b) => !b.future);

  if (complete[0]) why(complete[0], 'newest backup');
  const newestVerified = complete.find((b) => b.verified);
  if (newestVerified) why(newestVerified, 'newest verified backup');

  for (const [i, b] of regular.slice(0, policy.keep).entries()) why(b, `last ${policy.keep} (#${i + 1})`);

  const bucket = (count: number, label: string, key: (b: PruneCandidate) => string) => {
    const seen = new Set<string>();
    for (const b of dated) {
      if (seen.size >= count) break;
      const k = key(b);
      if (seen.has(k)) continue;
      seen.add(k);
      why(b, `${label} ${k}`);
    }
  };
  bucket(policy.daily, 'daily', (b) => zonedDate(b.time, timeZone));
  bucket(policy.weekly, 'weekly', (b) => {
    const p = zonedParts(b.time, timeZone);
    return isoWeek(p.year, p.month, p.day);
  });
  bucket(policy.monthly, 'monthly', (b) => zonedDate(b.time, timeZone).slice(0, 7));
  bucket(policy.yearly ?? 0, 'yearly', (b) => zonedDate(b.time, timeZone).slice(0, 4));

  if (policy.within !== undefined && dated[0]) {
    const ref = dated[0].time;
    const since = subtractDuration(ref, policy.within);
    for (const b of dated) if (b.time.getTime() >= since.getTime()) why(b, `within ${policy.within} of the newest (${humanTime(ref, timeZone)})`);
  }

  const retentionMs = policy.preRestoreKeepDays * 86_400_000;
  for (const b of complete.filter((x) => x.kind === 'pre-restore')) {
    if (b.future) why(b, 'pre-restore copy dated in the future (its age cannot be told): kept');
    else if (now.getTime() - b.time.getTime() < retentionMs) why(b, `pre-restore copy younger than ${policy.preRestoreKeepDays} days`);
  }
  for (const b of sorted.filter((x) => !x.complete)) why(b, 'incomplete (no sidecar): left for a person to check');

  return sorted.map((b) => {
    const r = reasons.get(b.name)!;
    const keep = r.length > 0;
    const none = b.future
      ? `dated in the future (${humanTime(b.time, timeZone)}, after this clock's ${humanTime(now, timeZone)}): no calendar rule applies, no other rule keeps it`
      : b.kind === 'pre-restore'
        ? `pre-restore copy older than ${policy.preRestoreKeepDays} days`
        : 'matches no keep rule';
    return {
      name: b.name,
      time: isoWithOffset(b.time, timeZone),
      kind: b.kind,
      size: b.size,
      action: keep ? 'keep' : 'remove',
      reasons: keep ? r : [none],
      future: Boolean(b.future),
    };
  });
}

/** The latest proof about a backup: a verification or a drill, whichever is newer. */
function lastProof(e: BackupEntry): { ok: boolean } | undefined {
  const v = e.last_verification;
  const d = e.last_drill;
  if (!v) return d;
  if (!d) return v;
  return Date.parse(d.at) > Date.parse(v.at) ? d : v;
}

function candidatesFrom(entries: BackupEntry[], location: 'local' | 'offsite'): PruneCandidate[] {
  return entries
    .filter((e) => e.copies.some((c) => c.location === location))
    .map((e) => {
      const copy = e.copies.find((c) => c.location === location)!;
      return {
        name: e.name,
        time: e.time,
        order: e.order,
        future: e.future,
        kind: e.kind,
        complete: Boolean(copy.sidecar),
        size: copy.object.size,
        verified: lastProof(e)?.ok === true,
      };
    });
}

interface Leftover {
  name: string;
  size: number;
  why: string;
}

/**
 * Leftovers of interrupted runs in one of the store's own folders: temporary `*.partial-*`
 * objects older than `olderThanMs` (a younger one may belong to a run in progress), and this
 * store's sidecars whose archive is gone. Legacy (shared) folders are never cleaned.
 */
async function findLeftovers(storage: Storage, now: Date, identity: StoreIdentity, olderThanMs = 86_400_000): Promise<Leftover[]> {
  const objects = await storage.list();
  const names = new Set(objects.map((o) => o.name));
  const out: Leftover[] = [];
  for (const o of objects) {
    if (isPartialName(o.name)) {
      if (now.getTime() - o.mtime.getTime() > olderThanMs)
        out.push({ name: o.name, size: o.size, why: 'temporary file of an interrupted run, older than a day' });
    } else if (o.name.endsWith(SIDECAR_SUFFIX)) {
      const archive = o.name.slice(0, -SIDECAR_SUFFIX.length);
      if (!isArchiveName(archive) || names.has(archive)) continue;
      const sc = parseSidecar((await storage.readSmall(o.name).catch(() => undefined))?.toString('utf8') ?? '');
      if (!sc || sidecarIsOurs(sc, identity)) out.push({ name: o.name, size: o.size, why: 'sidecar whose archive is gone' });
    }
  }
  return out;
}

/** One stored copy the plan removes. */
interface PruneTarget {
  storage: Storage;
  name: string;
  size: number;
}

/**
 * Removes what the plan says (each archive first, then its sidecar, in every folder of the
 * location that holds a copy), and the leftovers.
 */
async function applyPrune(targets: PruneTarget[], storage: Storage, leftovers: Leftover[]): Promise<number> {
  let freed = 0;
  // Per folder, in order: each archive, then its sidecar (if we stop in between, the sidecar left
  // behind is itself a leftover we clean), then the leftovers; made durable together (one
  // directory fsync per folder, not two per archive: a prune of thousands takes seconds less).
  const byStorage = new Map<Storage, string[][]>();
  const groups = (s: Storage) => byStorage.get(s) ?? (byStorage.set(s, []).get(s) as string[][]);
  for (const t of targets) {
    const sc = await t.storage.stat(sidecarName(t.name));
    groups(t.storage).push([t.name, sidecarName(t.name)]);
    freed += t.size + (sc?.size ?? 0);
  }
  for (const l of leftovers) {
    groups(storage).push([l.name]);
    freed += l.size;
  }
  for (const [s, list] of byStorage) {
    if (s.removeAll) await s.removeAll(list);
    else for (const name of list.flat()) await s.remove(name);
  }
  return freed;
}

export type PruneDeps = BackupStoreDeps;

interface PruneLocationResult {
  location: Location;
  path: string;
  decisions: PruneDecision[];
  leftovers: Leftover[];
  kept: number;
  removed: number;
  freed_bytes: number;
}

export interface PruneResult {
  dry_run: boolean;
  policy: RetentionPolicy;
  locations: PruneLocationResult[];
  freed_bytes: number;
}

/** `backup prune`: plan per location (local, and offsite with --offsite), then apply unless dry run. */
export async function pruneBackups(deps: PruneDeps, policy: RetentionPolicy, opts: { offsite: boolean; dryRun: boolean }): Promise<PruneResult> {
  validatePolicy(policy);
  const lock = deps.lock(opts.dryRun ? 'backup prune --dry-run' : 'backup prune');
  try {
    const now = deps.clock.now();
    const stores: { location: Location; storage: Storage }[] = [{ location: 'local', storage: deps.local }];
    if (opts.offsite) {
      if (!deps.offsite) throw new UsageError('--offsite: no offsite destination is configured (BACKUP_OFFSITE_REMOTE or BACKUP_OFFSITE_DIR)');
      stores.push({ location: 'offsite', storage: deps.offsite });
    }
    // One listing of both places: verification recorded on either copy counts for the backup.
    const scope = catalogScope(deps.config, now);
    // One listing of both places (verification recorded on either copy counts); an offsite that
    // cannot be read is not pruned, and says so, but never stops the local prune.
    let offsiteProblem: unknown;
    let entries: BackupEntry[];
    try {
      entries = await listBackups(placesOf(deps), scope);
    } catch (error) {
      if (!deps.offsite) throw classifyIoError(error, `the backup folder ${deps.local.description}`);
      offsiteProblem = error;
      entries = await listBackups(placesOf(deps, 'local'), scope).catch((e: unknown) => {
        throw classifyIoError(e, `the backup folder ${deps.local.description}`);
      });
    }
    const byName = new Map(entries.map((e) => [e.name, e]));
    const locations: PruneLocationResult[] = [];
    for (const { location, storage } of stores) {
      if (location === 'offsite' && offsiteProblem) continue;
      const decisions = planPrune(candidatesFrom(entries, location), policy, now, deps.config.timezone);
      const leftovers = await findLeftovers(storage, now, scope.identity);
      const removed = decisions.filter((d) => d.action === 'remove');
      const targets = removed.flatMap((d) =>
        byName
          .get(d.name)!
          .copies.filter((c) => c.location === location)
          .map((c) => ({ storage: c.storage, name: d.name, size: c.object.size })),
      );
      let freed = targets.reduce((a, t) => a + t.size, 0) + leftovers.reduce((a, l) => a + l.size, 0);
      if (!opts.dryRun) {
        deps.reporter.step(`Pruning ${location} (${storage.description}): removing ${removed.length}, keeping ${decisions.length - removed.length}`);
        try {
          freed = await applyPrune(targets, storage, leftovers);
        } catch (error) {
          if (location === 'offsite') {
            offsiteProblem = error;
            continue;
          }
          throw classifyIoError(error, `the backup folder ${storage.description}`);
        }
        deps.log.info(
          `Prune ${location}: ${removed.length} backup dihapus, ${decisions.length - removed.length} disimpan, ${leftovers.length} sisa dibersihkan, ${formatBytes(freed)} dibebaskan` +
            ` (kebijakan: ${describePolicy(policy)})`,
        );
      }
      locations.push({
        location,
        path: storage.description,
        decisions,
        leftovers,
        kept: decisions.length - removed.length,
        removed: removed.length,
        freed_bytes: freed,
      });
    }
    const result: PruneResult = { dry_run: opts.dryRun, policy, locations, freed_bytes: locations.reduce((a, l) => a + l.freed_bytes, 0) };
    if (offsiteProblem !== undefined) {
      const why = (offsiteProblem as Error).message;
      deps.log.error(`Prune offsite gagal: ${why}`);
      throw new PartialError(`offsite was not pruned: ${why}; the local folder was${opts.dryRun ? ' planned' : ' pruned'}`, {
        hint: offsiteHint(deps.config),
        details: { result },
      });
    }
    return result;
  } finally {
    lock.release();
  }
}
