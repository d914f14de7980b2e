import fs from 'node:fs';
import path from 'node:path';
import { type Config, formatBytes, formatDuration, formatDurasi, type Heartbeat, humanTime, type JobRecords, shownTime } from '@botctl/core';
import type { BackupEntry } from '../backup/catalog.js';

/**
 * One judgement per fact, shared by `healthcheck` and `status` so that they never disagree:
 * healthcheck reports the level as ok / warning / critical, status as ✓ / ⚠ / ✗.
 */
export type Level = 'ok' | 'warning' | 'critical';

export interface Judgement {
  level: Level;
  /** For the sysadmin (English). */
  fact: string;
  /** For the owner (Indonesian). */
  fakta: string;
  value?: number;
}

const j = (level: Level, fact: string, fakta: string, value?: number): Judgement => ({ level, fact, fakta, ...(value !== undefined ? { value } : {}) });
const ago = (ms: number) => formatDuration(Math.max(0, ms));
const DAY = 86_400_000;

/** The newest complete backup that counts as one: safety copies taken before a restore do not. */
export function newestBackup(entries: BackupEntry[]): BackupEntry | undefined {
  return entries.find((e) => e.complete && e.kind !== 'pre-restore');
}

export function judgeBackupAge(config: Config, local: BackupEntry[], now: Date): Judgement {
  const h = config.health;
  const newest = newestBackup(local);
  if (!newest) return j('critical', `no complete backup in ${config.backup.localDir}`, 'belum ada backup yang lengkap');
  const age = now.getTime() - newest.time.getTime();
  if (newest.future) {
    return j(
      'warning',
      `newest backup ${newest.name} is dated ${formatDuration(-age)} in the future of this clock: its age cannot be told (is the clock right? was it when the backup was made?)`,
      `backup terbaru ${newest.name} bertanggal di masa depan: jam server salah?`,
    );
  }
  const future = local.filter((e) => e.future).length;
  const hours = age / 3_600_000;
  const level: Level = hours > h.backupCritHours ? 'critical' : hours > h.backupWarnHours ? 'warning' : 'ok';
  return j(
    level,
    `${newest.name}, ${ago(age)} old (warn after ${h.backupWarnHours} h, critical after ${h.backupCritHours} h)${future ? `; ${future} older backup(s) dated in the future (the clock ran ahead once)` : ''}`,
    `backup terbaru ${formatDurasi(age)} lalu (${newest.name})`,
    age / 1000,
  );
}

/** The nearest existing folder's device: where a folder would be created. */
function deviceOf(dir: string): number | undefined {
  let p = path.resolve(dir);
  for (;;) {
    const st = fs.statSync(p, { throwIfNoEntry: false });
    if (st) return st.dev;
    const up = path.dirname(p);
    if (up === p) return undefined;
    p = up;
  }
}

/**
 * A copy on the same filesystem as the local backups is not offsite: one dead disk takes both.
 * Only for a folder (an rclone remote is elsewhere by nature) that BACKUP_OFFSITE_REQUIRE_MOUNT
 * does not guard (that refuses such a folder).
 */
export function offsiteOnSameDisk(config: Config): boolean {
  const b = config.backup;
  if (b.offsiteRemote || b.offsiteRequireMount || !b.offsiteDir) return false;
  const a = deviceOf(b.offsiteDir);
  return a !== undefined && a === deviceOf(b.localDir);
}

export interface OffsiteFacts {
  configured: boolean;
  /** This store's backups offsite, or undefined when they could not be read. */
  offsite: BackupEntry[] | undefined;
  problem?: { message: string; fatal: boolean } | undefined;
}

