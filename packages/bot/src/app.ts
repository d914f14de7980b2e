import {
  BotApiError,
  BotctlError,
  ConfigError,
  ExitCode,
  type Clock,
  type Config,
  createLogger,
  createSql,
  DailyFileSink,
  describeDbError,
  runExpiredPaymentsJob,
  FieldCipher,
  runSnkPurgeJob,
  runBroadcastQueue,
  shopNotifier,
  InputFile,
  JobRecorder,
  type Logger,
  type MaintenanceMarker,
  migrate,
  type PaymentGateway,
  type Redactor,
  sendOwnerAlert,
  serviceLogDir,
  type Sql,
  teeLogger,
  writeHeartbeat,
} from '@botctl/core';
import { shippedVersion } from '@botctl/core/shipped';
import { createServices } from '@botctl/maintenance';
import type { UserFromGetMe } from 'telegraf/types';
import { createBot } from './create-bot.js';
import { dailyAt, Scheduler } from './jobs/scheduler.js';
import { BotMaintenance } from './maintenance.js';
import { startHttpServer, TELEGRAM_WEBHOOK_PATH } from './runtime/http-server.js';
import { MaintenanceGate, rememberFence } from './runtime/maintenance-gate.js';
import { ALLOWED_UPDATES, LongPoller, UpdateDispatcher } from './runtime/updates.js';

export const BOT_VERSION: string = shippedVersion(new URL('../package.json', import.meta.url));

export interface AppOptions {
  config: Config;
  redactor: Redactor;
  log: Logger;
  clock: Clock;
  /** Overrides for tests; by default built from the settings. */
  gateway?: PaymentGateway;
}

export interface RunningBot {
  httpUrl: string;
  botInfo: UserFromGetMe;
  /** Graceful stop: no new updates, in-flight updates and jobs finish, pool closed. */
  stop(reason: string): Promise<void>;
  /** Resolves if the bot stopped by itself (Telegram rejected the token). */
  ended: Promise<void>;
}

