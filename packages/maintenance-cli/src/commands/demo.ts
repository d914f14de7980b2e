import { BotctlError, ExitCode } from '@botctl/core';
import type { Command } from 'commander';
import { runDemo } from '../demo/run-demo.js';
import type { Run } from './types.js';

export function registerDemo(cmd: Command, run: Run): void {
  cmd
    .option('--keep', 'keep the demo folder (PostgreSQL stopped) to look around')
    .option('--scale <n>', 'multiply the sample data', '1')
    .action(
      run<{ keep?: boolean; scale: string }>(async (ctx, opts) => {
        const scale = Number(opts.scale);
        if (!Number.isInteger(scale) || scale < 1 || scale > 10_000) {
          throw new BotctlError('USAGE', ExitCode.USAGE, '--scale must be a whole number from 1 to 10000');
        }
        const result = await runDemo(ctx.reporter, {
          keep: Boolean(opts.keep),
          json: ctx.json,
          scale,
          stdout: ctx.io.stdout,
          stderr: ctx.io.stderr,
          color: ctx.style.level > 0,
        });
        ctx.emit(result, () =>
          result.ok
            ? [
                ctx.style.green(
                  '\n✓ Demo finished: a backup made, copied offsite, fully verified, drilled with its row counts, restored into a new database, checked.',
                ),
                '  The checklist fails "bot" and "monitoring" here on purpose: the demo runs no shop bot and has no owner to alert.',
              ].join('\n')
            : '',
        );
        if (!result.ok) {
          const failed = result.failed!;
          throw new BotctlError('DEMO_FAILED', failed.exit_code, `demo step failed: ${failed.command} (exit ${failed.exit_code})`);
        }
      }),
    );
}
