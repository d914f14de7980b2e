import path from 'node:path';
import { isoWithOffset, systemClock, tenantBaseDir } from '@botctl/core';
import { initTenant } from '@botctl/maintenance';
import type { Command } from 'commander';
import type { Run } from './types.js';
import { shippedPath } from '@botctl/core/shipped';

/** .env.example beside the checkout or the installed release. */
const TEMPLATE = shippedPath('envExample');

export function registerInit(cmd: Command, run: Run): void {
  cmd
    .command('tenant <name>')
    .description("write a new tenant's env file (0600) from .env.example with a new age identity and data key; then fill in what it lists")
    .option('--out <file>', 'the env file to write (default: <name>/.env here)')
    .action(
      run<{ out?: string }>(async (ctx, opts, args) => {
        const name = args[0]!;
        const envFile = path.resolve(ctx.io.cwd, opts.out ?? path.join(name, '.env'));
        const r = await initTenant({
          name,
          envFile,
          dataDir: tenantBaseDir(envFile, ctx.io.env),
          templateFile: TEMPLATE,
          createdAt: isoWithOffset(systemClock.now(), 'UTC'),
        });
        ctx.emit({ ok: true, ...r }, () =>
          [
            `Wrote ${r.env_file} (0600): store ${name}, backups encrypted to ${r.recipient}, a new DATA_ENCRYPTION_KEY.`,
            `The identity that decrypts them is ${r.identity_file}: move it OFF this server (you need it to restore).`,
            '',
            `Fill in: ${r.to_fill.join(', ')}`,
            `Then: botctl --env-file ${r.env_file} config check && botctl --env-file ${r.env_file} preflight`,
          ].join('\n'),
        );
      }),
    );
}
