import path from 'node:path';
import { isoWithOffset, systemClock } from '@botctl/core';
import type { Command } from 'commander';
import { generateIdentityFile } from '@botctl/maintenance';
import { writeDataKeyFile } from '@botctl/maintenance';
import type { Run } from './types.js';

interface Opts {
  output?: string;
  dataKey?: boolean;
}

export function registerKeygen(cmd: Command, run: Run): void {
  cmd
    .option('-o, --output <file>', 'where to write the identity (never overwritten)', 'botctl-backup-identity.txt')
    .option('--data-key', 'instead, write a new DATA_ENCRYPTION_KEY=... line (0600) for field encryption')
    .action(
      run<Opts>(async (ctx, opts) => {
        const file = path.resolve(ctx.io.cwd, opts.output ?? 'botctl-backup-identity.txt');
        if (opts.dataKey) {
          await writeDataKeyFile(file);
          ctx.emit({ ok: true, file }, () =>
            [
              `Wrote a new DATA_ENCRYPTION_KEY to ${file} (mode 0600).`,
              `Append it to the tenant's env file (cat ${opts.output} >> .env) and keep a copy off this server:`,
              'without it, stock secrets and SNK submissions cannot be read.',
            ].join('\n'),
          );
          return;
        }
        const { recipient } = await generateIdentityFile(file, isoWithOffset(systemClock.now(), 'UTC'));
        ctx.emit({ ok: true, recipient, identity_file: file }, () =>
          [
            recipient,
            '',
            ctx.style.dim(`Identity written to ${file} (mode 0600). Next:`),
            ctx.style.dim(`  1. put BACKUP_AGE_RECIPIENTS=${recipient} in the tenant's env file;`),
            ctx.style.dim('  2. move the identity file OFF this server (password manager, an admin laptop):'),
            ctx.style.dim('     then a stolen server cannot read old backups; you need it to verify fully and restore.'),
          ].join('\n'),
        );
      }),
    );
}
