import { ConfigError, ExitCode, inspectConfig, requireSettings } from '@botctl/core';
import type { Command } from 'commander';
import type { Run } from './types.js';

export function registerConfig(cmd: Command, run: Run): void {
  const config = cmd;
  config
    .command('check')
    .description('read the env file as every command does and print every problem: unreadable lines, invalid or unknown settings (exit 3 if any)')
    .option(
      '--ready',
      'also require what the shop bot and the scheduled backups need: DATABASE_URL, TELEGRAM_BOT_TOKEN, DATA_ENCRYPTION_KEY, backup encryption',
    )
    .action(
      run<{ ready?: boolean }>(async (ctx, opts) => {
        const r = inspectConfig({ envFile: ctx.options.envFile, cwd: ctx.io.cwd, env: ctx.io.env });
        if (opts.ready && r.loaded) {
          try {
            requireSettings(r.loaded.config, ['database', 'telegram', 'encryption']);
          } catch (error) {
            if (!(error instanceof ConfigError)) throw error;
            r.problems.push(...error.problems);
          }
          if (!r.loaded.config.dataEncryptionKey) r.problems.push('DATA_ENCRYPTION_KEY is not set (`botctl keygen --data-key`)');
        }
        const ok = r.problems.length === 0 && r.warnings.length === 0;
        const result = { ok, env_file: r.envFile ?? null, problems: r.problems, warnings: r.warnings };
        ctx.emit(result, () =>
          ok
            ? `${r.envFile ?? 'environment'}: settings are valid`
            : [...r.problems.map((p) => `${ctx.style.red('✗')} ${p}`), ...r.warnings.map((w) => `${ctx.style.yellow('⚠')} ${w}`)].join('\n'),
        );
        if (!ok) {
          ctx.exitCode = ExitCode.CONFIG;
          ctx.io.stderr.write(
            `botctl: error: ${r.problems.length} problem(s), ${r.warnings.length} warning(s) in ${r.envFile ?? 'the settings'}\nhint: fix the lines above; docs/configuration.md lists every setting\n`,
          );
        }
      }),
    );
}