export function judgeOffsite(config: Config, local: BackupEntry[], facts: OffsiteFacts): Judgement {
  if (!facts.configured) return j('warning', 'no offsite destination configured (BACKUP_OFFSITE_REMOTE or BACKUP_OFFSITE_DIR)', 'offsite belum diatur');
  if (facts.problem?.fatal) return j('critical', `offsite unusable: ${facts.problem.message}`, `offsite TIDAK BISA DIPAKAI: ${facts.problem.message}`);
  if (facts.problem || !facts.offsite) {
    return j('warning', `cannot read the offsite destination: ${facts.problem?.message ?? 'unknown error'}`, 'offsite tidak bisa dibaca');
  }
  const offsite = facts.offsite;
  const offNames = new Map(offsite.filter((e) => e.complete).map((e) => [e.name, e]));
  const newest = newestBackup(local);
  const newestOff = newestBackup(offsite);
  if (!newest) {
    return newestOff
      ? j('warning', `no local backup to compare; newest offsite is ${newestOff.name}`, `tidak ada backup lokal; offsite terbaru ${newestOff.name}`)
      : j('critical', 'no complete backup offsite', 'tidak ada backup offsite');
  }
  const missing = local.filter((e) => e.complete && e.kind !== 'pre-restore' && !offNames.has(e.name));
  const copy = offNames.get(newest.name);
  if (!copy) {
    // Nothing offsite at all is a lost offsite; only the newest missing, a copy yet to come.
    return j(
      newestOff ? 'warning' : 'critical',
      `newest backup ${newest.name} is not offsite${newestOff ? ` (newest there: ${newestOff.name})` : ' (nothing there)'}; ${missing.length} backup(s) lack their offsite copy: botctl backup offsite sync`,
      `backup terbaru ${newest.name} belum ada di offsite`,
    );
  }
  if (copy.sha256 !== newest.sha256 || copy.size !== newest.size) {
    return j('critical', `offsite copy of ${newest.name} differs from the local one (size or SHA-256)`, `salinan offsite ${newest.name} BERBEDA dari lokal`);
  }
  const same = `${newest.name} offsite, same size and SHA-256 ${newest.sha256?.slice(0, 12)}…`;
  if (missing.length) {
    return j(
      'warning',
      `${same}; ${missing.length} backup(s) lack their offsite copy (${missing
        .slice(0, 3)
        .map((e) => e.name)
        .join(', ')}${missing.length > 3 ? ', …' : ''}): botctl backup offsite sync`,
      `${missing.length} backup belum ada salinan offsite`,
    );
  }
  if (offsiteOnSameDisk(config)) {
    return j(
      'warning',
      `${same}; but ${config.backup.offsiteDir} is on the same filesystem as ${config.backup.localDir}: it is not offsite (one disk failure loses both). Mount other storage there and set BACKUP_OFFSITE_REQUIRE_MOUNT=true, or use BACKUP_OFFSITE_REMOTE`,
      'salinan "offsite" ada di disk yang sama dengan backup lokal',
    );
  }
  return j('ok', same, `${newest.name} ada di offsite (hash sama)`);
}

export function judgeDrill(config: Config, local: BackupEntry[], now: Date): Judgement {
  const drills = local.flatMap((e) => e.copies.flatMap((c) => c.sidecar?.drills ?? []));
  const latest = drills.reduce<(typeof drills)[number] | undefined>((b, d) => (!b || Date.parse(d.at) > Date.parse(b.at) ? d : b), undefined);
  const good = drills.filter((d) => d.ok).map((d) => Date.parse(d.at));
  const max = config.health.drillMaxDays;
  if (latest && !latest.ok) {
    return j('critical', `the latest restore drill failed: ${latest.error ?? 'see logs/maintenance'} (botctl backup drill)`, `uji restore terbaru GAGAL`);
  }
  if (good.length === 0) return j('warning', 'no successful restore drill yet (botctl backup drill --latest)', 'uji restore belum pernah dilakukan');
  const age = now.getTime() - Math.max(...good);
  const level: Level = age > 2 * max * DAY ? 'critical' : age > max * DAY ? 'warning' : 'ok';
  return j(level, `last successful drill ${ago(age)} ago (due every ${max} days)`, `uji restore terakhir lulus ${formatDurasi(age)} lalu`, age / 1000);
}

