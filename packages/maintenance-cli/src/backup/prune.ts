import { formatBytes, isPartialName, RefusedError, UsageError, zonedDate, zonedParts } from '@botctl/core';
import type { BackupStoreDeps } from './deps.js';
import type { Storage } from '../storage/storage.js';
import { type BackupEntry, listBackups, type Location } from './catalog.js';
import { type BackupKind, isArchiveName, SIDECAR_SUFFIX, sidecarName } from './format.js';

export interface RetentionPolicy {
  /** The newest N backups. */
  keep: number;
  /** The newest backup of each of the last D days that have backups. */
  daily: number;
  /** ... of each of the last W ISO weeks. */
  weekly: number;
  /** ... of each of the last M months. */
  monthly: number;
  /** Pre-restore safety copies are kept this many days, outside the other rules. */
  preRestoreKeepDays: number;
}

export interface PruneCandidate {
  name: string;
  time: Date;
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
}

/** Refuses policies that could empty the backup folder. */
export function validatePolicy(p: RetentionPolicy): void {
  for (const [k, v] of Object.entries(p)) {
    if (!Number.isInteger(v) || v < 0) throw new UsageError(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be a whole number ≥ 0`);
  }
  if (p.keep === 0) {
    throw new RefusedError('--keep 0 would remove every backup; refused', { hint: 'keep at least the newest: --keep 1 or more' });
  }
  if (p.keep + p.daily + p.weekly + p.monthly === 0) {
    throw new RefusedError('this policy keeps nothing; refused', { hint: 'give --keep N (N ≥ 1)' });
  }
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

/**
 * Decides, for each backup, keep or remove and why, like `restic forget`. Pure: the same
 * backups, policy, clock and zone give the same plan. Calendar buckets (day, ISO week, month)
 * are taken in `timeZone`.
 *
 * Never removed: the newest backup, the newest backup whose last verification passed, a
 * pre-restore copy younger than its retention, and archives without a sidecar (they are not
 * ours to judge: a person should look at them).
 */
export function planPrune(backups: PruneCandidate[], policy: RetentionPolicy, now: Date, timeZone: string): PruneDecision[] {
  validatePolicy(policy);
  const sorted = [...backups].sort((a, b) => b.time.getTime() - a.time.getTime() || b.name.localeCompare(a.name));
  const reasons = new Map<string, string[]>(sorted.map((b) => [b.name, []]));
  const why = (b: PruneCandidate, r: string) => reasons.get(b.name)!.push(r);

  const complete = sorted.filter((b) => b.complete);
  const regular = complete.filter((b) => b.kind !== 'pre-restore');

  if (complete[0]) why(complete[0], 'newest backup');
  const newestVerified = complete.find((b) => b.verified);
  if (newestVerified) why(newestVerified, 'newest verified backup');

  regular.slice(0, policy.keep).forEach((b, i) => why(b, `last ${policy.keep} (#${i + 1})`));

  const bucket = (count: number, label: string, key: (b: PruneCandidate) => string) => {
    const seen = new Set<string>();
    for (const b of regular) {
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

  const retentionMs = policy.preRestoreKeepDays * 86_400_000;
  for (const b of complete.filter((x) => x.kind === 'pre-restore')) {
    if (now.getTime() - b.time.getTime() < retentionMs) why(b, `pre-restore copy younger than ${policy.preRestoreKeepDays} days`);
  }
  for (const b of sorted.filter((x) => !x.complete)) why(b, 'incomplete (no sidecar): left for a person to check');

  return sorted.map((b) => {
    const r = reasons.get(b.name)!;
    const keep = r.length > 0;
    return {
      name: b.name,
      time: b.time.toISOString(),
      kind: b.kind,
      size: b.size,
      action: keep ? 'keep' : 'remove',
      reasons: keep
        ? r
        : [b.kind === 'pre-restore' ? `pre-restore copy older than ${policy.preRestoreKeepDays} days` : 'matches no keep rule'],
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

export function candidatesFrom(entries: BackupEntry[], location: 'local' | 'offsite'): PruneCandidate[] {
  return entries
    .filter((e) => e.copies.some((c) => c.location === location))
    .map((e) => {
      const copy = e.copies.find((c) => c.location === location)!;
      return {
        name: e.name,
        time: e.time,
        kind: e.kind,
        complete: Boolean(copy.sidecar),
        size: copy.object.size,
        verified: lastProof(e)?.ok === true,
      };
    });
}

export interface Leftover {
  name: string;
  size: number;
  why: string;
}

/**
 * Leftovers of interrupted runs: temporary `*.partial-*` objects older than `olderThanMs` (a
 * younger one may belong to a run in progress), and sidecars whose archive is gone.
 */
export async function findLeftovers(storage: Storage, now: Date, olderThanMs = 86_400_000): Promise<Leftover[]> {
  const objects = await storage.list();
  const names = new Set(objects.map((o) => o.name));
  const out: Leftover[] = [];
  for (const o of objects) {
    if (isPartialName(o.name)) {
      if (now.getTime() - o.mtime.getTime() > olderThanMs) out.push({ name: o.name, size: o.size, why: 'temporary file of an interrupted run, older than a day' });
    } else if (o.name.endsWith(SIDECAR_SUFFIX)) {
      const archive = o.name.slice(0, -SIDECAR_SUFFIX.length);
      if (isArchiveName(archive) && !names.has(archive)) out.push({ name: o.name, size: o.size, why: 'sidecar whose archive is gone' });
    }
  }
  return out;
}

/** Removes what the plan says (archive first, then its sidecar), and the leftovers. */
export async function applyPrune(storage: Storage, decisions: PruneDecision[], leftovers: Leftover[]): Promise<number> {
  let freed = 0;
  for (const d of decisions) {
    if (d.action !== 'remove') continue;
    const sc = await storage.stat(sidecarName(d.name));
    // Archive first: if we stop in between, the sidecar left behind is itself a leftover we clean.
    await storage.remove(d.name);
    await storage.remove(sidecarName(d.name));
    freed += d.size + (sc?.size ?? 0);
  }
  for (const l of leftovers) {
    await storage.remove(l.name);
    freed += l.size;
  }
  return freed;
}

export type PruneDeps = BackupStoreDeps;

export interface PruneLocationResult {
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
    const entries = await listBackups(
      deps.offsite ? [{ location: 'local', storage: deps.local }, { location: 'offsite', storage: deps.offsite }] : stores,
      deps.config.timezone,
    );
    const locations: PruneLocationResult[] = [];
    for (const { location, storage } of stores) {
      const decisions = planPrune(candidatesFrom(entries, location), policy, now, deps.config.timezone);
      const leftovers = await findLeftovers(storage, now);
      const removed = decisions.filter((d) => d.action === 'remove');
      let freed = removed.reduce((a, d) => a + d.size, 0) + leftovers.reduce((a, l) => a + l.size, 0);
      if (!opts.dryRun) {
        deps.reporter.step(`Pruning ${location} (${storage.description}): removing ${removed.length}, keeping ${decisions.length - removed.length}`);
        freed = await applyPrune(storage, decisions, leftovers);
        deps.log.info(
          `Prune ${location}: ${removed.length} backup dihapus, ${decisions.length - removed.length} disimpan, ${leftovers.length} sisa dibersihkan, ${formatBytes(freed)} dibebaskan` +
            ` (kebijakan: keep ${policy.keep}, daily ${policy.daily}, weekly ${policy.weekly}, monthly ${policy.monthly})`,
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
    return { dry_run: opts.dryRun, policy, locations, freed_bytes: locations.reduce((a, l) => a + l.freed_bytes, 0) };
  } finally {
    lock.release();
  }
}
