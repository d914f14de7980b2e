import {
  type Config,
  type Fence,
  formatDuration,
  holderState,
  LockedError,
  parseDatabaseUrl,
  raiseFence,
  readHeartbeat,
  RefusedError,
  type Secret,
  shownTime,
} from '@botctl/core';

/** Whether `url` names the database the shop bot of these settings uses. */
export function isShopDatabase(config: Config, url: Secret): boolean {
  if (!config.databaseUrl) return false;
  const a = parseDatabaseUrl(config.databaseUrl);
  const b = parseDatabaseUrl(url);
  return a.database === b.database && a.port === b.port && a.host === b.host;
}

/**
 * Puts up the maintenance fence (BOT_STATE_DIR/maintenance.json) so the shop bot pauses, then
 * waits (up to `waitMs`) for a running bot to confirm it through its heartbeat. A bot that is not
 * running, or does not confirm (an older version), is reported; its writes would still wait for
 * the restore's locks.
 */
export async function fenceTheBot(
  config: Config,
  opts: { command: string; database: string; waitMs?: number; warn: (m: string) => void; step: (m: string) => void },
): Promise<Fence> {
  let fence: Fence;
  try {
    fence = raiseFence(config.stateDir, { command: opts.command, database: opts.database });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { marker?: { pid: number; host: string; command: string; database: string; started_at: string } };
    if (e.code === 'FENCED' && e.marker) {
      const m = e.marker;
      throw new LockedError(`${m.command} (pid ${m.pid} on ${m.host}, since ${shownTime(m.started_at, config.timezone)}) is already restoring ${m.database}`, {
        hint: 'wait for it to finish',
      });
    }
    throw new RefusedError(`cannot put up the maintenance fence in ${config.stateDir} (${e.code ?? e.message}): the bot would go on during the restore`, {
      hint: 'let botctl write BOT_STATE_DIR (the same group as the bot), or stop the bot first',
    });
  }
  if (fence.shared) return fence;
  // A running bot (fresh heartbeat, its process there) confirms the pause in its heartbeat.
  const hb = readHeartbeat(config.stateDir, 'bot');
  const fresh = hb && !hb.stopped_at && Date.now() - Date.parse(hb.at) < config.health.heartbeatStaleMs;
  if (!fresh || holderState({ pid: hb.pid, host: hb.host }) === 'dead') return fence;
  opts.step('Pausing the shop bot for the restore (maintenance fence)');
  const deadline = Date.now() + (opts.waitMs ?? 15_000);
  const t0 = Date.now();
  while (Date.now() < deadline) {
    const now = readHeartbeat(config.stateDir, 'bot');
    // Stopped, or gone meanwhile (a supervisor restarting it): it will find the fence at start.
    if (!now || now.stopped_at || holderState({ pid: now.pid, host: now.host }) === 'dead') return fence;
    if (now.paused?.token === fence.marker.token) {
      opts.step(`The bot paused (${formatDuration(Date.now() - t0)})`);
      return fence;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  opts.warn('the bot did not confirm the pause (an older version?); its writes wait for the restore to finish instead');
  return fence;
}
