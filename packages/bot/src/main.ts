#!/usr/bin/env -S node --
import { parseArgs } from 'node:util';
import { BotctlError, createLogger, DailyFileSink, ExitCode, loadConfig, requireSettings, serviceLogDir, StreamSink, systemClock } from '@botctl/core';
import { startBotApp } from './app.js';

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
  const { config, redactor, warnings } = loadConfig({ envFile: values['env-file'] });
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
    sinks: [new StreamSink(process.stdout), new DailyFileSink(serviceLogDir(config.logPath, 'bot-order'), config.timezone)],
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

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    const e = error as BotctlError;
    const hint = e instanceof BotctlError && e.hint ? `\n  hint: ${e.hint}` : '';
    process.stderr.write(`bot: ${e?.message ?? String(error)}${hint}\n`);
    process.exitCode = e instanceof BotctlError ? e.exitCode : 1;
  },
);
