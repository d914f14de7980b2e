import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { type AlertDelivery, type Config, isoWithOffset, type Logger, LockedError, writeFileAtomic } from '@botctl/core';
import { acquireLock, type HeldLock } from '../lock/maintenance-lock.js';
import { emptyHealthState, type HealthState, planHealthAlerts, type PlannedAlert } from './alert-policy.js';
import { type CheckResult, type HealthDeps, type HealthMetrics, type HealthStatus, runChecks, STATUS_RANK } from './checks.js';
import { renderMetrics, writeTextfile } from './textfile.js';

export const HEALTH_STATE_FILE = 'healthcheck.json';

export interface HealthRunDeps extends HealthDeps {
  log: Logger;
  /** Sends one owner alert; undefined when alerting is off (--no-alert). */
  notify: ((text: string, opts: { silent: boolean }) => Promise<AlertDelivery>) | undefined;
}

export interface HealthReport {
  status: HealthStatus;
  exit_code: number;
  summary: string;
  checked_at: string;
  checks: CheckResult[];
  metrics: HealthMetrics;
  alerts: { kind: PlannedAlert['kind']; checks: string[]; delivered: boolean; detail: string }[];
  textfile: string | null;
}

function worstStatus(checks: CheckResult[]): HealthStatus {
  // Nagios: critical beats unknown beats warning beats ok for the exit code ranks 2/3/1/0;
  // a critical problem is what a person must see first.
  if (checks.some((c) => c.status === 'critical')) return 'critical';
  if (checks.some((c) => c.status === 'unknown')) return 'unknown';
  if (checks.some((c) => c.status === 'warning')) return 'warning';
  return 'ok';
}

/** Nagios-style first line: `CRITICAL - database: down: connection refused; 11 ok, 1 warning`. */
export function summaryLine(checks: CheckResult[]): string {
  const worst = worstStatus(checks);
  const bad = checks.filter((c) => c.status !== 'ok').sort((a, b) => STATUS_RANK[b.status] - STATUS_RANK[a.status]);
  const counts = (['ok', 'warning', 'critical', 'unknown'] as HealthStatus[])
    .map((s) => [s, checks.filter((c) => c.status === s).length] as const)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  const head = worst.toUpperCase();
  if (bad.length === 0) return `${head} - all ${checks.length} checks ok`;
  return `${head} - ${bad.map((c) => `${c.id}: ${c.fact}`).join('; ')} (${counts})`;
}

function readState(file: string): HealthState {
  try {
    const s = JSON.parse(fs.readFileSync(file, 'utf8')) as HealthState;
    return s && s.version === 1 && typeof s.checks === 'object' ? s : emptyHealthState();
  } catch {
    return emptyHealthState();
  }
}

/**
 * One health run at a time per tenant, whoever runs it (cron's botctl, the bot's own job): the
 * state file is read, changed and written under `BOT_STATE_DIR/health/.botctl.lock`. A second run
 * waits for the first (a few seconds at most) instead of alerting twice.
 */
