import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';

/**
 * What each of the bot's in-process jobs (expired_payments, snk_purge, log_rotate, auto_backup,
 * auto_healthcheck, auto_drill) last did, in `BOT_STATE_DIR/jobs-bot.json`: the health check's
 * `jobs` check turns failures in a row into a warning, then critical, so a job that fails every
 * run is seen and told to the owners.
 */
export interface JobRecord {
  last_run_at: string;
  last_ok_at?: string;
  last_error?: string;
  last_error_at?: string;
  /** Failed runs since the last successful one. */
  consecutive_failures: number;
  runs: number;
}

export interface JobRecords {
  /** The process that keeps the file (its start, so a record of a job no longer run is known). */
  started_at: string;
  pid: number;
  jobs: Record<string, JobRecord>;
}

export const jobRecordsFile = (stateDir: string, service = 'bot'): string => path.join(stateDir, `jobs-${service}.json`);

export function readJobRecords(stateDir: string, service = 'bot'): JobRecords | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(jobRecordsFile(stateDir, service), 'utf8')) as JobRecords;
    return r && typeof r.jobs === 'object' && r.jobs !== null ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The one writer of a service's job records (the bot process). Writes are serialised; a job the
 * process no longer runs is dropped at start so an old failure does not haunt the health check.
 */
export class JobRecorder {
  readonly #file: string;
  readonly #state: JobRecords;
  #writing: Promise<void> = Promise.resolve();

  constructor(
    readonly stateDir: string,
    opts: { jobs: string[]; startedAt: Date; service?: string },
  ) {
    this.#file = jobRecordsFile(stateDir, opts.service);
    const old = readJobRecords(stateDir, opts.service);
    const jobs: Record<string, JobRecord> = {};
    for (const name of opts.jobs) if (old?.jobs[name]) jobs[name] = old.jobs[name];
    this.#state = { started_at: opts.startedAt.toISOString(), pid: process.pid, jobs };
  }

  get records(): JobRecords {
    return structuredClone(this.#state);
  }

  /** Records one run's outcome; resolves when it is on disk (errors are the caller's to log). */
  record(name: string, outcome: { ok: boolean; at: Date; error?: string }): Promise<void> {
    const prev = this.#state.jobs[name];
    const at = outcome.at.toISOString();
    this.#state.jobs[name] = outcome.ok
      ? {
          last_run_at: at,
          last_ok_at: at,
          consecutive_failures: 0,
          runs: (prev?.runs ?? 0) + 1,
          ...(prev?.last_error ? { last_error: prev.last_error, last_error_at: prev.last_error_at! } : {}),
        }
      : {
          last_run_at: at,
          ...(prev?.last_ok_at ? { last_ok_at: prev.last_ok_at } : {}),
          last_error: (outcome.error ?? 'failed').slice(0, 500),
          last_error_at: at,
          consecutive_failures: (prev?.consecutive_failures ?? 0) + 1,
          runs: (prev?.runs ?? 0) + 1,
        };
    return this.flush();
  }

  flush(): Promise<void> {
    const body = `${JSON.stringify(this.#state)}\n`;
    const write = async () => {
      await fsp.mkdir(this.stateDir, { recursive: true, mode: 0o750 });
      await writeFileAtomic(this.#file, body, 0o644);
    };
    this.#writing = this.#writing.then(write, write);
    return this.#writing;
  }
}
