import os from 'node:os';
import { BotctlError, ExitCode, type BotApi, type Clock, type Config, escapeHtml, formatDurasi, type Logger, type Redactor, type Sql } from '@botctl/core';
import {
  acquireLock,
  type Services,
  backupDoneText,
  failureAlertText,
  successAlertText,
  drillBackup,
  drillPassedText,
  drillToTime,
  pitrDrillPassedText,
  logArchiveStores,
  rotateLogs,
  createBackup,
  type HealthMetrics,
  pruneBackups,
  realSystem,
  runChecks,
  runHealthcheck,
  shopMetrics,
  silentReporter,
  summaryLine,
} from '@botctl/maintenance';

export interface MaintenanceDeps {
  config: Config;
  redactor: Redactor;
  sql: Sql;
  api: BotApi;
  log: Logger;
  clock: Clock;
  version: string;
  startedAt: Date;
  /** Storages, pg_dump, encryption and the lock, as botctl builds them. */
  services: Services;
  /** Owner alert through the notification bot, recorded like botctl's. */
  alert(text: string, opts: { silent: boolean }): Promise<{ ok: boolean }>;
  signal?: AbortSignal;
}

const ICON = { ok: '✅', warning: '⚠️', critical: '❌', unknown: '❔' } as const;

/**
 * The same library code as `botctl backup create`, `backup prune` and `healthcheck`, run inside
 * the bot: the automatic jobs and the owners' /backup, /health and /stats.
 */
export class BotMaintenance {
  constructor(readonly deps: MaintenanceDeps) {}

