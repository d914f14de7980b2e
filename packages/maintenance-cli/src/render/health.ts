import type { ChalkInstance } from 'chalk';
import type { HealthStatus } from '@botctl/maintenance';
import { type HealthReport, nagiosPerfData } from '@botctl/maintenance';
import type { Config } from '@botctl/core';
import { table } from './table.js';

const mark = (s: HealthStatus, style: ChalkInstance) =>
  s === 'ok' ? style.green('ok') : s === 'warning' ? style.yellow('WARNING') : s === 'critical' ? style.red('CRITICAL') : style.magenta('UNKNOWN');

/** First line: the Nagios summary and its performance data; then one row per check with the fact behind it. */
export function renderHealth(r: HealthReport, style: ChalkInstance, config: Config): string {
  const perf = nagiosPerfData(r, config);
  // Nagios takes the first "|" as the start of the performance data.
  const lines = [perf ? `${r.summary.replaceAll('|', '/')} | ${perf}` : r.summary, ''];
  lines.push(
    table(
      ['CHECK', 'STATUS', 'FACT'],
      r.checks.map((c) => [c.id, mark(c.status, style), c.fact]),
    ),
  );
  const m = r.metrics;
  const shop =
    m.transactions_today !== undefined
      ? `shop today: ${m.transactions_today} orders, ${m.paid_today} paid, ${m.failed_today} failed (error rate ${((m.error_rate_today ?? 0) * 100).toFixed(1)}%), revenue ${m.revenue_today}`
      : undefined;
  if (shop) lines.push('', shop);
  for (const a of r.alerts) lines.push(`${a.kind} alert (${a.checks.join(', ')}): ${a.delivered ? style.green(a.detail) : style.red(a.detail)}`);
  if (r.textfile) lines.push(`metrics written to ${r.textfile}`);
  return lines.join('\n');
}
