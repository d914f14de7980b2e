import path from 'node:path';
import { type BotApi, BotctlError, type Config, createSql, ExitCode, formatDuration, type Logger, parseDatabaseUrl, readHeartbeat } from '@botctl/core';
import { catalogScope, type ResolvedArchive } from '../backup/catalog.js';
import { latestArchive, readSidecarOf, type RestoreDeps, type RestoreResult, restoreBackup } from '../backup/restore-backup.js';
import type { CheckResult } from '../health/checks.js';
import { summaryLine } from '../health/run-health.js';
import type { Storage } from '../storage/storage.js';

/** The plan's recovery checklist (section 4), in its words, plus our safety step first. */
const RECOVERY_STEPS = [
  ['safety_backup', 'Backup pengaman dari kondisi sekarang'],
  ['config', 'Konfigurasi sudah dipulihkan'],
  ['database', 'Database sudah direstore'],
  ['logs', 'Log sudah tersedia'],
  ['telegram', 'Bot sudah running & terhubung ke Telegram'],
  ['health', 'Health-check sudah normal'],
  ['owner', 'Owner sudah menerima notifikasi recovery'],
] as const;
type RecoveryStepId = (typeof RECOVERY_STEPS)[number][0];

export interface RecoveryStep {
  id: RecoveryStepId;
  label: string;
  status: 'ok' | 'skipped' | 'failed';
  /** What was measured or done: the evidence written to logs/maintenance/. */
  evidence: string;
  ms: number;
  next?: string;
}

export interface RecoveryReport {
  ok: boolean;
  archive: { name: string; location: string; created_at: string };
  steps: RecoveryStep[];
  duration_ms: number;
  restored: { tables: number; rows: number; config_files: string[]; log_files_restored: number; log_files_present: number } | null;
  safety_backup: string | null;
}

/** What recovery needs from its caller: the config can change mid-way (the .env comes back). */
export interface RecoveryDeps {
  /** Restore deps for the current config (rebuilt after the config is restored). */
  restoreDeps: () => RestoreDeps;
  config: () => Config;
  /** Called after config files were put back: reload the settings from them. */
  reloadConfig: () => void;
  log: () => Logger;
  /** getMe against TELEGRAM_BOT_TOKEN. */
  botApi: () => BotApi | undefined;
  /** The health checks (no alerts): bot process, database, Telegram, backups, … */
  checks: () => Promise<CheckResult[]>;
  notifyOwners: (text: string) => Promise<{ configured: boolean; ok: boolean; problem?: string; failed: { chat_id: number; reason: string }[] }>;
  sleep: (ms: number) => Promise<void>;
  onStep?: (step: RecoveryStep) => void;
  /**
   * Pauses the shop bot (the maintenance fence) until the database, config and logs are back; a
   * supervisor restarting it meanwhile finds the fence and waits.
   */
  fence?: (database: string) => Promise<{ release(): void }>;
}

export interface RecoveryOptions {
  archive: ResolvedArchive | 'latest';
  /** The .env was missing at the start: config comes back from the backup first. */
  configMissing: boolean;
  /** How long to wait for the bot's heartbeat after the restore (its supervisor restarts it). */
  waitBotMs: number;
  /** Where the env file goes back to (the --env-file path) when it is missing. */
  envFile?: string | undefined;
  /** The command that runs this recovery again, for the "next" of a failed step. */
  rerun?: string;
}

class StepFailed extends BotctlError {}

/**
 * `botctl recover`: the plan's emergency procedure as one command. Each step logs `[recover]` with
 * its evidence; a failed step stops the run with what to do next. The database restore is
 * `backup restore` (verified first, one transaction, safety backup when it overwrites).
 */
