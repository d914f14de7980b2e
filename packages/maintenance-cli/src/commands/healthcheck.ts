import path from 'node:path';
import type { Command } from 'commander';
import { runHealthcheck } from '@botctl/maintenance';
import { renderHealth } from '../render/health.js';
import type { Run } from './types.js';

interface Opts {
  alert?: boolean;
  textfile?: string;
}

export function registerHealthcheck(cmd: Command, run: Run): void {
  cmd
    .option('--no-alert', 'check and report, but do not message the owners')
    .option('--textfile <dir>', "write Prometheus metrics for node_exporter's textfile collector into DIR")
    .action(
      run<Opts>(async (ctx, opts) => {
        ctx.nagios = true;
        const alert = opts.alert !== false && ctx.alertsEnabled;
        const report = await runHealthcheck(
          {
            ...ctx.healthInputs(),
            log: ctx.log,
            notify: alert ? (text, o) => ctx.notifyOwners(text, o) : undefined,
          },
          { textfileDir: opts.textfile ? path.resolve(ctx.io.cwd, opts.textfile) : undefined },
        );
        ctx.emit({ ok: report.status === 'ok', ...report }, () => renderHealth(report, ctx.style, ctx.config));
        ctx.exitCode = report.exit_code;
      }),
    );
}