/** Starts the shop bot: migrations, Telegram, HTTP endpoint, jobs, heartbeat. */
export async function startBotApp(opts: AppOptions): Promise<RunningBot> {
  const { config, log, clock, redactor } = opts;
  const startedAt = clock.now();
  const cipher = FieldCipher.fromSecret(config.dataEncryptionKey);
  const sql: Sql = createSql(config.databaseUrl!, { max: 8, applicationName: 'shop-bot' });
  const stopping = new AbortController();

  const services = createServices(config, { redactor, log, clock, signal: stopping.signal, warn: (m) => log.warn(m) });
  const alerter = services.alerter();
  const alert = (text: string, o: { silent: boolean }) =>
    sendOwnerAlert(alerter, config.stateDir, redactor.redact(text), {
      silent: o.silent,
      now: clock.now(),
      onRecordError: (e) => log.warn(`cannot record the alert outcome: ${e.message}`),
    });
  const notifyOwners = async (text: string) => {
    const d = await alert(text, { silent: false });
    if (d.configured && !d.ok) log.warn(`owner notice not delivered: ${d.failed.map((f) => `${f.chat_id}: ${f.reason}`).join('; ')}`);
    return d;
  };

  // botctl restoring the database (recover, backup restore): no migration, no serving until done.
  const gate = new MaintenanceGate({ stateDir: config.stateDir, log, clock, timeZone: config.timezone });
  const tellFence = async (m: MaintenanceMarker, text: string) => {
    // Once per fence, however often a supervisor restarts the bot meanwhile.
    if (!rememberFence(config.stateDir, m.token, text)) return;
    await notifyOwners(text);
  };
  const waitedFor = await gate.waitBeforeStart(
    (m) => tellFence(m, `🔧 ${config.storeName}: bot menunggu — database sedang dipulihkan (botctl ${m.command}). Bot berjalan lagi setelah selesai.`),
    stopping.signal,
  );

  try {
    const m = await migrate(sql);
    log.info(m.applied.length ? `Database migrated to version ${m.current}: ${m.applied.join(', ')}` : `Database schema is current (version ${m.current})`);
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    throw describeDbError(error, 'cannot prepare the database');
  }

  const api = services.shopApi!;
  let botInfo: UserFromGetMe;
  try {
    botInfo = await api.call<UserFromGetMe>('getMe');
  } catch (error) {
    await sql.end({ timeout: 1 }).catch(() => {});
    if (error instanceof BotApiError && error.kind === 'unauthorized') {
      throw new ConfigError(['Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized)'], {
        hint: 'copy the token again from @BotFather; check TELEGRAM_API_ROOT',
      });
    }
    throw new BotctlError('TELEGRAM', ExitCode.FAILURE, (error as Error).message, {
      hint: 'check the network and TELEGRAM_API_ROOT; the bot cannot work without the Bot API',
    });
  }

  const gateway = opts.gateway ?? services.gateway;
  if (!services.gatewayConfigured) log.warn('PAKASIR_PROJECT_SLUG / PAKASIR_API_KEY not set: QRIS invoices cannot be created (balance payments still work)');

  const ownerApi = services.ownerApi;

  // Backups, prunes, log rotations, health runs and drills: in the bot's log and, like botctl's,
  // in logs/maintenance/ (the plan's audit trail, which `botctl status` reads).
  let maintenanceLogWarned = false;
  const maintenanceLog = teeLogger(
    log,
    createLogger({
      timeZone: config.timezone,
      level: config.logLevel,
      clock,
      redactor,
      sinks: [new DailyFileSink(serviceLogDir(config.logPath, 'maintenance'), config.timezone)],
      onSinkError: (e) => {
        if (maintenanceLogWarned) return;
        maintenanceLogWarned = true;
        log.warn(`cannot write the maintenance log in ${serviceLogDir(config.logPath, 'maintenance')}: ${(e as Error).message}`);
      },
    }),
  );
  const maintenance = new BotMaintenance({
    config,
    redactor,
    sql,
    api,
    log: maintenanceLog,
    clock,
    version: BOT_VERSION,
    startedAt,
    services,
    alert,
    signal: stopping.signal,
  });
  // The shop's notices (payments, deliveries): the owners through the notification bot, the admins here.
  const notifyShop = shopNotifier({ api, log, ownerIds: config.telegram.ownerIds, adminIds: config.telegram.adminIds, notifyOwners });
  const fulfilDeps = { sql, api, cipher, log, notifyOwners: notifyShop, deliveryRetryLimit: config.bot.deliveryRetryLimit };

  const shop = createBot({
    config,
    sql,
    api,
    cipher,
    gateway,
    log,
    clock,
    botInfo,
    notifyOwners,
    async sendOwnersPhoto(photo, caption) {
      if (!ownerApi) throw new Error('no notification bot token');
      for (const id of config.telegram.ownerIds) {
        await ownerApi.call('sendPhoto', { chat_id: id, photo: new InputFile(photo, 'snk.jpg', 'image/jpeg'), caption: `[${config.storeName}] ${caption}` });
      }
    },
    async downloadFile(fileId) {
      const f = await api.call<{ file_path?: string }>('getFile', { file_id: fileId });
      if (!f.file_path) throw new Error('Telegram gave no file_path');
      return api.downloadFile(f.file_path);
    },
    owner: {
      stats: () => maintenance.stats(),
      health: () => maintenance.healthReport(),
      backup: async () => (await maintenance.backup('manual')).text,
    },
  });
  const dispatcher = new UpdateDispatcher(async (u) => {
    await gate.wait();
    await shop.handleUpdate(u);
  });

  // Jobs
  // Each job's last success and failures in a row, for the health check's `jobs` check.
  let recorder: JobRecorder | undefined;
  const scheduler = new Scheduler({
    log,
    clock,
    paused: () => gate.paused !== undefined,
    onRun: async (name, outcome) => recorder?.record(name, outcome),
  });
  scheduler.add('expired_payments', { cron: config.bot.expiredPaymentsCron, timeZone: config.timezone }, async () => {
    await runExpiredPaymentsJob({ ...fulfilDeps, gateway: services.gatewayConfigured || opts.gateway ? gateway : undefined }, clock.now());
  });
  scheduler.add('snk_purge', { cron: config.bot.snkPurgeCron, timeZone: config.timezone }, async () => {
    await runSnkPurgeJob({ sql, log }, config.snkRetentionDays, clock.now());
  });
  // Broadcasts confirmed by the staff: a queue in the database, so a restart resumes it.
  scheduler.add('broadcast', { everyMs: 5_000 }, (signal) => runBroadcastQueue({ sql, api, log }, { budgetMs: 4_000, signal }), { recorded: false });
  scheduler.add('log_rotate', { cron: config.logs.rotateCron, timeZone: config.timezone }, () => maintenance.rotateLogs());
  if (config.backup.enableAuto) {
    scheduler.add('auto_backup', { cron: dailyAt(config.backup.time), timeZone: config.timezone }, async () => {
      const r = await maintenance.backup('scheduled');
      if (!r.ok) throw new Error(r.text);
    });
  }
  if (config.backup.enableAutoDrill) {
    scheduler.add('auto_drill', { cron: config.backup.drillCron, timeZone: config.timezone }, (signal) => maintenance.drill(signal));
  }
  if (config.health.enableAuto) {
    scheduler.add('auto_healthcheck', { everyMs: config.health.intervalMinutes * 60_000 }, () => maintenance.scheduledHealthcheck());
  }
  const beat = (stoppedAt?: Date) => {
    const p = gate.paused;
    return writeHeartbeat(config.stateDir, {
      service: 'bot',
      version: BOT_VERSION,
      started_at: startedAt.toISOString(),
      at: clock.now().toISOString(),
      ...(stoppedAt ? { stopped_at: stoppedAt.toISOString() } : {}),
      ...(p ? { paused: { command: p.command, since: p.started_at, token: p.token } } : {}),
    });
  };
  scheduler.add('heartbeat', { everyMs: config.bot.heartbeatMs, runAtStart: true }, () => beat(), { duringMaintenance: true, recorded: false });
  recorder = new JobRecorder(config.stateDir, { jobs: scheduler.names().map((j) => j.name), startedAt });
  await recorder.flush().catch((e: unknown) => log.warn(`cannot write the job records in ${config.stateDir}: ${(e as Error).message}`));

  // HTTP endpoint and updates
  const webhook = config.bot.mode === 'webhook';
  const server = await startHttpServer(
    {
      sql,
      gateway,
      log,
      fulfil: fulfilDeps,
      telegramSecret: webhook ? config.bot.webhookSecret?.reveal() : undefined,
      onTelegramUpdate: webhook ? (u) => dispatcher.dispatch(u) : undefined,
      startedAt,
      paused: () => gate.paused !== undefined,
    },
    config.bot.httpHost,
    config.bot.httpPort,
  );
  let poller: LongPoller | undefined;
  if (webhook) {
    const url = `${config.bot.webhookUrl!.replace(/\/+$/, '')}${TELEGRAM_WEBHOOK_PATH}`;
    await api.call('setWebhook', { url, secret_token: config.bot.webhookSecret!.reveal(), allowed_updates: ALLOWED_UPDATES, max_connections: 20 });
  } else {
    await api.call('deleteWebhook', { drop_pending_updates: false });
    poller = new LongPoller({ api, dispatcher, log, gate });
    poller.start();
  }
  scheduler.start();
  gate.watch({
    onPause: async (m) => {
      // What is in flight finishes; nothing new starts. The restore then finds no bot transaction.
      await dispatcher.drain();
      await scheduler.idle();
      await beat().catch(() => undefined);
      await tellFence(m, `🔧 ${config.storeName}: bot dijeda — database sedang dipulihkan (botctl ${m.command}). Pesan pembeli menunggu sampai selesai.`);
    },
    onResume: async (m) => {
      // The restored database may be of an older schema version.
      const r = await migrate(sql);
      if (r.applied.length) log.info(`Database migrated to version ${r.current} after the restore: ${r.applied.join(', ')}`);
      await beat().catch(() => undefined);
      await tellFence(m, `▶️ ${config.storeName}: pemulihan database selesai, bot berjalan lagi.`);
    },
  });
  await api
    .call('setMyCommands', {
      commands: [
        { command: 'start', description: 'Menu utama' },
        { command: 'produk', description: 'Daftar produk' },
        { command: 'saldo', description: 'Saldo dan deposit' },
        { command: 'pesanan', description: 'Pesanan saya' },
      ],
    })
    .catch((e: unknown) => log.warn(`setMyCommands: ${(e as Error).message}`));
  const staffCommands = [
    { command: 'order', description: 'Detail satu pesanan' },
    { command: 'stok', description: 'Stok per produk' },
    { command: 'broadcast', description: 'Pesan ke semua pembeli' },
    { command: 'blokir', description: 'Blokir pembeli' },
    { command: 'buka', description: 'Buka blokir pembeli' },
    { command: 'admin', description: 'Bantuan admin' },
  ];
  for (const id of new Set([...config.telegram.ownerIds, ...config.telegram.adminIds])) {
    const owner = config.telegram.ownerIds.includes(id);
    await api
      .call('setMyCommands', {
        scope: { type: 'chat', chat_id: id },
        commands: [
          { command: 'start', description: 'Menu utama' },
          ...(owner
            ? [
                { command: 'stats', description: 'Statistik hari ini' },
                { command: 'health', description: 'Jalankan health check' },
                { command: 'backup', description: 'Buat backup sekarang' },
              ]
            : []),
          ...staffCommands,
        ],
      })
      .catch(() => {});
  }
  if (waitedFor) await tellFence(waitedFor, `▶️ ${config.storeName}: pemulihan database selesai, bot berjalan lagi.`);
  log.info(
    `Bot @${botInfo.username} started (${webhook ? 'webhook' : 'long polling'}; HTTP ${server.url}; jobs: ${scheduler
      .names()
      .map((j) => j.name)
      .join(', ')})`,
  );

  let stopped: Promise<void> | undefined;
  return {
    httpUrl: server.url,
    botInfo,
    ended: poller?.ended ?? new Promise<void>(() => {}),
    stop(reason) {
      stopped ??= (async () => {
        log.info(`Stopping (${reason}): finishing updates and jobs in progress`);
        gate.stop();
        const pollerDone = poller?.stop();
        await server.close();
        await pollerDone;
        await dispatcher.drain();
        const jobsDone = await scheduler.stop(30_000);
        if (!jobsDone) log.warn('a job did not finish within 30 s; stopping anyway');
        stopping.abort(new Error('stopped'));
        await beat(clock.now()).catch(() => {});
        await sql.end({ timeout: 5 });
        log.info('Bot stopped');
      })();
      return stopped;
    },
  };
}
