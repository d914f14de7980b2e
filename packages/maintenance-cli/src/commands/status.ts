import fs from 'node:fs';
import path from 'node:path';
import { BotctlError, loadConfig, type Config, type Redactor, silentLogger } from '@botctl/core';
import type { Command } from 'commander';
import type { CliContext } from '../cli/context.js';
import {
  createServices,
  MARK_ICON,
  MARK_RANK,
  type Mark,
  type RecoveryPoint,
  STATUS_ITEMS,
  type StatusLine,
  tenantEnvFiles,
  tenantStatusReport,
  worstMark,
} from '@botctl/maintenance';
import { table } from '../render/table.js';
import type { Run } from './types.js';

interface TenantRow {
  env_file: string | null;
  store_name: string | null;
  status: Mark;
  checks: StatusLine[];
  /** The latest moment a restore can reach (the WAL archive's newest file, else the newest backup). */
  recovery_point: RecoveryPoint | null;
  error?: string;
}

/**
 * `botctl status`: the plan's section 8 checklist, each line ✓/⚠/✗ from facts on disk. Exit code
 * is the worst line, Nagios style (0 ✓, 1 ⚠, 2 ✗; 3 when it could not look). Several
 * --env-file, or a folder of tenant env files, give one table for the whole host.
 */
export function registerStatus(cmd: Command, run: Run): void {
  cmd.action(
    run(async (ctx) => {
      ctx.nagios = true;
      const files = expandEnvFiles(ctx);
      const rows: TenantRow[] = [];
      for (const file of files) rows.push(await statusOf(ctx, file));
      const worst = rows.reduce<Mark>((w, r) => (MARK_RANK[r.status] > MARK_RANK[w] ? r.status : w), 'ok');
      ctx.exitCode = MARK_RANK[worst];
      if (!isMulti(ctx)) {
        const r = rows[0]!;
        ctx.emit(
          {
            ok: worst === 'ok',
            status: worst,
            store_name: r.store_name,
            env_file: r.env_file,
            recovery_point: r.recovery_point,
            checks: r.checks,
            ...(r.error ? { error: r.error } : {}),
          },
          () => renderOne(ctx, r),
        );
        return;
      }
      ctx.emit({ ok: worst === 'ok', status: worst, tenants: rows }, () => renderHost(ctx, rows));
    }),
  );
}

function isMulti(ctx: CliContext): boolean {
  const given = ctx.options.envFiles ?? [];
  return given.length > 1 || (given.length === 1 && fs.statSync(path.resolve(ctx.io.cwd, given[0]!), { throwIfNoEntry: false })?.isDirectory() === true);
}

/** The env files to report on: none given → the usual one (environment and ./.env). */
function expandEnvFiles(ctx: CliContext): (string | undefined)[] {
  const given = ctx.options.envFiles ?? [];
  if (given.length === 0) return [undefined];
  const out: string[] = [];
  for (const g of given) {
    const p = path.resolve(ctx.io.cwd, g);
    if (fs.statSync(p, { throwIfNoEntry: false })?.isDirectory()) {
      const found = tenantEnvFiles(p);
      if (found.length === 0)
        throw new BotctlError('NOT_FOUND', 12, `no tenant env files in ${p}`, { hint: 'expected *.env files or <tenant>/.env inside it' });
      out.push(...found);
    } else out.push(p);
  }
  return out;
}

async function statusOf(ctx: CliContext, envFile: string | undefined): Promise<TenantRow> {
  let config: Config;
  let redactor: Redactor;
  // One tenant: bad settings are the command's error (exit 3). Several: that tenant's row is ✗.
  if (!isMulti(ctx)) ({ config, redactor } = ctx.loaded);
  else
    try {
      ({ config, redactor } = loadConfig({ envFile, cwd: ctx.io.cwd, env: ctx.io.env }));
    } catch (error) {
      const message = ctx.scrub((error as Error).message);
      return { env_file: envFile ?? null, store_name: null, status: 'fail', checks: [], recovery_point: null, error: message };
    }
  const services = isMulti(ctx) ? createServices(config, { redactor, log: silentLogger, clock: ctx.clock }) : ctx.services;
  const { checks, recovery_point } = await tenantStatusReport({
    config,
    local: services.local,
    offsite: services.offsite,
    clock: ctx.clock,
    redactor,
    wal: services.healthInputs().wal,
  });
  return { env_file: config.envFile ?? null, store_name: config.storeName, status: worstMark(checks), checks, recovery_point };
}

function paint(ctx: CliContext, m: Mark): string {
  const s = ctx.style;
  return m === 'ok' ? s.green(MARK_ICON[m]) : m === 'warn' ? s.yellow(MARK_ICON[m]) : s.red(MARK_ICON[m]);
}

function renderOne(ctx: CliContext, r: TenantRow): string {
  if (r.error) return `${paint(ctx, 'fail')} ${r.env_file ?? 'settings'}: ${r.error}`;
  const lines = [`Checklist maintenance — ${r.store_name}${r.env_file ? ` (${ctx.displayPath(r.env_file)})` : ''}`];
  for (const c of r.checks) lines.push(`${paint(ctx, c.mark)} ${c.label}\n    ${c.fact}`);
  return lines.join('\n');
}

/** The recovery point's age for the host table: `3m (WAL)`, `14h (backup)`, `none`. */
function pointAge(ctx: CliContext, p: RecoveryPoint | null): string {
  if (!p?.at) return 'none';
  const s = Math.max(0, (ctx.clock.now().getTime() - Date.parse(p.at)) / 1000);
  const age = s < 3600 ? `${Math.round(s / 60)}m` : s < 172_800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86_400)}d`;
  return `${age} (${p.source === 'wal' ? 'WAL' : 'backup'})`;
}

function renderHost(ctx: CliContext, rows: TenantRow[]): string {
  const header = ['TENANT', ...STATUS_ITEMS.map(([id]) => id.toUpperCase()), 'RECOVERY POINT', 'ENV FILE'];
  const body = rows.map((r) => [
    r.store_name ?? '?',
    ...STATUS_ITEMS.map(([id]) => {
      const c = r.checks.find((x) => x.id === id);
      return c ? paint(ctx, c.mark) : paint(ctx, 'fail');
    }),
    pointAge(ctx, r.recovery_point),
    r.env_file ?? '(environment)',
  ]);
  const problems = rows.flatMap((r) =>
    r.error
      ? [`${r.store_name ?? r.env_file}: ${r.error}`]
      : r.checks.filter((c) => c.mark !== 'ok').map((c) => `${paint(ctx, c.mark)} ${r.store_name} · ${c.id}: ${c.fact}`),
  );
  return [table(header, body), ...(problems.length ? ['', ...problems] : [])].join('\n');
}
