import fs from 'node:fs';
import path from 'node:path';
import { activeMaintenance, type Clock, type Logger, type MaintenanceMarker, shownTime, writeFileAtomicSync } from '@botctl/core';

/**
 * The bot's side of the maintenance fence (core/health/maintenance-marker): while botctl
 * restores the shop's database, the bot takes no updates, runs no jobs and accepts no payment
 * notices, and it does not migrate at start-up. Paused work waits at `wait()`; the gate opens
 * again when the marker is gone (or its holder died).
 */
export class MaintenanceGate {
  readonly #stateDir: string;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #timeZone: string;
  #paused: MaintenanceMarker | undefined;
  #waiters: (() => void)[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: { stateDir: string; log: Logger; clock: Clock; timeZone: string }) {
    this.#stateDir = deps.stateDir;
    this.#log = deps.log;
    this.#clock = deps.clock;
    this.#timeZone = deps.timeZone;
  }

  /** The fence in force now, if any. */
  current(): MaintenanceMarker | undefined {
    return activeMaintenance(this.#stateDir, this.#clock.now());
  }

  get paused(): MaintenanceMarker | undefined {
    return this.#paused;
  }

  /** Resolves at once when open; else when the fence is gone. */
  wait(): Promise<void> {
    if (!this.#paused) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * At start-up, before migrating: waits while a fence is up, saying so once. `onFence` runs once
   * per fence (tell the owners).
   */
  async waitBeforeStart(onFence: (m: MaintenanceMarker) => Promise<void>, signal?: AbortSignal): Promise<MaintenanceMarker | undefined> {
    let waited: MaintenanceMarker | undefined;
    for (;;) {
      const m = this.current();
      if (!m) {
        if (waited) this.#log.info('[maintenance] the fence is gone: starting');
        return waited;
      }
      if (waited?.token !== m.token) {
        waited = m;
        this.#log.warn(`[maintenance] ${describeFence(m, this.#timeZone)}: not migrating or serving until it is done`);
        await onFence(m).catch((e: unknown) => this.#log.warn(`[maintenance] owners not told: ${(e as Error).message}`));
      }
      if (signal?.aborted) return waited;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /**
   * While running: looks for a fence every `everyMs`. `onPause` runs when one goes up (it drains
   * the work in flight), `onResume` when it is gone (it migrates and tells the owners).
   */
  watch(handlers: { onPause: (m: MaintenanceMarker) => Promise<void>; onResume: (m: MaintenanceMarker) => Promise<void> }, everyMs = 1000): void {
    let busy = false;
    const tick = async () => {
      if (busy) return;
      busy = true;
      try {
        const m = this.current();
        if (m && !this.#paused) {
          this.#paused = m;
          this.#log.warn(`[maintenance] ${describeFence(m, this.#timeZone)}: pausing (no updates, jobs or payment notices until it is done)`);
          await handlers.onPause(m).catch((e: unknown) => this.#log.warn(`[maintenance] pause: ${(e as Error).message}`));
        } else if (!m && this.#paused) {
          const was = this.#paused;
          await handlers.onResume(was).catch((e: unknown) => this.#log.warn(`[maintenance] resume: ${(e as Error).message}`));
          this.#paused = undefined;
          this.#log.info('[maintenance] the fence is gone: serving again');
          for (const w of this.#waiters.splice(0)) w();
        }
      } finally {
        busy = false;
      }
    };
    this.#timer = setInterval(() => void tick(), everyMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** `database "shop" is being restored by botctl recover (pid 7 on host, since …)`. */
export function describeFence(m: MaintenanceMarker, timeZone: string): string {
  return `database "${m.database}" is being restored by botctl ${m.command} (pid ${m.pid} on ${m.host}, since ${shownTime(m.started_at, timeZone)})`;
}

/**
 * True the first time `text` is to be said about fence `token`: the owners hear of each fence
 * once, however often a supervisor restarts the bot meanwhile (kept in BOT_STATE_DIR).
 */
export function rememberFence(stateDir: string, token: string, text: string): boolean {
  const file = path.join(stateDir, 'maintenance-told.json');
  let told: { token?: string; said?: string[] } = {};
  try {
    told = JSON.parse(fs.readFileSync(file, 'utf8')) as typeof told;
  } catch {
    told = {};
  }
  const key = text.slice(0, 2);
  const said = told.token === token ? (told.said ?? []) : [];
  if (said.includes(key)) return false;
  try {
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o750 });
    writeFileAtomicSync(file, `${JSON.stringify({ token, said: [...said, key] })}\n`, 0o644);
  } catch {
    // cannot remember: better to tell twice than not at all
  }
  return true;
}
