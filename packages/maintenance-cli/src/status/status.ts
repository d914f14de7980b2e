import fs from 'node:fs';
import path from 'node:path';
import { ALERT_STATE_FILE, type AlertStateFile, type Clock, type Config, formatDuration, type Redactor, readHeartbeat, zonedDate } from '@botctl/core';
import { type BackupEntry, catalogScope, listBackups } from '../backup/catalog.js';
import { HEALTH_STATE_FILE } from '../health/run-health.js';
import { listLogArchives } from '../logs/archives.js';
import { daysBetween, scanDailyLogs } from '../logs/log-files.js';
import { logArchiveStores } from '../logs/rotate.js';
import type { Storage } from '../storage/storage.js';
import { newestJournalEntry, newestMaintenanceLine } from './journal.js';

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
export type StatusId = (typeof STATUS_ITEMS)[number][0];

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
  const newestComplete = (xs: BackupEntry[]) => xs.find((e) => e.complete);

  const scope = catalogScope(c, now);
  const local = await listBackups([{ location: 'local', storage: deps.local }], scope).catch(() => [] as BackupEntry[]);
  let offsite: BackupEntry[] | undefined;
  let offsiteError: string | undefined;
  if (deps.offsite) {
    try {
      offsite = await listBackups([{ location: 'offsite', storage: deps.offsite }], scope);
    } catch (error) {
      offsiteError = (error as Error).message;
    }
  }
  const lines: StatusLine[] = [];

  // 1. Automatic backups: the newest backup's age against the daily schedule.
  const newest = newestComplete(local);
  if (!newest) lines.push(line('backups', 'fail', `no complete backup in ${c.backup.localDir}`));
  else {
    const age = now.getTime() - newest.time.getTime();
    const h = age / 3_600_000;
    const schedule = `daily at ${c.backup.time}${c.backup.enableAuto ? ' (bot)' : ' (cron)'}`;
    const future = local.filter((e) => e.future).length;
    if (newest.future) {
      lines.push(line('backups', 'warn', `newest ${newest.name} is dated ${formatDuration(-age)} in the future of this clock: its age cannot be told (is the clock right?)`));
    } else {
      const mark: Mark = h > c.health.backupCritHours ? 'fail' : h > c.health.backupWarnHours ? 'warn' : 'ok';
      lines.push(
        line(
          'backups',
          mark,
          `newest ${newest.name}, ${ago(age)}; schedule ${schedule}, late after ${c.health.backupWarnHours} h${future ? `; ${future} older backup(s) dated in the future` : ''}`,
        ),
      );
    }
  }

  // 2. Offsite: the newest backup is there with the same SHA-256.
  if (!deps.offsite) lines.push(line('offsite', 'fail', 'no offsite destination configured (BACKUP_OFFSITE_REMOTE or BACKUP_OFFSITE_DIR)'));
  else if (offsiteError) lines.push(line('offsite', 'fail', `cannot read ${deps.offsite.description}: ${offsiteError}`));
  else if (!newestComplete(offsite ?? [])) lines.push(line('offsite', 'fail', `no complete backup in ${deps.offsite.description}`));
  else if (!newest) lines.push(line('offsite', 'warn', `no local backup to compare; newest offsite ${newestComplete(offsite!)!.name}`));
  else {
    const copy = offsite!.find((e) => e.name === newest.name && e.complete);
    if (!copy) lines.push(line('offsite', 'warn', `newest backup ${newest.name} is not offsite yet (newest there: ${newestComplete(offsite!)!.name})`));
    else if (copy.sha256 !== newest.sha256 || copy.size !== newest.size) lines.push(line('offsite', 'fail', `offsite copy of ${newest.name} differs from the local one`));
    else lines.push(line('offsite', 'ok', `${newest.name} offsite, same size and SHA-256 ${newest.sha256?.slice(0, 12)}…`));
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
    if (!alerts) {
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

  // 6. Recovery tested: the last successful restore drill.
  {
    const drills = local.flatMap((e) => e.copies.flatMap((cp) => cp.sidecar?.drills ?? []));
    const good = drills.filter((d) => d.ok).map((d) => Date.parse(d.at));
    const max = c.health.drillMaxDays;
    if (good.length === 0) lines.push(line('recovery', 'fail', 'no successful restore drill (`botctl backup drill --latest`)'));
    else {
      const age = now.getTime() - Math.max(...good);
      const mark: Mark = age > 2 * max * DAY ? 'fail' : age > max * DAY ? 'warn' : 'ok';
      lines.push(line('recovery', mark, `last successful drill ${ago(age)} (monthly: due after ${max} days); runbook docs/runbooks/recovery.md`));
    }
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

  // 8. The bot process, by its heartbeat.
  {
    const hb = readHeartbeat(c.stateDir, 'bot');
    if (!hb) lines.push(line('bot', 'fail', 'no heartbeat: the bot is not running here'));
    else if (hb.stopped_at) lines.push(line('bot', 'fail', `stopped ${ago(now.getTime() - Date.parse(hb.stopped_at))} (pid ${hb.pid})`));
    else {
      const age = now.getTime() - Date.parse(hb.at);
      lines.push(
        age > c.health.heartbeatStaleMs
          ? line('bot', 'fail', `down: last heartbeat ${ago(age)} (pid ${hb.pid})`)
          : line('bot', 'ok', `running, pid ${hb.pid} on ${hb.host}, version ${hb.version}, heartbeat ${ago(age)}`),
      );
    }
  }
  return lines;
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
