import fsp from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '@botctl/core';
import { type CheckResult, STATUS_RANK } from './checks.js';
import type { HealthMetrics } from './checks.js';
import type { HealthState } from './alert-policy.js';

/**
 * Prometheus text exposition for node_exporter's textfile collector: one file per tenant
 * (`botctl_<store>.prom`), written atomically (temporary name without the .prom suffix, then
 * rename) so the collector never reads half a file.
 */
function textfileName(storeName: string): string {
  const slug =
    storeName
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .replace(/^_+|_+$/g, '') || 'store';
  return `botctl_${slug}.prom`;
}

const escapeLabel = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export function renderMetrics(input: { store: string; now: Date; checks: CheckResult[]; state: HealthState; metrics: HealthMetrics; overall: number }): string {
  const store = `store="${escapeLabel(input.store)}"`;
  const out: string[] = [];
  const family = (name: string, help: string, samples: [labels: string, value: number][]) => {
    if (samples.length === 0) return;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of samples) out.push(`${name}{${labels}} ${Number.isFinite(value) ? value : 'NaN'}`);
  };
  const t = (iso: string | null | undefined) => (iso ? Date.parse(iso) / 1000 : undefined);
  const m = input.metrics;

  family('botctl_health_status', 'Worst health check status: 0 ok, 1 warning, 2 critical, 3 unknown.', [[store, input.overall]]);
  family('botctl_health_last_run_timestamp_seconds', 'When the health check last ran (Unix time).', [[store, input.now.getTime() / 1000]]);
  family(
    'botctl_check_status',
    'Health check status per check: 0 ok, 1 warning, 2 critical, 3 unknown.',
    input.checks.map((c) => [`${store},check="${c.id}"`, STATUS_RANK[c.status]]),
  );
  family(
    'botctl_check_last_success_timestamp_seconds',
    'When each check was last ok (Unix time).',
    input.checks.flatMap((c) => {
      const v = t(input.state.checks[c.id]?.last_ok_at);
      return v === undefined ? [] : [[`${store},check="${c.id}"`, v] as [string, number]];
    }),
  );
  const nb = m.newest_backup;
  if (nb) {
    family('botctl_backup_newest_timestamp_seconds', 'Start time of the newest complete backup (Unix time).', [[store, Date.parse(nb.created_at) / 1000]]);
    family('botctl_backup_newest_age_seconds', 'Age of the newest complete backup.', [[store, nb.age_seconds]]);
    family('botctl_backup_newest_size_bytes', 'Size of the newest complete backup archive.', [[store, nb.size_bytes]]);
    family('botctl_backup_newest_duration_seconds', 'How long the newest backup took.', [[store, nb.duration_seconds]]);
  }
  if (m.last_drill) {
    family('botctl_drill_last_timestamp_seconds', 'When the last restore drill ran (Unix time).', [[store, Date.parse(m.last_drill.at) / 1000]]);
    family('botctl_drill_last_success', 'Whether the last restore drill passed (1) or failed (0).', [[store, m.last_drill.ok ? 1 : 0]]);
    family('botctl_drill_last_restore_seconds', 'Restore time measured by the last drill (the recovery time).', [[store, m.last_drill.restore_seconds]]);
  }
  if (m.last_good_drill_at) {
    family('botctl_drill_last_success_timestamp_seconds', 'When a restore drill last passed (Unix time).', [[store, Date.parse(m.last_good_drill_at) / 1000]]);
  }
  if (m.last_good_verification_at) {
    family('botctl_verify_last_success_timestamp_seconds', 'When a backup was last fully verified (Unix time).', [
      [store, Date.parse(m.last_good_verification_at) / 1000],
    ]);
  }
  const gauge = (name: string, help: string, v: number | undefined) => v !== undefined && family(name, help, [[store, v]]);
  if (m.wal) {
    gauge(
      'botctl_wal_archiving_failing',
      'Whether the cluster fails to archive WAL (1) or not (0), from pg_stat_archiver; 1 also when archive_mode is off.',
      m.wal.archiving_failing ? 1 : 0,
    );
    gauge(
      'botctl_wal_failed_count',
      'WAL files the archiver failed to archive since the statistics were reset (pg_stat_archiver.failed_count).',
      m.wal.failed_count,
    );
    gauge('botctl_wal_last_archived_timestamp_seconds', 'When the archiver last archived a WAL file (Unix time).', t(m.wal.last_archived_at));
    gauge(
      'botctl_wal_newest_local_timestamp_seconds',
      'When the newest WAL file in the local archive was stored: the recovery point (Unix time).',
      t(m.wal.newest_local_at),
    );
    gauge(
      'botctl_wal_newest_offsite_timestamp_seconds',
      'When the newest WAL file in the offsite archive was stored: the recovery point after losing the host (Unix time).',
      t(m.wal.newest_offsite_at),
    );
    gauge('botctl_wal_base_backup_newest_timestamp_seconds', 'When the newest base backup of the cluster finished (Unix time).', t(m.wal.newest_base_at));
  }
  gauge('botctl_shop_transactions_today', 'Orders created today (BOT_TIMEZONE).', m.transactions_today);
  gauge('botctl_shop_paid_today', 'Orders paid today.', m.paid_today);
  gauge('botctl_shop_failed_today', 'Orders failed today.', m.failed_today);
  gauge('botctl_shop_revenue_today', 'Revenue of orders paid today (IDR).', m.revenue_today);
  gauge('botctl_shop_error_rate_today', 'Failed orders / orders today.', m.error_rate_today);
  gauge('botctl_bot_uptime_seconds', 'Uptime of the bot process, from its heartbeat.', m.bot_uptime_seconds);
  gauge('botctl_cpu_busy_ratio', 'CPU busy share over the sample.', m.cpu_busy_ratio);
  gauge('botctl_memory_used_ratio', 'Memory in use (1 - MemAvailable/MemTotal).', m.memory_used_ratio);
  gauge('botctl_disk_used_ratio', 'Use of the fullest filesystem holding backups, logs or data.', m.disk_used_ratio);
  gauge('botctl_log_bytes', 'Size of the log directory.', m.log_bytes);
  return `${out.join('\n')}\n`;
}

export async function writeTextfile(dir: string, storeName: string, body: string): Promise<string> {
  await fsp.mkdir(dir, { recursive: true });
  const file = path.join(dir, textfileName(storeName));
  await writeFileAtomic(file, body, 0o644);
  return file;
}