  #storeDeps() {
    const { config, log, clock } = this.deps;
    return {
      config,
      local: this.deps.services.local,
      offsite: this.deps.services.offsite,
      reporter: silentReporter,
      log,
      clock,
      lock: this.deps.services.lock,
      signal: this.deps.signal,
    };
  }

  /** One backup; `scheduled` follows BACKUP_AUTOMATIC_OFFSITE and prunes afterwards like cron_backup.sh. */
  async backup(kind: 'scheduled' | 'manual'): Promise<{ ok: boolean; text: string }> {
    const { config, log } = this.deps;
    const subject = kind === 'scheduled' ? 'Backup otomatis' : 'Backup';
    try {
      if (!config.databaseUrl) throw new BotctlError('CONFIG', ExitCode.CONFIG, 'DATABASE_URL is not set');
      const result = await createBackup(
        {
          ...this.#storeDeps(),
          dumper: this.deps.services.dumper(),
          encryption: this.deps.services.encryption(),
          toolVersion: this.deps.version,
        },
        { offsite: config.backup.automaticOffsite, includeLogs: true, kind },
      );
      const text = backupDoneText(subject, result);
      if (result.status !== 'ok') {
        await this.deps.alert(`⚠️ ${text}`, { silent: false });
        return { ok: false, text };
      }
      if (kind === 'scheduled') {
        const r = config.backup.retention;
        try {
          const pruned = await pruneBackups(
            this.#storeDeps(),
            { ...r, preRestoreKeepDays: config.backup.preRestoreKeepDays },
            { offsite: config.backup.automaticOffsite, dryRun: false },
          );
          log.info(`Prune backup: ${pruned.locations.map((l) => `${l.location} ${l.removed} dihapus, ${l.kept} disimpan`).join('; ')}`);
        } catch (error) {
          log.warn(`Prune backup gagal: ${this.deps.redactor.redact((error as Error).message)}`);
        }
      }
      await this.deps.alert(successAlertText(text), { silent: true });
      return { ok: true, text };
    } catch (error) {
      const message = this.deps.redactor.redact((error as Error).message);
      log.error(`${subject} GAGAL: ${message}`);
      await this.deps.alert(
        failureAlertText(subject, error, (s) => this.deps.redactor.redact(s)),
        { silent: false },
      );
      return { ok: false, text: `❌ ${subject} GAGAL: ${message}` };
    }
  }

  /**
   * The daily `log_rotate` job: the same code as `botctl logs rotate` (and cron_backup.sh); both
   * take the lock in LOG_ARCHIVE_DIR, so when the host's cron is rotating, this run is skipped.
   */
  async rotateLogs(): Promise<void> {
    const { config, log, clock } = this.deps;
    if (!config.backup.encryptionPassword && config.backup.ageRecipients.length === 0) {
      // Not rotated is not done: the job record (and so the health check) says so.
      throw new Error('[logs] Rotasi log dilewati: enkripsi backup belum diatur (BACKUP_AGE_RECIPIENTS atau BACKUP_ENCRYPTION_PASSWORD)');
    }
    let result: Awaited<ReturnType<typeof rotateLogs>>;
    try {
      result = await rotateLogs({
        config,
        ...logArchiveStores(config, this.deps.redactor),
        log,
        clock,
        signal: this.deps.signal,
        encryption: this.deps.services.encryption,
        decryption: this.deps.services.decryption,
        lock: (command) => acquireLock(config.logs.archiveDir, command, clock, config.timezone),
      });
    } catch (error) {
      if (error instanceof BotctlError && error.exitCode === ExitCode.LOCKED) {
        log.info('[logs] Rotasi log dilewati: proses lain sedang merotasi log');
        return;
      }
      const message = this.deps.redactor.redact((error as Error).message);
      log.error(`[logs] Rotasi log GAGAL: ${message}`);
      await this.deps.alert(
        failureAlertText('Rotasi log', error, (s) => this.deps.redactor.redact(s)),
        { silent: false },
      );
      throw new Error(`Rotasi log GAGAL: ${message}`);
    }
    if (!result.ok) {
      const failed = result.archives.filter((a) => a.offsite === 'failed').map((a) => a.name);
      const text = `Rotasi log: salinan offsite gagal untuk ${failed.join(', ')}; file log disimpan sampai berhasil`;
      await this.deps.alert(`⚠️ ${text}`, { silent: false });
      throw new Error(text);
    }
  }

  /**
   * The monthly restore drill (ENABLE_AUTO_DRILL, BACKUP_DRILL_CRON): `botctl backup drill
   * --latest --scheduled` inside the bot, told to the owners the same way. Throws when it failed
   * (a failed job in the records). `stopping` (the scheduler's, raised as the bot begins to stop)
   * cuts it short at once: a drill proves something and changes nothing, so a restart need not
   * wait for it; its scratch database and folder go as it unwinds, and no owner is told it failed.
   */
  async drill(stopping?: AbortSignal): Promise<void> {
    const { config, redactor, services } = this.deps;
    const signals = [this.deps.signal, stopping].filter((s): s is AbortSignal => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    const drillDeps = {
      ...this.#storeDeps(),
      ...(signal ? { signal } : {}),
      decryption: services.decryption,
      redactor,
      pgBinDir: config.pgBinDir,
      env: process.env,
    };
    const fail = async (error: unknown): Promise<never> => {
      const message = redactor.redact((error as Error).message);
      if (stopping?.aborted) throw new Error(`Uji restore (drill) dihentikan: bot berhenti (${message})`);
      await this.deps.alert(
        failureAlertText('Uji restore (drill)', error as Error, (s) => redactor.redact(s)),
        { silent: false },
      );
      throw new Error(`Uji restore (drill) GAGAL: ${message}`);
    };
    const { result, error } = await drillBackup(drillDeps, { archive: 'latest' });
    if (error) await fail(error);
    const passed = drillPassedText(result);
    let text = passed.text;
    // Where the cluster archives WAL, the point-in-time path is proven too (as `backup drill` does).
    if (config.walClusterEnvFile) {
      try {
        const deps = await services.pointInTimeDeps({
          ...drillDeps,
          encryption: () => services.encryption(),
          dumperFor: (url) => services.dumper(url),
          toolVersion: this.deps.version,
        });
        const r = await drillToTime(deps);
        if (!r.ok) throw new BotctlError('PITR_DRILL', ExitCode.INTEGRITY, `point-in-time drill: ${r.error}`);
        this.deps.log.info(`[drill] Uji restore titik waktu berhasil: ${r.base_backup} + WAL sampai ${r.reached ?? '?'}`);
        text = `${text}\n${pitrDrillPassedText(r)}`;
      } catch (e) {
        await fail(e);
      }
    }
    await this.deps.alert(successAlertText(text), { silent: !passed.loud });
  }

  /** The automatic health check: checks, remembered state and owner alerts, exactly like botctl's. */
  async scheduledHealthcheck(): Promise<void> {
    await runHealthcheck(
      {
        ...this.#checkDeps(),
        log: this.deps.log,
        notify: (text, o) => this.deps.alert(text, o) as never,
      },
      { textfileDir: undefined },
    );
  }

  #checkDeps() {
    return this.deps.services.healthInputs(this.deps.signal);
  }

  /** /health: runs every check now and answers with the result; the alert state is left to the schedule. */
  async healthReport(): Promise<string> {
    const { checks } = await runChecks(this.#checkDeps());
    const lines = [`🩺 <b>Health check</b>: ${escapeHtml(summaryLine(checks))}`, ''];
    for (const c of checks) lines.push(`${ICON[c.status]} ${escapeHtml(c.id)}: ${escapeHtml(c.fakta || c.fact)}`);
    return lines.join('\n');
  }

  /** /stats: today's shop figures (BOT_TIMEZONE), uptime and resources. */
  async stats(): Promise<string> {
    const { config, sql, clock } = this.deps;
    const now = clock.now();
    const m: HealthMetrics = {};
    await shopMetrics(sql, config.timezone, now, m);
    const [cpu, fsu] = await Promise.all([realSystem.cpuBusy(500), realSystem.filesystem(config.baseDir).catch(() => undefined)]);
    const mem = realSystem.memory();
    const pct = (x: number) => `${(x * 100).toFixed(0)}%`;
    return [
      `📊 <b>Statistik hari ini</b> (${escapeHtml(config.storeName)})`,
      `Transaksi: ${m.transactions_today ?? 0} (lunas ${m.paid_today ?? 0}, gagal ${m.failed_today ?? 0})`,
      `Pendapatan: Rp${(m.revenue_today ?? 0).toLocaleString('id-ID')}`,
      `Error rate: ${pct(m.error_rate_today ?? 0)}`,
      `Uptime bot: ${formatDurasi(now.getTime() - this.deps.startedAt.getTime())}`,
      `CPU ${pct(cpu)} · RAM ${pct(1 - mem.available / mem.total)} · Disk ${fsu ? pct(fsu.usedRatio) : '?'}`,
      `Host: ${escapeHtml(os.hostname())}`,
    ].join('\n');
  }
}
