import { formatDurasi, zonedParts } from '@botctl/core';
import { CHECK_LABELS, type CheckId, type CheckResult, type HealthStatus } from './checks.js';

/**
 * What the health check remembers between runs (BOT_STATE_DIR/healthcheck.json), so the owner
 * hears about a problem once, is reminded now and then, and hears when it is over.
 */
interface CheckMemory {
  status: HealthStatus;
  /** Start of the current failing streak (null while ok). */
  since: string | null;
  consecutive: number;
  /** The owner was told about this streak (cleared only once the recovery was delivered). */
  alerted: boolean;
  alerted_status: HealthStatus | null;
  last_ok_at: string | null;
  fact: string;
}

export interface HealthState {
  version: 1;
  last_run_at: string | null;
  /** Last problem or reminder message delivered: the reminder clock. */
  last_alert_at: string | null;
  checks: Record<string, CheckMemory>;
}

export const emptyHealthState = (): HealthState => ({ version: 1, last_run_at: null, last_alert_at: null, checks: {} });

export interface AlertPolicy {
  /** Consecutive failing runs before a warning/unknown is sent; criticals go at once. */
  alertAfter: number;
  /** Hours between reminders while something is still failing; 0 = never remind. */
  remindHours: number;
  /** Minutes since midnight in `timeZone`; warnings wait while inside, criticals do not. */
  quietHours: { from: number; to: number } | undefined;
  timeZone: string;
}

export interface PlannedAlert {
  kind: 'problem' | 'reminder' | 'recovery';
  text: string;
  silent: boolean;
  checks: CheckId[];
  /** Records in `state` that this message reached the owner. */
  markDelivered(state: HealthState): void;
}

const ICON: Record<HealthStatus, string> = { ok: '🟢', warning: '🟠', critical: '🔴', unknown: '⚪' };
const rank: Record<HealthStatus, number> = { ok: 0, unknown: 1, warning: 1, critical: 2 };

export function inQuietHours(now: Date, policy: AlertPolicy): boolean {
  const q = policy.quietHours;
  if (!q || q.from === q.to) return false;
  const p = zonedParts(now, policy.timeZone);
  const m = p.hour * 60 + p.minute;
  return q.from < q.to ? m >= q.from && m < q.to : m >= q.from || m < q.to;
}

/**
 * Pure: folds this run's results into the remembered state and plans the messages: new problems
 * (loud), a reminder of what still fails (loud, at most every `remindHours`), recoveries ("pulih",
 * with how long it was down). Alert marks are applied only through `markDelivered`, so a message
 * that could not be delivered is tried again on the next run.
 */
export function planHealthAlerts(prev: HealthState, results: CheckResult[], now: Date, policy: AlertPolicy): { state: HealthState; alerts: PlannedAlert[] } {
  const at = now.toISOString();
  const state: HealthState = { version: 1, last_run_at: at, last_alert_at: prev.last_alert_at, checks: {} };
  const quiet = inQuietHours(now, policy);
  const fresh: CheckResult[] = [];
  const recovered: { r: CheckResult; downMs: number }[] = [];

  for (const r of results) {
    const old = prev.checks[r.id];
    if (r.status === 'ok') {
      state.checks[r.id] = {
        status: 'ok',
        since: old?.alerted ? old.since : null,
        consecutive: 0,
        alerted: old?.alerted ?? false,
        alerted_status: old?.alerted ? old.alerted_status : null,
        last_ok_at: at,
        fact: r.fact,
      };
      if (old?.alerted) recovered.push({ r, downMs: now.getTime() - Date.parse(old.since ?? at) });
      continue;
    }
    const failing = old !== undefined && old.status !== 'ok';
    const m: CheckMemory = {
      status: r.status,
      since: failing ? (old.since ?? at) : old?.alerted ? (old.since ?? at) : at,
      consecutive: failing ? old.consecutive + 1 : 1,
      alerted: old?.alerted ?? false,
      alerted_status: old?.alerted_status ?? null,
      last_ok_at: old?.last_ok_at ?? null,
      fact: r.fact,
    };
    state.checks[r.id] = m;
    const due = r.status === 'critical' || m.consecutive >= policy.alertAfter;
    const held = quiet && r.status !== 'critical';
    const escalated = m.alerted && m.alerted_status !== null && rank[r.status] > rank[m.alerted_status];
    if (due && !held && (!m.alerted || escalated)) fresh.push(r);
  }
  // Checks that no longer run (skipped now) are forgotten.

  const alerts: PlannedAlert[] = [];
  const stillFailing = results.filter((r) => r.status !== 'ok' && state.checks[r.id]!.alerted && !fresh.includes(r));
  const line = (r: CheckResult) => `${ICON[r.status]} ${CHECK_LABELS[r.id]}: ${r.fakta}`;
  const sinceText = (r: CheckResult) => ` (sejak ${formatDurasi(now.getTime() - Date.parse(state.checks[r.id]!.since ?? at))} lalu)`;

  if (fresh.length > 0) {
    const worst = fresh.some((r) => r.status === 'critical') ? 'KRITIS' : 'Peringatan';
    const text = [
      `⚠️ Health-check: ${worst}`,
      ...fresh.map(line),
      ...(stillFailing.length ? ['Masih bermasalah:', ...stillFailing.map((r) => line(r) + sinceText(r))] : []),
    ].join('\n');
    const ids = [...fresh, ...stillFailing].map((r) => r.id);
    alerts.push({
      kind: 'problem',
      text,
      silent: false,
      checks: ids,
      markDelivered: (s) => {
        s.last_alert_at = at;
        for (const r of [...fresh, ...stillFailing]) {
          const c = s.checks[r.id]!;
          c.alerted = true;
          c.alerted_status = r.status;
        }
      },
    });
  } else if (stillFailing.length > 0 && policy.remindHours > 0) {
    const last = prev.last_alert_at ? Date.parse(prev.last_alert_at) : 0;
    const remind = stillFailing.filter((r) => !(quiet && r.status !== 'critical'));
    if (remind.length > 0 && now.getTime() - last >= policy.remindHours * 3_600_000) {
      alerts.push({
        kind: 'reminder',
        text: ['🔁 Pengingat: masih bermasalah', ...remind.map((r) => line(r) + sinceText(r))].join('\n'),
        silent: false,
        checks: remind.map((r) => r.id),
        markDelivered: (s) => {
          s.last_alert_at = at;
        },
      });
    }
  }

  if (recovered.length > 0) {
    alerts.push({
      kind: 'recovery',
      text: [
        '✅ Pulih',
        ...recovered.map(({ r, downMs }) => `${ICON.ok} ${CHECK_LABELS[r.id]} normal kembali setelah ${formatDurasi(downMs)} bermasalah: ${r.fakta}`),
      ].join('\n'),
      silent: false,
      checks: recovered.map(({ r }) => r.id),
      markDelivered: (s) => {
        for (const { r } of recovered) {
          const c = s.checks[r.id]!;
          c.alerted = false;
          c.alerted_status = null;
          c.since = null;
        }
      },
    });
  }
  return { state, alerts };
}
