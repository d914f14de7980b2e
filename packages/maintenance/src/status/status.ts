import fs from 'node:fs';
import path from 'node:path';
import {
  ALERT_STATE_FILE,
  type AlertStateFile,
  type Clock,
  type Config,
  formatDuration,
  isoWithOffset,
  ownerAlertsProblem,
  shownTime,
  type Redactor,
  readHeartbeat,
  readJobRecords,
  zonedDate,
} from '@botctl/core';
import { type BackupEntry, catalogScope, listBackups } from '../backup/catalog.js';
import { HEALTH_STATE_FILE } from '../health/run-health.js';
import { listLogArchives } from '../logs/archives.js';
import { daysBetween, scanDailyLogs } from '../logs/log-files.js';
import { logArchiveStores } from '../logs/rotate.js';
import type { Storage } from '../storage/storage.js';
import { newestJournalEntry, newestMaintenanceLine } from './journal.js';
import { judgeBackupAge, judgeBotProcess, judgeDrill, judgeJobs, judgeOffsite, type Level } from '../health/judge.js';
import { isOffsiteUnusable } from '../storage/storage.js';
import type { WalHealthInputs } from '../health/checks.js';
import { listBaseBackups } from '../wal/base-backup.js';
import { newestArchivedWal } from '../wal/wal-archive.js';
import { newestBackup } from '../health/judge.js';

export type Mark = 'ok' | 'warn' | 'fail';
export const MARK_RANK: Record<Mark, number> = { ok: 0, warn: 1, fail: 2 };
export const MARK_ICON: Record<Mark, string> = { ok: '✓', warn: '⚠', fail: '✗' };

/** The plan's section 8 checklist, in its order, with its wording. */
export const STATUS_ITEMS = [
  ['backups', 'Backup database & konfigurasi berjalan otomatis'],
  ['offsite', 'Backup offsite aktif & terverifikasi'],
  ['monitoring', 'Monitoring & alert ke owner bot berjalan'],
  ['logs', 'Log rotasi & retention sesuai kebijakan'],
  ['updates', 'Update dependency & patch terdokumentasi'],
  ['recovery', 'SOP recovery tersedia & diuji'],
  ['audit', 'Audit maintenance tercatat di log'],
  ['bot', 'Status proses bot dicek'],
] as const;
type StatusId = (typeof STATUS_ITEMS)[number][0];

export interface StatusLine {
  id: StatusId;
  label: string;
  mark: Mark;
  /** The fact behind the mark, for the sysadmin. */
  fact: string;
}

export interface StatusDeps {
  config: Config;
  local: Storage;
  offsite: Storage | undefined;
  clock: Clock;
  /** Scrubs rclone's messages (its passwords) when offsite is a remote. */
  redactor?: Redactor | undefined;
  /** The cluster's WAL archive (WAL_CLUSTER_ENV_FILE): the recovery point is its newest file. */
  wal?: (() => WalHealthInputs) | undefined;
}

/**
 * The latest moment a restore can bring the shop back to: with WAL archiving, the newest archived
 * WAL file (over a base backup); else the newest complete backup. Locally and offsite (what is
 * left when the host is lost).
 */
export interface RecoveryPoint {
  source: 'wal' | 'backup' | 'none';
  at: string | null;
  offsite_at: string | null;
  /** One line for people. */
  fact: string;
}

const ago = (ms: number) => `${formatDuration(Math.max(0, ms))} ago`;
const DAY = 86_400_000;

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

/** What every line is judged from: the backups here and offsite, read once. */
interface StatusInput {
  c: Config;
  now: Date;
  deps: StatusDeps;
  local: BackupEntry[];
  offsite: { entries: BackupEntry[] | undefined; problem: { message: string; fatal: boolean } | undefined };
  recovery: RecoveryPoint;
}

/** A line's judgement, in the health check's levels; the checklist shows it as a mark. */
interface Finding {
  level: Level;
  fact: string;
}

const LEVEL_RANK: Record<Level, number> = { ok: 0, warning: 1, critical: 2 };
const worse = (a: Level, b: Level): Level => (LEVEL_RANK[b] > LEVEL_RANK[a] ? b : a);

/** Every line of the checklist for one tenant, each from a fact on disk (never from memory). */
export async function tenantStatus(deps: StatusDeps): Promise<StatusLine[]> {
  return (await tenantStatusReport(deps)).checks;
}

/** The checklist and the recovery point. */
export async function tenantStatusReport(deps: StatusDeps): Promise<{ checks: StatusLine[]; recovery_point: RecoveryPoint }> {
  const input = await readBackups(deps);
  const checks: StatusLine[] = [];
  for (const [id, label] of STATUS_ITEMS) {
    const f = await CHECKS[id](input);
    checks.push({ id, label, mark: markOf(f.level), fact: f.fact });
  }
  return { checks, recovery_point: input.recovery };
}

