import type { Clock, Logger } from '@botctl/core';
import { CronExpressionParser } from 'cron-parser';

export type Schedule = { cron: string; timeZone: string } | { everyMs: number; runAtStart?: boolean };

interface Job {
  name: string;
  schedule: Schedule;
  /** Runs even while the maintenance fence is up (the heartbeat). */
  duringMaintenance?: boolean;
  /** Its outcomes go to `onRun` (every job but the heartbeat, whose staleness tells on it). */
  recorded: boolean;
  run: (signal: AbortSignal) => Promise<unknown>;
  timer?: NodeJS.Timeout;
  running?: Promise<void>;
  nextAt?: Date;
}

export interface JobOutcome {
  ok: boolean;
  at: Date;
  error?: string;
}

/** setTimeout's ceiling (about 24.8 days): longer waits are done in hops. */
const MAX_TIMEOUT = 2_147_483_647;

/**
 * In-process jobs on cron-parser schedules (or fixed intervals). A job never overlaps itself: a
 * run that is due while the previous one still works is skipped and logged. A failing run is
 * logged, handed to `onRun` (the job records the health check reads) and the schedule goes on;
 * it never takes the bot down. `stop()` cancels the timers,
 * signals the running jobs and waits for them.
 */
export class Scheduler {
  readonly #jobs: Job[] = [];
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #abort = new AbortController();
  readonly #paused: () => boolean;
  readonly #onRun: ((name: string, outcome: JobOutcome) => Promise<void>) | undefined;
  #stopped = false;

  constructor(deps: { log: Logger; clock: Clock; paused?: () => boolean; onRun?: (name: string, outcome: JobOutcome) => Promise<void> }) {
    this.#log = deps.log;
    this.#clock = deps.clock;
    this.#paused = deps.paused ?? (() => false);
    this.#onRun = deps.onRun;
  }

  /** A job fails by throwing; what it returns is ignored. */
  add(name: string, schedule: Schedule, run: (signal: AbortSignal) => Promise<unknown>, opts: { duringMaintenance?: boolean; recorded?: boolean } = {}): void {
    this.#jobs.push({ name, schedule, run, recorded: opts.recorded ?? true, ...(opts.duringMaintenance ? { duringMaintenance: true } : {}) });
  }

  /** Waits for the runs in progress (the fence drains them before a restore goes on). */
  async idle(): Promise<void> {
    await Promise.all(this.#jobs.map((j) => j.running).filter(Boolean));
  }

  names(): { name: string; nextAt: Date | undefined }[] {
    return this.#jobs.map((j) => ({ name: j.name, nextAt: j.nextAt }));
  }

  start(): void {
    for (const job of this.#jobs) {
      if ('everyMs' in job.schedule && job.schedule.runAtStart) void this.#fire(job);
      this.#plan(job);
    }
  }

  #next(job: Job): Date {
    const now = this.#clock.now();
    if ('everyMs' in job.schedule) return new Date(now.getTime() + job.schedule.everyMs);
    return CronExpressionParser.parse(job.schedule.cron, { tz: job.schedule.timeZone, currentDate: now }).next().toDate();
  }

  #plan(job: Job): void {
    if (this.#stopped) return;
    const at = job.nextAt && job.nextAt.getTime() > this.#clock.now().getTime() ? job.nextAt : this.#next(job);
    job.nextAt = at;
    const wait = Math.max(0, at.getTime() - this.#clock.now().getTime());
    job.timer = setTimeout(
      () => {
        if (wait > MAX_TIMEOUT) return this.#plan(job);
        job.nextAt = undefined;
        void this.#fire(job);
        this.#plan(job);
      },
      Math.min(wait, MAX_TIMEOUT),
    );
  }

  async #fire(job: Job): Promise<void> {
    if (this.#stopped) return;
    if (job.running) {
      this.#log.warn(`[${job.name}] skipped: the previous run is still working`);
      return;
    }
    if (!job.duringMaintenance && this.#paused()) {
      this.#log.info(`[${job.name}] skipped: the database is being restored (maintenance fence)`);
      return;
    }
    const started = Date.now();
    job.running = (async () => {
      let outcome: JobOutcome;
      try {
        await job.run(this.#abort.signal);
        outcome = { ok: true, at: this.#clock.now() };
      } catch (error) {
        const message = (error as Error)?.message ?? String(error);
        // A run the stop cut short (a drill) is told as such, not as the job's failure.
        if (this.#stopped) this.#log.info(`[${job.name}] cut short after ${Date.now() - started} ms: the bot is stopping (${message})`);
        else this.#log.error(`[${job.name}] failed after ${Date.now() - started} ms: ${message}`);
        outcome = { ok: false, at: this.#clock.now(), error: message };
      }
      try {
        // A run cut short because the bot is stopping is not the job's failure.
        if (job.recorded && this.#onRun && !(this.#stopped && !outcome.ok)) await this.#onRun(job.name, outcome);
      } catch (error) {
        this.#log.warn(`[${job.name}] cannot record the run: ${(error as Error).message}`);
      } finally {
        job.running = undefined;
      }
    })();
    await job.running;
  }

  /** Runs one job now (owner command, tests); waits for a run already in progress instead. */
  async runNow(name: string): Promise<void> {
    const job = this.#jobs.find((j) => j.name === name);
    if (!job) throw new Error(`no job ${name}`);
    if (job.running) return job.running;
    return this.#fire(job);
  }

  async stop(timeoutMs = 30_000): Promise<boolean> {
    this.#stopped = true;
    for (const job of this.#jobs) clearTimeout(job.timer);
    this.#abort.abort(new Error('bot stopping'));
    const running = this.#jobs.map((j) => j.running).filter(Boolean) as Promise<void>[];
    if (running.length === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const done = await Promise.race([
      Promise.all(running).then(() => true),
      new Promise<boolean>((r) => {
        timer = setTimeout(() => r(false), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    return done;
  }
}

/** `BACKUP_TIME` (HH:MM) as a daily cron expression. */
export function dailyAt(hhmm: string): string {
  const [h, m] = hhmm.split(':').map(Number) as [number, number];
  return `${m} ${h} * * *`;
}
