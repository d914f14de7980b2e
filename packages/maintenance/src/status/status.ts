import fs from 'node:fs';
import path from 'node:path';
import {
  ALERT_STATE_FILE,
  type AlertStateFile,
  type Clock,
  type Config,
  formatDuration,
  ownerAlertsProblem,
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

/** Every line of the checklist for one tenant, each from a fact on disk (never from memory). */
export async function tenantStatus(deps: StatusDeps): Promise<StatusLine[]> {
  const { config: c } = deps;
  const now = deps.clock.now();
  const label = (id: StatusId) => STATUS_ITEMS.find(([i]) => i === id)![1];
  const line = (id: StatusId, mark: Mark, fact: string): StatusLine => ({ id, label: label(id), mark, fact });

  const scope = catalogScope(c, now);
  const local = await listBackups([{ location: 'local', storage: deps.local }], scope).catch(() => [] as BackupEntry[]);
  let offsite: BackupEntry[] | undefined;
  let offsiteError: string | undefined;
  let offsiteFatal = false;
  if (deps.offsite) {
    try {
      await deps.offsite.ready?.();
      offsite = await listBackups([{ location: 'offsite', storage: deps.offsite }], scope);
    } catch (error) {
      offsiteError = deps.redactor ? deps.redactor.redact((error as Error).message) : (error as Error).message;
      offsiteFatal = isOffsiteUnusable(error);
    }
  }
  const lines: StatusLine[] = [];

  // 1. Automatic backups: the newest backup's age against the daily schedule (the same
  // judgement as healthcheck's backup_age).
  {
    const v = judgeBackupAge(c, local, now);
    const schedule = `daily at ${c.backup.time}${c.backup.enableAuto ? ' (bot)' : ' (cron)'}`;
    lines.push(line('backups', markOf(v.level), `${v.fact}; schedule ${schedule}`));
  }

  // 2. Offsite: the newest backup is there with the same SHA-256 (healthcheck's backup_offsite).
  {
    const v = judgeOffsite(c, local, {
      configured: Boolean(deps.offsite),
      offsite,
      problem: offsiteError ? { message: offsiteError, fatal: offsiteFatal } : undefined,
    });
    lines.push(line('offsite', markOf(v.level), v.fact));
  }

  // 3. Monitoring and owner alerts: the last health check run and the last alert delivery.
  const health = readJson<{ last_run_at: string | null }>(path.join(c.stateDir, HEALTH_STATE_FILE));
  const alerts = readJson<AlertStateFile>(path.join(c.stateDir, ALERT_STATE_FILE));
  {
    const parts: string[] = [];
    let mark: Mark = 'ok';
    const worse = (m: Mark) => (mark = MARK_RANK[m] > MARK_RANK[mark] ? m : mark);
    if (!health?.last_run_at) {
      worse('fail');
      parts.push('no health check has run (cron_healthcheck.sh or ENABLE_AUTO_HEALTHCHECK)');
    } else {
      const age = now.getTime() - Date.parse(health.last_run_at);
      const expected = Math.max(15, 3 * c.health.intervalMinutes) * 60_000;
      if (age > DAY) worse('fail');
      else if (age > expected) worse('warn');
      parts.push(`last health check ${ago(age)} (every ${c.health.intervalMinutes} min)`);
    }
    const off = ownerAlertsProblem(c);
    if (off) {
      // Switched off on purpose is a choice to see; not set up at all is a gap.
      worse(c.alerts.enabled ? 'fail' : 'warn');
      parts.push(c.alerts.enabled ? `owner alerts cannot be sent: ${off}` : `${off}: the owners hear of no problem`);
    } else if (!alerts) {
      worse('warn');
      parts.push('no owner alert sent yet (try `botctl alert test`)');
    } else {
      const okAt = alerts.last_ok_at ? Date.parse(alerts.last_ok_at) : undefined;
      const failAt = alerts.last_failure ? Date.parse(alerts.last_failure.at) : undefined;
      if (failAt !== undefined && (okAt === undefined || failAt > okAt)) {
        worse('fail');
        parts.push(`last alert FAILED ${ago(now.getTime() - failAt)}: ${alerts.last_failure!.reason}`);
      } else if (okAt !== undefined) parts.push(`last alert delivered ${ago(now.getTime() - okAt)}`);
    }
    lines.push(line('monitoring', mark, parts.join('; ')));
  }

  // 4. Log rotation and retention: the oldest daily file against LOG_RETENTION_DAYS.
  {
    const files = await scanDailyLogs(c.logPath);
    const archives = (await listLogArchives(logArchiveStores(c, deps.redactor)).catch(() => ({ archives: [] }))).archives;
    const newestArchive = archives[0];
    const arch = newestArchive ? `newest archive ${newestArchive.name}${newestArchive.offsite ? ' (offsite too)' : ' (not offsite)'}` : 'no archive yet';
    if (files.length === 0) lines.push(line('logs', 'fail', `no daily log files in ${c.logPath}: is logging on?`));
    else {
      const today = zonedDate(now, c.timezone);
      const oldestDays = daysBetween(files[0]!.date, today);
      const retention = c.logs.retentionDays;
      const mark: Mark = oldestDays > retention + 7 ? 'fail' : oldestDays > retention + 1 ? 'warn' : newestArchive && !newestArchive.offsite ? 'warn' : 'ok';
      lines.push(line('logs', mark, `oldest log ${files[0]!.member} (${oldestDays} days, retention ${retention}); ${arch}`));
    }
  }

  // 5. Updates and patches recorded in the maintenance journal.
  {
    const entry = await newestJournalEntry(c.logPath, c.timezone, ['update', 'patch']);
    if (!entry) lines.push(line('updates', 'warn', 'no update or patch recorded (`botctl journal add --kind update "…"`)'));
    else {
      const age = now.getTime() - entry.at.getTime();
      lines.push(line('updates', age > c.updateMaxDays * DAY ? 'warn' : 'ok', `last ${entry.kind} ${ago(age)}: ${entry.text}`));
    }
  }

  // 6. Recovery tested: the last successful restore drill (healthcheck's backup_drill).
  {
    const v = judgeDrill(c, local, now);
    lines.push(line('recovery', markOf(v.level), `${v.fact}; runbook docs/runbooks/recovery.md`));
  }

  // 7. The maintenance audit log exists and is being written.
  {
    const last = await newestMaintenanceLine(c.logPath, c.timezone);
    if (!last) lines.push(line('audit', 'fail', `no maintenance log in ${path.join(c.logPath, 'maintenance')}`));
    else {
      const age = now.getTime() - last.at.getTime();
      lines.push(line('audit', age > 7 * DAY ? 'fail' : age > 26 * 3_600_000 ? 'warn' : 'ok', `last entry ${ago(age)} in ${path.basename(last.file)}`));
    }
  }

  // 8. The bot process, by its heartbeat and its jobs' records (healthcheck's bot_process, jobs).
  {
    const v = judgeBotProcess(c, readHeartbeat(c.stateDir, 'bot'), now);
    const jobs = judgeJobs(c, readJobRecords(c.stateDir));
    const mark = MARK_RANK[markOf(jobs.level)] > MARK_RANK[markOf(v.level)] ? markOf(jobs.level) : markOf(v.level);
    lines.push(line('bot', mark, jobs.level === 'ok' ? v.fact : `${v.fact}; jobs: ${jobs.fact}`));
  }
  return lines;
}

/** healthcheck's level as a checklist mark. */
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
