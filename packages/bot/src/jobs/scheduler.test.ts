import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobRecorder, readJobRecords, silentLogger, type Logger } from '@botctl/core';
import { RateLimiter } from '../rate-limit.js';
import { dailyAt, Scheduler } from './scheduler.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string, m: string) => lines.push(`${level} ${m}`);
  return { ...silentLogger, lines, log: log as Logger['log'], info: (m) => log('INFO', m), warn: (m) => log('WARN', m), error: (m) => log('ERROR', m) };
}

describe('Scheduler', () => {
  it('never overlaps a job with itself, survives a failing run, and waits for a running job on stop', async () => {
    const log = recordingLog();
    const s = new Scheduler({ log, clock: { now: () => new Date() } });
    let running = 0;
    let maxRunning = 0;
    let runs = 0;
    let failures = 0;
    let finishedSlow = false;
    s.add('slow', { everyMs: 20 }, async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(70);
      running--;
      runs++;
      finishedSlow = true;
    });
    s.add('flaky', { cron: '* * * * * *', timeZone: 'Asia/Jakarta' }, async () => {
      failures++;
      throw new Error('boom');
    });
    s.start();
    await sleep(2300);
    expect(await s.stop(5000)).toBe(true);
    expect(maxRunning).toBe(1);
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(finishedSlow).toBe(true);
    expect(running).toBe(0);
    expect(log.lines.some((l) => /^WARN \[slow\] skipped: the previous run is still working/.test(l))).toBe(true);
    // Cron with seconds: fired every second, each failure logged, the schedule went on.
    expect(failures).toBeGreaterThanOrEqual(2);
    expect(log.lines.filter((l) => /^ERROR \[flaky\] failed after \d+ ms: boom/.test(l))).toHaveLength(failures);
    const after = runs;
    await sleep(100);
    expect(runs).toBe(after);
  });

  it('signals a running job as the stop begins: one that honours it (a drill) ends at once, logged as cut short, not as failed, and not recorded', async () => {
    const log = recordingLog();
    const recorded: string[] = [];
    const s = new Scheduler({ log, clock: { now: () => new Date() }, onRun: async (name) => void recorded.push(name) });
    let started = false;
    s.add('auto_drill', { everyMs: 10 }, (signal) => {
      started = true;
      return new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }));
    });
    s.start();
    for (let i = 0; i < 100 && !started; i++) await sleep(10);
    expect(started).toBe(true);
    const t0 = Date.now();
    expect(await s.stop(30_000)).toBe(true);
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(log.lines.filter((l) => l.startsWith('ERROR'))).toEqual([]);
    expect(log.lines.find((l) => /\[auto_drill\] cut short after \d+ ms: the bot is stopping \(aborted\)/.test(l))).toBeDefined();
    expect(recorded).toEqual([]);
  });

  it("records each run's outcome (failures in a row, last success), not the heartbeat's, and forgets jobs no longer run", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'botctl-jobs-'));
    try {
      fs.writeFileSync(
        path.join(dir, 'jobs-bot.json'),
        JSON.stringify({ started_at: '2026-01-01T00:00:00Z', pid: 1, jobs: { retired: { last_run_at: 'x', consecutive_failures: 9, runs: 9 } } }),
      );
      let recorder: JobRecorder | undefined;
      const s: Scheduler = new Scheduler({ log: silentLogger, clock: { now: () => new Date() }, onRun: async (n, o) => recorder?.record(n, o) });
      let fail = true;
      s.add('flaky', { everyMs: 60_000 }, async () => {
        if (fail) throw new Error('table gone');
      });
      s.add('heartbeat', { everyMs: 60_000 }, async () => {}, { recorded: false });
      recorder = new JobRecorder(dir, { jobs: s.names().map((j) => j.name), startedAt: new Date() });
      await s.runNow('flaky');
      await s.runNow('flaky');
      await s.runNow('heartbeat');
      let r = readJobRecords(dir)!;
      expect(Object.keys(r.jobs)).toEqual(['flaky']);
      expect(r.jobs.flaky).toMatchObject({ consecutive_failures: 2, runs: 2, last_error: 'table gone' });
      expect(r.jobs.flaky!.last_ok_at).toBeUndefined();
      fail = false;
      await s.runNow('flaky');
      r = readJobRecords(dir)!;
      expect(r.jobs.flaky).toMatchObject({ consecutive_failures: 0, runs: 3, last_error: 'table gone' });
      expect(r.jobs.flaky!.last_ok_at).toBe(r.jobs.flaky!.last_run_at);
      await s.stop();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('turns BACKUP_TIME into a daily cron expression', () => {
    expect(dailyAt('00:00')).toBe('0 0 * * *');
    expect(dailyAt('02:30')).toBe('30 2 * * *');
  });
});

describe('RateLimiter', () => {
  it('allows N updates per window per user, warns once, and lets the user in again after the window', () => {
    let now = 0;
    const r = new RateLimiter(3, 60_000, () => now);
    expect([1, 2, 3].map(() => r.allow(7))).toEqual([true, true, true]);
    expect(r.allow(7)).toBe(false);
    expect(r.shouldWarn(7)).toBe(true);
    expect(r.allow(7)).toBe(false);
    expect(r.shouldWarn(7)).toBe(false);
    expect(r.allow(8)).toBe(true);
    now = 60_001;
    expect(r.allow(7)).toBe(true);
  });
});