async function takeHealthLock(stateDir: string, waitMs: number, clock: HealthRunDeps['clock'], timeZone: string): Promise<HeldLock> {
  const end = Date.now() + waitMs;
  for (;;) {
    try {
      return acquireLock(path.join(stateDir, 'health'), 'healthcheck', clock, timeZone);
    } catch (error) {
      if (!(error instanceof LockedError) || Date.now() >= end) throw error;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

/** One health run: checks, remembered state, owner alerts without noise, optional textfile. */
export async function runHealthcheck(deps: HealthRunDeps, opts: { textfileDir?: string | undefined; lockWaitMs?: number }): Promise<HealthReport> {
  const lock = await takeHealthLock(deps.config.stateDir, opts.lockWaitMs ?? 60_000, deps.clock, deps.config.timezone);
  try {
    return await runHealthcheckLocked(deps, opts);
  } finally {
    lock.release();
  }
}

async function runHealthcheckLocked(deps: HealthRunDeps, opts: { textfileDir?: string | undefined }): Promise<HealthReport> {
  const { config, log } = deps;
  const now = deps.clock.now();
  const { checks, metrics } = await runChecks(deps);
  const stateFile = path.join(config.stateDir, HEALTH_STATE_FILE);
  const prev = readState(stateFile);
  const { state, alerts } = planHealthAlerts(prev, checks, now, {
    alertAfter: config.health.alertAfter,
    remindHours: config.health.remindHours,
    quietHours: config.health.quietHours,
    timeZone: config.timezone,
  });

  const sent: HealthReport['alerts'] = [];
  const undelivered: string[] = [];
  if (deps.notify) {
    for (const alert of alerts) {
      const d = await deps.notify(alert.text, { silent: alert.silent });
      if (!d.configured) {
        sent.push({ kind: alert.kind, checks: alert.checks, delivered: false, detail: `not sent: ${d.problem}` });
        continue;
      }
      if (d.ok) alert.markDelivered(state);
      else undelivered.push(...d.failed.map((f) => `${f.chat_id}: ${f.reason}`));
      sent.push({
        kind: alert.kind,
        checks: alert.checks,
        delivered: d.ok,
        detail: d.ok ? `delivered to ${d.delivered.join(', ')}` : d.failed.map((f) => `${f.chat_id}: ${f.reason}`).join('; '),
      });
    }
  }
  // An alert nobody received is itself a critical problem of this run (exit 2, in the JSON).
  if (undelivered.length > 0) {
    checks.push({
      id: 'alerts',
      status: 'critical',
      fact: `owner alert not delivered: ${[...new Set(undelivered)].join('; ')}`,
      fakta: 'alert tidak terkirim',
    });
  }

  await fsp.mkdir(config.stateDir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(stateFile, `${JSON.stringify(state, null, 2)}\n`, 0o600);

  const status = worstStatus(checks);
  const summary = summaryLine(checks);
  const r = metrics;
  const resources = [
    r.cpu_busy_ratio !== undefined ? `CPU ${(r.cpu_busy_ratio * 100).toFixed(0)}%` : undefined,
    r.memory_used_ratio !== undefined ? `RAM ${(r.memory_used_ratio * 100).toFixed(0)}%` : undefined,
    r.disk_used_ratio !== undefined ? `disk ${(r.disk_used_ratio * 100).toFixed(0)}%` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  const alertNote = sent.length ? `; alert ${sent.map((a) => `${a.kind} ${a.delivered ? 'terkirim ke owner' : 'GAGAL'}`).join(', ')}` : '';
  const line = `Health-check: ${summary}${resources ? ` [${resources}]` : ''}${alertNote}`;
  if (status === 'critical') log.error(line);
  else if (status === 'ok') log.info(line);
  else log.warn(line);

  let textfile: string | null = null;
  if (opts.textfileDir) {
    const body = renderMetrics({ store: config.storeName, now, checks, state, metrics, overall: STATUS_RANK[status] });
    textfile = await writeTextfile(opts.textfileDir, config.storeName, body);
  }
  return { status, exit_code: STATUS_RANK[status], summary, checked_at: isoWithOffset(now, deps.config.timezone), checks, metrics, alerts: sent, textfile };
}

/**
 * Nagios performance data for the summary line (after its `|`), so Icinga and Nagios graph the
 * facts: `label=value[unit];warn;crit;min;max`, ages and durations in seconds, sizes in bytes,
 * shares in percent. Only what this run measured is there.
 */
export function nagiosPerfData(report: Pick<HealthReport, 'checks' | 'metrics'>, config: Config): string {
  const h = config.health;
  const m = report.metrics;
  const out: string[] = [];
  const num = (v: number) => String(Math.round(v * 1000) / 1000);
  const add = (label: string, value: number | undefined, unit: string, warn = '', crit = '', min = '', max = '') => {
    if (value === undefined || !Number.isFinite(value)) return;
    out.push(`${label}=${num(value)}${unit};${warn};${crit};${min};${max}`);
  };
  if (m.newest_backup) {
    add('backup_age', m.newest_backup.age_seconds, 's', String(h.backupWarnHours * 3600), String(h.backupCritHours * 3600), '0');
    add('backup_size', m.newest_backup.size_bytes, 'B', '', '', '0');
    add('backup_duration', m.newest_backup.duration_seconds, 's', '', '', '0');
  }
  const pct = (r: number | undefined) => (r === undefined ? undefined : r * 100);
  add('disk_used', pct(m.disk_used_ratio), '%', String(h.diskThreshold), '95', '0', '100');
  add('memory_used', pct(m.memory_used_ratio), '%', String(h.memoryThreshold), '', '0', '100');
  add('cpu_busy', pct(m.cpu_busy_ratio), '%', String(h.cpuThreshold), '', '0', '100');
  add('log_size', m.log_bytes, 'B', String(h.logUsageThresholdMb * 1048576), '', '0');
  for (const id of ['database', 'telegram'] as const) {
    const c = report.checks.find((x) => x.id === id);
    if (c?.status === 'ok') add(`${id}_response`, c.value, 's', '', '', '0');
  }
  add('bot_uptime', m.bot_uptime_seconds, 's', '', '', '0');
  return out.join(' ');
}
