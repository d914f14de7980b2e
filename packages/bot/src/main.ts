#!/usr/bin/env -S node --
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  activeMaintenance,
  BotctlError,
  ConfigError,
  createLogger,
  DailyFileSink,
  ExitCode,
  isJournalStream,
  type LoadedConfig,
  loadConfig,
  requireSettings,
  serviceLogDir,
  StreamSink,
  systemClock,
  tenantBaseDir,
} from '@botctl/core';
import { startBotApp } from './app.js';
import { describeFence } from './runtime/maintenance-gate.js';

/**
 * `pnpm bot [--env-file PATH]`: the shop bot. Settings as for botctl (`.env` in the working
 * directory, or `--env-file`). SIGINT/SIGTERM stop it gracefully; a second signal stops it at once.
 */
async function main(): Promise<number> {
  // `pnpm bot -- --env-file FILE` (the README's command): pnpm 10 passes the `--` on to us.
  const args = process.argv.slice(2);
  if (args[0] === '--') args.shift();
  const { values } = parseArgs({ args, options: { 'env-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write('usage: bot [--env-file PATH]\nStarts the Telegram shop bot. See README.md ("Running the shop bot").\n');
    return 0;
  }
  const { config, redactor, warnings } = await loadConfigBehindFence(values['env-file']);
  requireSettings(config, ['database', 'telegram']);
  if (!config.dataEncryptionKey) {
    throw new BotctlError('CONFIG', ExitCode.CONFIG, 'DATA_ENCRYPTION_KEY is not set: stock secrets and SNK answers are encrypted with it', {
      hint: 'generate one with `botctl keygen --data-key` and keep a copy outside the server',
    });
  }
  const log = createLogger({
    timeZone: config.timezone,
    level: config.logLevel,
    redactor,
    sinks: [new StreamSink(process.stdout, { journal: isJournalStream(1) }), new DailyFileSink(serviceLogDir(config.logPath, 'bot-order'), config.timezone)],
    onSinkError: (e) => process.stderr.write(`bot: cannot write the log file: ${(e as Error).message}\n`),
  });
  for (const w of warnings) log.warn(w);
  const bot = await startBotApp({ config, redactor, log, clock: systemClock });

  return new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (sig: NodeJS.Signals) => {
      signals++;
      if (signals > 1) {
        log.warn(`${sig} again: stopping now without waiting`);
        process.exit(sig === 'SIGINT' ? ExitCode.INTERRUPTED : ExitCode.TERMINATED);
      }
      bot.stop(sig).then(
        () => resolve(0),
        (e: unknown) => {
          log.error(`stop failed: ${(e as Error).message}`);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    bot.ended.then(
      () => bot.stop('polling ended').then(() => resolve(ExitCode.CONFIG)),
      (e: unknown) => {
        log.error(`polling stopped: ${(e as Error).message}`);
        void bot.stop('polling failed').then(() => resolve(ExitCode.CONFIG));
      },
    );
  });
}

/**
 * The settings, waiting for them while botctl recovers the shop: `recover` with the .env gone puts
 * the maintenance fence up in the tenant's state folder, then the .env back. A bot its supervisor
 * restarts meanwhile waits for the file behind that fence instead of exiting at once (systemd's
 * start limit would give up restarting it, and the shop would stay down after a good recovery).
 * Without a fence, a missing file is the configuration error it always was.
 */
async function loadConfigBehindFence(envFile: string | undefined): Promise<LoadedConfig> {
  if (!envFile) return loadConfig({});
  const file = path.resolve(envFile);
  // The .env that could name another BOT_STATE_DIR is the missing file: the environment's, else the default
  // (in the tenant's folder, /var/lib/botctl/NAME for an installed one).
  const stateDir = path.resolve(tenantBaseDir(file), process.env.BOT_STATE_DIR || 'state');
  const timeZone = validTimeZone(process.env.BOT_TIMEZONE) ?? 'Asia/Jakarta';
  const log = createLogger({ timeZone, sinks: [new StreamSink(process.stdout, { journal: isJournalStream(1) })] });
  let said: string | undefined;
  for (;;) {
    try {
      return loadConfig({ envFile: file });
    } catch (error) {
      const fence = error instanceof ConfigError && !fs.existsSync(file) ? activeMaintenance(stateDir) : undefined;
      if (!fence) throw error;
      if (said !== fence.token) {
        said = fence.token;
        log.warn(`[maintenance] ${describeFence(fence, timeZone)}: waiting for ${file} before starting`);
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

function validTimeZone(tz: string | undefined): string | undefined {
  try {
    return tz ? new Intl.DateTimeFormat('en', { timeZone: tz }).resolvedOptions().timeZone : undefined;
  } catch {
    return undefined;
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const e = error as BotctlError;
    const hint = e instanceof BotctlError && e.hint ? `\n  hint: ${e.hint}` : '';
    // Under systemd the journal reads `<3>` as the error priority (each line carries its own).
    const pri = isJournalStream(2) ? '<3>' : '';
    process.stderr.write(`${pri}bot: ${e?.message ?? String(error)}${hint.replace('\n', `\n${pri}`)}\n`);
    process.exitCode = e instanceof BotctlError ? e.exitCode : 1;
  },
);