async function readRecoveryPoint(deps: StatusDeps, now: Date, local: BackupEntry[], offsite: BackupEntry[] | undefined): Promise<RecoveryPoint> {
  const tz = deps.config.timezone;
  const when = (d: Date) => `${shownTime(d.toISOString(), tz)} (${ago(now.getTime() - d.getTime())})`;
  const scrub = (m: string) => (deps.redactor ? deps.redactor.redact(m) : m);
  let walNote = '';
  if (deps.wal) {
    try {
      const w = deps.wal();
      const [bases, wal] = await Promise.all([listBaseBackups(w.base.local, w.cluster.storeId), newestArchivedWal(w.stores.local)]);
      if (bases.length > 0 && wal) {
        const there = w.stores.offsite ? await newestArchivedWal(w.stores.offsite).catch((e: unknown) => new Error(scrub((e as Error).message))) : undefined;
        const off =
          there instanceof Error
            ? `offsite unreadable: ${there.message}`
            : there
              ? `offsite ${when(there.at)}`
              : w.stores.offsite
                ? 'none offsite'
                : 'no offsite';
        return {
          source: 'wal',
          at: isoWithOffset(wal.at, tz),
          offsite_at: there && !(there instanceof Error) ? isoWithOffset(there.at, tz) : null,
          fact: `recovery point ${when(wal.at)}, WAL archive (${off})`,
        };
      }
      walNote = bases.length === 0 ? '; WAL archive unusable: no base backup' : '; WAL archive empty';
    } catch (error) {
      walNote = `; WAL archive unreadable: ${scrub((error as Error).message)}`;
    }
  }
  const mine = newestBackup(local);
  const there = offsite ? newestBackup(offsite) : undefined;
  if (!mine && !there) return { source: 'none', at: null, offsite_at: null, fact: `recovery point: none, no complete backup${walNote}` };
  const off = there ? `offsite ${when(there.time)}` : deps.offsite ? 'none offsite' : 'no offsite';
  return {
    source: 'backup',
    at: mine ? isoWithOffset(mine.time, tz) : null,
    offsite_at: there ? isoWithOffset(there.time, tz) : null,
    fact: `recovery point ${mine ? when(mine.time) : 'none here'}, newest backup (${off})${walNote}`,
  };
}

async function readBackups(deps: StatusDeps): Promise<StatusInput> {
  const c = deps.config;
  const now = deps.clock.now();
  const scope = catalogScope(c, now);
  const local = await listBackups([{ location: 'local', storage: deps.local }], scope).catch(() => [] as BackupEntry[]);
  let entries: BackupEntry[] | undefined;
  let problem: StatusInput['offsite']['problem'];
  if (deps.offsite) {
    try {
      await deps.offsite.ready?.();
      entries = await listBackups([{ location: 'offsite', storage: deps.offsite }], scope);
    } catch (error) {
      const message = (error as Error).message;
      problem = { message: deps.redactor ? deps.redactor.redact(message) : message, fatal: isOffsiteUnusable(error) };
    }
  }
  const recovery = await readRecoveryPoint(deps, now, local, entries);
  return { c, now, deps, local, offsite: { entries, problem }, recovery };
}

/** The plan's section 8, one check per line, in STATUS_ITEMS' order. */
const CHECKS: Record<StatusId, (i: StatusInput) => Finding | Promise<Finding>> = {
  backups: checkBackups,
  offsite: checkOffsite,
  monitoring: checkMonitoring,
  logs: checkLogs,
  updates: checkUpdates,
  recovery: checkRecovery,
  audit: checkAudit,
  bot: checkBot,
};

/** 1. Automatic backups: the newest backup's age against the daily schedule (healthcheck's backup_age). */
function checkBackups({ c, local, now }: StatusInput): Finding {
  const v = judgeBackupAge(c, local, now);
  return { level: v.level, fact: `${v.fact}; schedule daily at ${c.backup.time}${c.backup.enableAuto ? ' (bot)' : ' (cron)'}` };
}

/** 2. Offsite: the newest backup is there with the same SHA-256 (healthcheck's backup_offsite). */
function checkOffsite({ c, deps, local, offsite }: StatusInput): Finding {
  return judgeOffsite(c, local, { configured: Boolean(deps.offsite), offsite: offsite.entries, problem: offsite.problem });
}

/** 3. Monitoring and owner alerts: the last health check run and the last alert delivery. */
function checkMonitoring({ c, now }: StatusInput): Finding {
  const health = readJson<{ last_run_at: string | null }>(path.join(c.stateDir, HEALTH_STATE_FILE));
  const alerts = readJson<AlertStateFile>(path.join(c.stateDir, ALERT_STATE_FILE));
  const parts: string[] = [];
  let level: Level = 'ok';
  if (!health?.last_run_at) {
    level = 'critical';
    parts.push('no health check has run (cron_healthcheck.sh or ENABLE_AUTO_HEALTHCHECK)');
  } else {
    const age = now.getTime() - Date.parse(health.last_run_at);
    const expected = Math.max(15, 3 * c.health.intervalMinutes) * 60_000;
    if (age > DAY) level = 'critical';
    else if (age > expected) level = 'warning';
    parts.push(`last health check ${ago(age)} (every ${c.health.intervalMinutes} min)`);
  }
  const off = ownerAlertsProblem(c);
  if (off) {
    // Switched off on purpose is a choice to see; not set up at all is a gap.
    level = worse(level, c.alerts.enabled ? 'critical' : 'warning');
    parts.push(c.alerts.enabled ? `owner alerts cannot be sent: ${off}` : `${off}: the owners hear of no problem`);
  } else if (!alerts) {
    level = worse(level, 'warning');
    parts.push('no owner alert sent yet (try `botctl alert test`)');
  } else {
    const okAt = alerts.last_ok_at ? Date.parse(alerts.last_ok_at) : undefined;
    const failAt = alerts.last_failure ? Date.parse(alerts.last_failure.at) : undefined;
    if (failAt !== undefined && (okAt === undefined || failAt > okAt)) {
      level = 'critical';
      parts.push(`last alert FAILED ${ago(now.getTime() - failAt)}: ${alerts.last_failure!.reason}`);
    } else if (okAt !== undefined) parts.push(`last alert delivered ${ago(now.getTime() - okAt)}`);
  }
  return { level, fact: parts.join('; ') };
}

