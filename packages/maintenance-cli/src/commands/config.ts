import { ExitCode, inspectConfig } from '@botctl/core';
import type { Command } from 'commander';
import type { Run } from './types.js';

export function registerConfig(cmd: Command, run: Run): void {
  const config = cmd;
  config
    .command('check')
    .description('read the env file as every command does and print every problem: unreadable lines, invalid or unknown settings (exit 3 if any)')
    .action(
      run(async (ctx) => {
        const r = inspectConfig({ envFile: ctx.options.envFile, cwd: ctx.io.cwd, env: ctx.io.env });
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