export async function recover(deps: RecoveryDeps, opts: RecoveryOptions): Promise<RecoveryReport> {
  const t0 = performance.now();
  const steps: RecoveryStep[] = [];
  const log = () => deps.log();
  let restore: RestoreResult | undefined;
  let configFiles: string[] = [];
  let logsRestored = 0;
  let logsPresent = 0;

  // Which backup: resolved now, so every step talks about the same archive.
  const d0 = deps.restoreDeps();
  const stores: { location: 'local' | 'offsite'; storage: Storage }[] = [{ location: 'local', storage: d0.local }];
  if (d0.offsite) stores.push({ location: 'offsite', storage: d0.offsite });
  const archive = opts.archive === 'latest' ? await latestArchive(stores, catalogScope(d0.config, d0.clock.now())) : opts.archive;
  const sidecar = await readSidecarOf(archive.storage, archive.name);
  const report: RecoveryReport = {
    ok: false,
    archive: { name: archive.name, location: archive.location, created_at: sidecar.created_at },
    steps,
    duration_ms: 0,
    restored: null,
    safety_backup: null,
  };
  log().warn(`[recover] Pemulihan dimulai dari ${archive.name} (${archive.location}, dibuat ${sidecar.created_at})`);

  const record = (id: RecoveryStepId, status: 'ok' | 'skipped', evidence: string) => {
    const label = RECOVERY_STEPS.find(([i]) => i === id)![1];
    const s: RecoveryStep = { id, label, status, evidence, ms: 0 };
    steps.push(s);
    log().info(`[recover] ${status === 'ok' ? '✓' : '–'} ${label}: ${evidence}`);
    deps.onStep?.(s);
  };

  const step = async (id: RecoveryStepId, body: () => Promise<{ status?: 'ok' | 'skipped'; evidence: string }>): Promise<void> => {
    const label = RECOVERY_STEPS.find(([i]) => i === id)![1];
    const s0 = performance.now();
    try {
      const r = await body();
      const s: RecoveryStep = { id, label, status: r.status ?? 'ok', evidence: r.evidence, ms: Math.round(performance.now() - s0) };
      steps.push(s);
      log().info(`[recover] ${s.status === 'ok' ? '✓' : '–'} ${label}: ${r.evidence}`);
      deps.onStep?.(s);
    } catch (error) {
      const e = error as Error & { hint?: string };
      const rerun = opts.rerun ?? 'botctl recover --latest --yes';
      const next = e.hint ? `${e.hint}; then run \`${rerun}\`` : `fix the cause above, then run \`${rerun}\``;
      const s: RecoveryStep = { id, label, status: 'failed', evidence: e.message, ms: Math.round(performance.now() - s0), next };
      steps.push(s);
      log().error(`[recover] ✗ ${label}: ${e.message}. Langkah berikut: ${next}`);
      deps.onStep?.(s);
      report.duration_ms = Math.round(performance.now() - t0);
      // The step, the cause and the next command, in the one line every failure prints.
      const code = error instanceof BotctlError ? error.code : 'RECOVERY_STEP';
      const exit = error instanceof BotctlError ? error.exitCode : ExitCode.FAILURE;
      throw Object.assign(new StepFailed(code, exit, `recovery stopped at step "${id}" (${label}): ${e.message}`, { hint: next, cause: error }), {
        recovery: report,
      });
    }
  };

  // The bot pauses until the database, config and logs are back (released before checking it runs).
  const fence = deps.fence ? await deps.fence(sidecar.database?.name ?? 'the shop database') : undefined;
  let r: RestoreResult;
  try {
    // 1. Config first when it is gone: without it there is no DATABASE_URL to restore into.
    if (opts.configMissing) {
      await step('config', async () => {
        const r = await restoreBackup(deps.restoreDeps(), {
          archive,
          target: { kind: 'default' },
          withConfig: true,
          withLogs: false,
          yes: true,
          dryRun: false,
          allowOtherStore: false,
          configOnly: true,
          envFileDestination: opts.envFile,
        });
        const placed = r.placed.map((p) => path.relative(deps.config().baseDir, p.destination) || p.destination);
        configFiles = placed;
        deps.reloadConfig();
        return { evidence: `${placed.join(', ')} restored from ${archive.name} (the .env was missing)` };
      });
    }

    // 2. + 3. The database, through `backup restore` (verified first, one transaction); it takes the
    // safety copy of whatever is there when it would overwrite tables.
    await step('database', async () => {
      const c = deps.config();
      const url = c.databaseUrl;
      if (!url)
        throw new BotctlError('CONFIG', ExitCode.CONFIG, 'DATABASE_URL is not set, even after restoring the config', {
          hint: 'pass the settings with --env-file',
        });
      const sql = createSql(url, { max: 1, connectTimeoutSeconds: 5, idleTimeoutSeconds: 1 });
      let tables = -1;
      let missing = false;
      try {
        const [row] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`;
        tables = Number(row?.n ?? 0);
      } catch (error) {
        // 3D000: the server answers but the database is gone: it is created again.
        missing = (error as { code?: string }).code === '3D000';
        tables = -1;
      } finally {
        await sql.end({ timeout: 1 }).catch(() => undefined);
      }
      restore = await restoreBackup(deps.restoreDeps(), {
        archive,
        fenceCommand: 'recover',
        target: missing ? { kind: 'new', name: parseDatabaseUrl(url).database } : { kind: 'default' },
        withConfig: !opts.configMissing,
        withLogs: true,
        yes: true,
        dryRun: false,
        allowOtherStore: false,
      });
      report.safety_backup = restore.safety_backup?.name ?? null;
      if (restore.safety_backup) record('safety_backup', 'ok', `${restore.safety_backup.name} (${tables} tables were there)`);
      else
        record(
          'safety_backup',
          'skipped',
          missing
            ? 'the database did not exist (created again): nothing to save'
            : tables < 0
              ? 'the database did not answer: nothing to save'
              : 'the database held no tables: nothing to save',
        );
      const r = restore;
      return {
        evidence: `${r.tables.length} tables, ${r.plan.rows} rows into "${r.plan.target.database}", counts match the manifest (${formatDuration(r.restore_ms)})`,
      };
    });
    r = restore!;
    if (!opts.configMissing) {
      const placed = r.placed.filter((p) => p.member.startsWith('config/'));
      configFiles = placed.map((p) => path.relative(deps.config().baseDir, p.destination) || p.destination);
      await step('config', async () => ({
        evidence: placed.length ? `${configFiles.join(', ')} put back (previous copies kept as *.bak-<time>)` : 'the backup holds no config files',
      }));
    }

    // 4. Logs: files missing here came back from the backup; files present were kept, with any
    // lines only the backup had merged in by time.
    await step('logs', async () => {
      const logs = r.placed.filter((p) => p.member.startsWith('logs/'));
      logsRestored = logs.filter((p) => p.action === 'placed').length;
      logsPresent = logs.length - logsRestored;
      const merged = logs.filter((p) => p.action === 'merged').length;
      const failed = r.not_placed.filter((p) => p.member.startsWith('logs/'));
      if (failed.length) {
        throw new BotctlError(
          'LOGS_NOT_RESTORED',
          ExitCode.PARTIAL,
          `${failed.length} log file(s) could not be put back: ${failed.map((f) => `${f.member}: ${f.error}`).join('; ')}`,
          {
            hint: `the backup's copies are at ${failed.map((f) => f.staged).join(', ')}`,
          },
        );
      }
      return {
        evidence: `${logsRestored} log file(s) restored into ${deps.config().logPath}, ${logsPresent} already present (kept${merged ? `, ${merged} with the backup's missing lines merged in` : ''})`,
      };
    });
    report.restored = {
      tables: r.tables.length,
      rows: r.plan.rows,
      config_files: configFiles,
      log_files_restored: logsRestored,
      log_files_present: logsPresent,
    };
  } finally {
    fence?.release();
  }

  // 5. Telegram: the token works and the bot process is up (its supervisor restarts it).
  await step('telegram', async () => {
    const c = deps.config();
    const api = deps.botApi();
    if (!api) throw new BotctlError('CONFIG', ExitCode.CONFIG, 'TELEGRAM_BOT_TOKEN is not set in the restored config');
    let me: { username?: string };
    try {
      me = await api.call<{ username?: string }>('getMe', {}, { timeoutMs: c.health.telegramTimeoutMs });
    } catch (error) {
      throw new BotctlError('TELEGRAM', ExitCode.FAILURE, `getMe failed: ${(error as Error).message}`, {
        hint: 'check TELEGRAM_BOT_TOKEN (revoked? use @BotFather) and the network to TELEGRAM_API_ROOT',
      });
    }
    const deadline = Date.now() + opts.waitBotMs;
    for (;;) {
      const hb = readHeartbeat(c.stateDir, 'bot');
      const fresh = hb && !hb.stopped_at && Date.now() - Date.parse(hb.at) < c.health.heartbeatStaleMs;
      if (fresh)
        return { evidence: `@${me.username ?? '?'} answered getMe; bot process pid ${hb.pid} heartbeat ${formatDuration(Date.now() - Date.parse(hb.at))} ago` };
      if (Date.now() >= deadline) {
        throw new BotctlError(
          'BOT_NOT_RUNNING',
          ExitCode.FAILURE,
          `@${me.username ?? '?'} answers getMe, but the bot process is not running (no fresh heartbeat in ${c.stateDir})`,
          {
            hint: 'start the bot (systemctl start / docker compose up -d / pnpm bot), then run `botctl healthcheck` and tell the owner',
          },
        );
      }
      await deps.sleep(1000);
    }
  });

  // 6. Health check: nothing critical.
  await step('health', async () => {
    const checks = await deps.checks();
    const bad = checks.filter((c) => c.status === 'critical' || c.status === 'unknown');
    if (bad.length) {
      throw new BotctlError('HEALTH', ExitCode.FAILURE, `health check not normal: ${bad.map((b) => `${b.id}: ${b.fact}`).join('; ')}`, {
        hint: 'fix what the health check reports, then run `botctl healthcheck`',
      });
    }
    return { evidence: summaryLine(checks) };
  });

  // 7. The owner hears that the store is back, with what was restored and how long it took.
  report.duration_ms = Math.round(performance.now() - t0);
  await step('owner', async () => {
    const c = deps.config();
    const text = [
      `✅ ${c.storeName} sudah pulih dan berjalan normal`,
      `Dipulihkan dari: ${archive.name} (dibuat ${sidecar.created_at})`,
      `Database: ${r.tables.length} tabel, ${r.plan.rows} baris`,
      `Konfigurasi: ${configFiles.length ? configFiles.join(', ') : '-'}`,
      `Log: ${logsRestored} file dipulihkan`,
      ...(report.safety_backup ? [`Salinan pengaman kondisi sebelumnya: ${report.safety_backup}`] : []),
      `Durasi pemulihan: ${formatDuration(Math.round(performance.now() - t0))}`,
    ].join('\n');
    const d = await deps.notifyOwners(text);
    if (!d.configured)
      throw new BotctlError('ALERT_FAILED', ExitCode.ALERT_FAILED, `owners not told: ${d.problem ?? 'alerts are not configured'}`, {
        hint: 'set OWNER_BOT_TOKEN and TELEGRAM_OWNER_IDS',
      });
    if (!d.ok) {
      throw new BotctlError('ALERT_FAILED', ExitCode.ALERT_FAILED, `owners not told: ${d.failed.map((f) => `${f.chat_id}: ${f.reason}`).join('; ')}`, {
        hint: 'tell the owner another way; `botctl alert test` checks the notification bot',
      });
    }
    return { evidence: 'recovery notice delivered' };
  });
  report.duration_ms = Math.round(performance.now() - t0);
  report.ok = true;
  log().info(`[recover] Pemulihan selesai dalam ${formatDuration(report.duration_ms)}`);
  return report;
}
