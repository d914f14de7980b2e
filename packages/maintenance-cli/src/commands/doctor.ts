import { BotctlError, ConfigError, ExitCode, formatBytes } from '@botctl/core';
import type { Command } from 'commander';
import { offsiteHint } from '@botctl/maintenance';
import { probeStorage } from '@botctl/maintenance';
import { RcloneStorage } from '@botctl/maintenance';
import type { Run } from './types.js';

/**
 * `botctl doctor offsite`: proves the offsite destination (rclone remote or folder) can take a
 * backup: write under a temporary name and move into place, read back with the same SHA-256,
 * rename, delete; then free space where the backend tells it. Exit 0 when all worked, 3 when
 * rclone is missing or too old, 1 when a step failed.
 */
export function registerDoctor(cmd: Command, run: Run): void {
  const doctor = cmd;
  doctor
    .command('offsite')
    .description('write, read back, rename and delete a probe object offsite (BACKUP_OFFSITE_REMOTE or BACKUP_OFFSITE_DIR); report free space')
    .action(
      run(async (ctx) => {
        const offsite = ctx.offsite;
        if (!offsite) throw new ConfigError(['no offsite destination configured: set BACKUP_OFFSITE_REMOTE (rclone) or BACKUP_OFFSITE_DIR']);
        const backend = offsite instanceof RcloneStorage ? 'rclone' : 'folder';
        ctx.reporter.step(`Probing ${offsite.description}`);
        const probe = await probeStorage(offsite, ctx.io.signal);
        const steps = probe.steps.map((s) => ({ ...s, detail: ctx.scrub(s.detail) }));
        const error = probe.error === undefined ? undefined : ctx.scrub(probe.error);
        ctx.log.log(
          probe.ok ? 'INFO' : 'ERROR',
          `[doctor] offsite ${offsite.description}: ${probe.ok ? `tulis, baca, ganti nama, hapus OK${probe.space?.free !== undefined ? `; ruang kosong ${formatBytes(probe.space.free)}` : ''}` : `GAGAL di ${error}`}`,
        );
        ctx.emit({ ok: probe.ok, destination: offsite.description, backend, steps, space: probe.space ?? null, ...(error ? { error } : {}) }, () => {
          const s = ctx.style;
          const lines = [`Offsite ${offsite.description} (${backend})`];
          for (const st of steps) {
            lines.push(`  ${st.ok ? s.green('✓') : s.red('✗')} ${st.step.padEnd(7)} ${st.detail} ${s.dim(`(${st.ms} ms)`)}`);
          }
          if (probe.space?.free !== undefined) {
            lines.push(`  free space: ${formatBytes(probe.space.free)}${probe.space.total !== undefined ? ` of ${formatBytes(probe.space.total)}` : ''}`);
          }
          lines.push(probe.ok ? 'Offsite is ready for backups.' : `Offsite is NOT usable: ${error}`);
          return lines.join('\n');
        });
        if (!probe.ok) {
          const missingTool = probe.steps.some((x) => x.step === 'ready' && !x.ok && x.unusable) && backend === 'rclone';
          throw new BotctlError(
            missingTool ? 'CONFIG' : 'OFFSITE_FAILED',
            missingTool ? ExitCode.CONFIG : ExitCode.FAILURE,
            `offsite probe failed at ${error}`,
            {
              hint: missingTool ? 'install rclone 1.60 or newer (Debian/Ubuntu: apt-get install rclone)' : offsiteHint(ctx.config),
            },
          );
        }
      }),
    );
}
