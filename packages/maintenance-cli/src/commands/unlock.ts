import path from 'node:path';
import { shownTime } from '@botctl/core';
import type { Command } from 'commander';
import { type UnlockResult, unlockStale } from '@botctl/maintenance';
import type { Run } from './types.js';

interface Opts {
  force?: boolean;
}

export function registerUnlock(cmd: Command, run: Run): void {
  cmd.option('--force', 'also remove a lock taken on another host (a shared folder): only when you know that run is dead').action(
    run<Opts>(async (ctx, opts) => {
      const c = ctx.config;
      const dirs = [c.backup.localDir, c.logs.archiveDir, path.join(c.stateDir, 'health')];
      const removed: (UnlockResult['removed'][number] & { dir: string })[] = [];
      const guards: string[] = [];
      for (const dir of dirs) {
        const r = unlockStale(dir, { force: opts.force === true, timeZone: c.timezone });
        removed.push(...r.removed.map((l) => ({ dir, ...l })));
        guards.push(...r.guards_removed.map((g) => path.join(dir, g)));
      }
      for (const l of removed)
        ctx.log.info(`Kunci usang dihapus: ${l.command} (pid ${l.pid} di ${l.host}, sejak ${shownTime(l.started_at, c.timezone)}) di ${l.dir}`);
      ctx.emit({ ok: true, removed, guards_removed: guards }, () =>
        removed.length === 0 && guards.length === 0
          ? 'No stale locks.'
          : removed
              .map(
                (l) =>
                  `removed the lock of ${l.command} (pid ${l.pid} on ${l.host}, since ${shownTime(l.started_at, c.timezone)}, ${l.state}) in ${ctx.displayPath(l.dir)}`,
              )
              .join('\n'),
      );
    }),
  );
}
