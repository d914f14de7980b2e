import type { Command } from 'commander';
import { resolveArchiveArg } from '@botctl/maintenance';
import { drillBackup, drillPassedText } from '@botctl/maintenance';
import { renderDrill } from '../../render/restore.js';
import type { Run } from '../types.js';

export function registerBackupDrill(backup: Command, run: Run): void {
  backup
    .command('drill')
    .description('the monthly restore test: restore into a scratch database, compare with the manifest, drop it')
    .argument('[file]', 'archive name or path (default: the newest complete backup)')
    .option('--latest', 'the newest complete backup (the default)')
    .action(
      run<{ latest?: boolean }>(async (ctx, _opts, args) => {
        ctx.alertSubject = 'Uji restore (drill)';
        const file = args[0];
        const { result, error } = await drillBackup(ctx.backupDeps(), { archive: file ? resolveArchiveArg(file, ctx.local, ctx.io.cwd) : 'latest' });
        if (!error) {
          const passed = drillPassedText(result);
          ctx.successAlert = passed.text;
          ctx.successAlertLoud = passed.loud;
        }
        ctx.emit(result, () => renderDrill(result, ctx.style));
        if (error) throw error;
      }),
    );
}