export function judgeBotProcess(config: Config, hb: Heartbeat | undefined, now: Date): Judgement {
  if (!hb) return j('critical', `no heartbeat in ${config.stateDir} (bot not running here?)`, 'bot tidak berjalan (tidak ada heartbeat)');
  const tz = config.timezone;
  if (hb.stopped_at) return j('critical', `stopped at ${shownTime(hb.stopped_at, tz)} (pid ${hb.pid})`, `bot berhenti sejak ${shownTime(hb.stopped_at, tz)}`);
  const age = now.getTime() - Date.parse(hb.at);
  if (age > config.health.heartbeatStaleMs) {
    return j('critical', `down: last heartbeat ${ago(age)} ago (pid ${hb.pid})`, `bot DOWN: heartbeat terakhir ${formatDurasi(age)} lalu`, age / 1000);
  }
  if (hb.paused) {
    return j(
      'warning',
      `paused since ${shownTime(hb.paused.since, tz)}: botctl ${hb.paused.command} is restoring the database (pid ${hb.pid})`,
      `bot dijeda: pemulihan database sedang berjalan`,
      age / 1000,
    );
  }
  const up = now.getTime() - Date.parse(hb.started_at);
  return j(
    'ok',
    `running, pid ${hb.pid} on ${hb.host}, version ${hb.version}, up ${ago(up)}, heartbeat ${ago(age)} ago`,
    `berjalan, uptime ${formatDurasi(up)}`,
    age / 1000,
  );
}

/** The disk rule, one for `disk` and `backup_space`: critical when the next backup may not fit. */
export interface SpaceVerdict {
  level: Level;
  /** Bytes that may still be written before the filesystem is in its last 5 %. */
  usable: number;
  /** Backups of the last size that still fit in `usable` (when a size is known). */
  fits: number | undefined;
}

/** Used beyond this is critical whatever the threshold: the last 5 % of a disk is not ours to fill. */
export const CRITICAL_USED = 0.95;

export function judgeSpace(fs: { total: number; available: number; usedRatio: number }, warnThresholdPct: number, nextBackupBytes?: number): SpaceVerdict {
  const usable = fs.available - fs.total * (1 - CRITICAL_USED);
  const fits = nextBackupBytes ? Math.max(0, Math.floor(usable / Math.max(1, nextBackupBytes * 1.2))) : undefined;
  const level: Level =
    fs.usedRatio >= CRITICAL_USED || (fits !== undefined && fits < 1)
      ? 'critical'
      : fs.usedRatio >= warnThresholdPct / 100 || (fits !== undefined && fits < 2)
        ? 'warning'
        : 'ok';
  return { level, usable, fits };
}

export function describeSpace(v: SpaceVerdict, fs: { available: number }, nextBackupBytes: number | undefined): string {
  if (nextBackupBytes === undefined) return `${formatBytes(fs.available)} free (no backup yet to size from)`;
  return `${formatBytes(fs.available)} free, ${formatBytes(Math.max(0, v.usable))} before the last 5 % of the disk: room for ${v.fits} more archive(s) of ${formatBytes(nextBackupBytes)} (+20 %)`;
}

/**
 * The bot's in-process jobs: failures in a row (HEALTH_JOB_WARN_FAILURES, HEALTH_JOB_CRIT_FAILURES)
 * from the records the bot keeps. The worst job decides; every failing one is named.
 */
export function judgeJobs(config: Config, records: JobRecords | undefined): Judgement {
  const { jobWarnFailures: warn, jobCritFailures: crit } = config.health;
  const jobs = Object.entries(records?.jobs ?? {});
  if (!records || jobs.length === 0) return j('ok', `no job has run yet (no records in ${config.stateDir})`, 'belum ada job yang berjalan');
  const failing = jobs.filter(([, r]) => r.consecutive_failures >= warn).sort((a, b) => b[1].consecutive_failures - a[1].consecutive_failures);
  if (failing.length === 0) {
    return j('ok', `${jobs.length} job(s), each succeeded on its last run (${jobs.map(([n]) => n).join(', ')})`, `${jobs.length} job berjalan normal`);
  }
  const tz = config.timezone;
  const level: Level = failing[0]![1].consecutive_failures >= crit ? 'critical' : 'warning';
  const fact = failing
    .map(([n, r]) => {
      const since = r.last_ok_at ? `last success ${humanTime(new Date(r.last_ok_at), tz)}` : 'never succeeded';
      return `${n} failed ${r.consecutive_failures} run(s) in a row (${since}): ${r.last_error ?? '?'}`;
    })
    .join('; ');
  const fakta = failing.map(([n, r]) => `job ${n} gagal ${r.consecutive_failures}× berturut-turut: ${r.last_error ?? '?'}`).join('; ');
  return j(level, `${fact} (warning from ${warn}, critical from ${crit} failures in a row; see the bot's log)`, fakta, failing[0]![1].consecutive_failures);
}
