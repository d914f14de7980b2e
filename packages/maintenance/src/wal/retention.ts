import type { Clock, Config } from '@botctl/core';
import { type PruneDecision, planPrune, type RetentionPolicy } from '../backup/prune.js';
import type { Storage } from '../storage/storage.js';
import { listBaseBackups } from './base-backup.js';
import { type ClusterHold, clusterLock, liveHolds } from './holds.js';
import { OBJECT, type WalStores } from './wal-archive.js';

// Retention of a cluster's point-in-time history: base backups by the same policy as archives
// (`planPrune`: the newest is always kept), then WAL back to the first file the oldest kept base
// backup needs, never one after it. History files (timelines) are tiny and always kept.

interface WalPrunePlan {
  /** The first WAL file a kept base backup needs; null: nothing is removed (no base backup, or one whose start is unknown). */
  keep_from: string | null;
  remove: number;
  remove_bytes: number;
  keep: number;
}

interface ClusterPruneLocation {
  location: 'local' | 'offsite';
  base_backups: PruneDecision[];
  wal: WalPrunePlan;
}

export interface ClusterPruneResult {
  dry_run: boolean;
  /** Point-in-time restores running now: their base backups and WAL are kept whatever the policy says. */
  holds: ClusterHold[];
  locations: ClusterPruneLocation[];
}

export interface ClusterPruneDeps {
  config: Config;
  clock: Clock;
  base: { local: Storage; offsite?: Storage | undefined };
  wal: WalStores;
}

/** The 24 hex digits a WAL object's name starts with (segments, .partial, .backup); undefined for history files. */
function segmentOf(object: string): string | undefined {
  const m = OBJECT.exec(object);
  const name = m?.[1];
  return name && /^[0-9A-F]{24}/.test(name) ? name.slice(0, 24) : undefined;
}

async function pruneOne(
  deps: ClusterPruneDeps,
  location: 'local' | 'offsite',
  base: Storage,
  wal: NonNullable<WalStores['offsite']>,
  policy: RetentionPolicy,
  dryRun: boolean,
  holds: ClusterHold[],
): Promise<ClusterPruneLocation> {
  const { config } = deps;
  const bases = await listBaseBackups(base, config.storeId);
  const decisions = planPrune(
    bases.map((b) => ({ name: b.name, time: new Date(b.finished_at), kind: 'scheduled' as const, complete: true, size: b.size, verified: false })),
    policy,
    deps.clock.now(),
    config.timezone,
  );
  for (const d of decisions) {
    const h = holds.find((x) => x.base === d.name);
    if (!h) continue;
    if (d.action === 'remove') d.reasons = [];
    d.action = 'keep';
    d.reasons.push(`in use by ${h.command} (pid ${h.pid} on ${h.host}) since ${h.started_at}`);
  }
  const kept = bases.filter((b) => decisions.some((d) => d.name === b.name && d.action === 'keep'));
  // The oldest start among the kept and the held; unknown when one of them does not say (then nothing goes).
  const starts = [...kept.map((b) => b.start_wal), ...holds.map((h) => h.start_wal)];
  const keepFrom = kept.length > 0 && starts.every((s) => /^[0-9A-F]{24}$/.test(s)) ? starts.sort()[0]! : null;

  const doomed: { folder: string; object: string; size: number }[] = [];
  let keepCount = 0;
  for (const folder of (await wal.folders()).sort()) {
    if (!/^[0-9A-F]{16}$/.test(folder)) continue;
    const objects = await wal.sub(folder).list();
    for (const o of objects) {
      const seg = segmentOf(o.name);
      if (!seg) continue;
      if (keepFrom && seg < keepFrom) doomed.push({ folder, object: o.name, size: o.size });
      else keepCount++;
    }
  }
  if (!dryRun) {
    for (const d of decisions.filter((x) => x.action === 'remove')) {
      await base.remove(d.name);
      await base.remove(`${d.name}.meta.json`);
    }
    for (const d of doomed) await wal.sub(d.folder).remove(d.object);
  }
  return {
    location,
    base_backups: decisions,
    wal: { keep_from: keepFrom, remove: doomed.length, remove_bytes: doomed.reduce((a, d) => a + d.size, 0), keep: keepCount },
  };
}

/** How long prune waits for the cluster's lock (another prune, or a restore writing its hold). */
const PRUNE_LOCK_WAIT_SECONDS = 30;

/**
 * `botctl cluster prune`: base backups by the policy, WAL no longer needed by any kept base
 * backup, under the cluster's lock; what a running point-in-time restore holds is kept.
 */
export async function pruneCluster(deps: ClusterPruneDeps, policy: RetentionPolicy, opts: { offsite: boolean; dryRun: boolean }): Promise<ClusterPruneResult> {
  const { config } = deps;
  const lock = await clusterLock(config.backup.localDir, 'cluster prune', deps.clock, config.timezone, PRUNE_LOCK_WAIT_SECONDS);
  try {
    const holds = await liveHolds(config.backup.localDir);
    const locations = [await pruneOne(deps, 'local', deps.base.local, deps.wal.local, policy, opts.dryRun, holds)];
    if (opts.offsite && deps.base.offsite && deps.wal.offsite)
      locations.push(await pruneOne(deps, 'offsite', deps.base.offsite, deps.wal.offsite, policy, opts.dryRun, holds));
    return { dry_run: opts.dryRun, holds, locations };
  } finally {
    lock.release();
  }
}