/** 4. Log rotation and retention: the oldest daily file against LOG_RETENTION_DAYS, the newest archive offsite. */
async function checkLogs({ c, deps, now }: StatusInput): Promise<Finding> {
  const files = await scanDailyLogs(c.logPath);
  const archives = (await listLogArchives(logArchiveStores(c, deps.redactor)).catch(() => ({ archives: [] }))).archives;
  const newestArchive = archives[0];
  const arch = newestArchive ? `newest archive ${newestArchive.name}${newestArchive.offsite ? ' (offsite too)' : ' (not offsite)'}` : 'no archive yet';
  if (files.length === 0) return { level: 'critical', fact: `no daily log files in ${c.logPath}: is logging on?` };
  const oldestDays = daysBetween(files[0]!.date, zonedDate(now, c.timezone));
  const retention = c.logs.retentionDays;
  const level: Level =
    oldestDays > retention + 7 ? 'critical' : oldestDays > retention + 1 ? 'warning' : newestArchive && !newestArchive.offsite ? 'warning' : 'ok';
  return { level, fact: `oldest log ${files[0]!.member} (${oldestDays} days, retention ${retention}); ${arch}` };
}

/** 5. Updates and patches recorded in the maintenance journal. */
async function checkUpdates({ c, now }: StatusInput): Promise<Finding> {
  const entry = await newestJournalEntry(c.logPath, c.timezone, ['update', 'patch']);
  if (!entry) return { level: 'warning', fact: 'no update or patch recorded (`botctl journal add --kind update "…"`)' };
  const age = now.getTime() - entry.at.getTime();
  return { level: age > c.updateMaxDays * DAY ? 'warning' : 'ok', fact: `last ${entry.kind} ${ago(age)}: ${entry.text}` };
}

/** 6. Recovery tested: the last successful restore drill (healthcheck's backup_drill). */
function checkRecovery({ c, local, now, recovery }: StatusInput): Finding {
  const v = judgeDrill(c, local, now);
  return { level: v.level, fact: `${recovery.fact}; ${v.fact}; runbook docs/runbooks/recovery.md` };
}

/** 7. The maintenance audit log exists and is being written. */
async function checkAudit({ c, now }: StatusInput): Promise<Finding> {
  const last = await newestMaintenanceLine(c.logPath, c.timezone);
  if (!last) return { level: 'critical', fact: `no maintenance log in ${path.join(c.logPath, 'maintenance')}` };
  const age = now.getTime() - last.at.getTime();
  return { level: age > 7 * DAY ? 'critical' : age > 26 * 3_600_000 ? 'warning' : 'ok', fact: `last entry ${ago(age)} in ${path.basename(last.file)}` };
}

/** 8. The bot process, by its heartbeat and its jobs' records (healthcheck's bot_process, jobs). */
function checkBot({ c, now }: StatusInput): Finding {
  const v = judgeBotProcess(c, readHeartbeat(c.stateDir, 'bot'), now);
  const jobs = judgeJobs(c, readJobRecords(c.stateDir));
  return { level: worse(v.level, jobs.level), fact: jobs.level === 'ok' ? v.fact : `${v.fact}; jobs: ${jobs.fact}` };
}

/** A level as the checklist's mark (the documented JSON vocabulary of `status` and `preflight`). */
function markOf(level: Level): Mark {
  return level === 'ok' ? 'ok' : level === 'warning' ? 'warn' : 'fail';
}

export function worstMark(lines: { mark: Mark }[]): Mark {
  return lines.reduce<Mark>((w, l) => (MARK_RANK[l.mark] > MARK_RANK[w] ? l.mark : w), 'ok');
}

/** `--env-file DIR`: every tenant file in it (`*.env`, or `<tenant>/.env`), sorted. */
export function tenantEnvFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name);
    const st = fs.statSync(full, { throwIfNoEntry: false });
    if (!st) continue;
    if (st.isFile() && (name.endsWith('.env') || name === '.env')) out.push(full);
    else if (st.isDirectory() && fs.existsSync(path.join(full, '.env'))) out.push(path.join(full, '.env'));
  }
  return out;
}
