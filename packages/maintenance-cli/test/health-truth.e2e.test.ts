import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ExitCode, FixedClock, writeHeartbeat } from '@botctl/core';
import { runBotctl, type Tenant } from '@botctl/test-utils';
import { botctlInProcess, useCluster } from './harness.js';

/** Health that tells the truth: healthcheck and status agree, and see what really breaks. */

const suite = useCluster('botctl-truth-');

const json = <T>(r: { stdout: string }) => JSON.parse(r.stdout) as T;
const SKIP = { HEALTH_SKIP_CHECKS: 'database,telegram,cpu,memory,disk,log_size,maintenance_lock,backup_space' };
type Checks = { checks: { id: string; status: string; fact: string }[] };
type Status = { checks: { id: string; mark: string; fact: string }[] };

async function both(
  t: Tenant,
  clock: FixedClock,
): Promise<{ health: Record<string, { status: string; fact: string }>; status: Record<string, { mark: string; fact: string }> }> {
  const h = json<Checks>(await botctlInProcess(['--env-file', t.envFile, 'healthcheck', '--no-alert', '--json'], { cwd: t.dir, clock, env: SKIP }));
  const s = json<Status>(await botctlInProcess(['--env-file', t.envFile, 'status', '--json'], { cwd: t.dir, clock }));
  return { health: Object.fromEntries(h.checks.map((c) => [c.id, c])), status: Object.fromEntries(s.checks.map((c) => [c.id, c])) };
}
const asMark = { ok: 'ok', warning: 'warn', critical: 'fail' } as Record<string, string>;

describe('healthcheck and status', () => {
  it('judge each shared fact the same way, scenario by scenario', async () => {
    const t = await suite.tenant({ seed: false });
    const clock = new FixedClock('2026-12-01T02:00:00+07:00');
    const run = (args: string[]) => botctlInProcess(['--env-file', t.envFile, ...args], { cwd: t.dir, clock });
    const pairs = [
      ['backup_age', 'backups'],
      ['backup_offsite', 'offsite'],
      ['backup_drill', 'recovery'],
      ['bot_process', 'bot'],
    ] as const;
    const agree = async (label: string) => {
      const { health, status } = await both(t, clock);
      for (const [hid, sid] of pairs) expect(`${label} ${sid}: ${status[sid]!.mark}`).toBe(`${label} ${sid}: ${asMark[health[hid]!.status]}`);
      return { health, status };
    };
    // Nothing yet.
    await agree('empty');
    // A local backup, no offsite copy, never drilled, no bot.
    expect((await run(['backup', 'create'])).exitCode).toBe(ExitCode.OK);
    await agree('local only');
    // Offsite and a drill; the bot running.
    expect((await run(['backup', 'create', '--offsite'])).exitCode).toBe(ExitCode.OK);
    expect((await run(['backup', 'drill'])).exitCode).toBe(ExitCode.OK);
    await writeHeartbeat(path.join(t.dir, 'state'), { service: 'bot', version: 't', started_at: clock.now().toISOString(), at: clock.now().toISOString() });
    const good = await agree('good');
    expect(good.health.backup_offsite!.status).toBe('ok');
    // A day and a half later, the bot paused by a restore.
    clock.advance(36 * 3_600_000);
    await writeHeartbeat(path.join(t.dir, 'state'), {
      service: 'bot',
      version: 't',
      started_at: clock.now().toISOString(),
      at: clock.now().toISOString(),
      paused: { command: 'recover', since: clock.now().toISOString(), token: 'x' },
    });
    const later = await agree('later');
    expect(later.health.backup_age!.status).toBe('warning');
    expect(later.health.bot_process!.fact).toMatch(/paused since .*botctl recover is restoring the database/);
  });
});

describe('an offsite folder on the same disk as the local backups', () => {
  it('is not offsite: status, healthcheck, preflight and the demo say so, with how to fix it', async () => {
    const t = await suite.tenant({ seed: false, offsite: 'inside' });
    const clock = new FixedClock('2026-12-01T02:00:00+07:00');
    expect((await botctlInProcess(['--env-file', t.envFile, 'backup', 'create', '--offsite'], { cwd: t.dir, clock })).exitCode).toBe(ExitCode.OK);
    const { health, status } = await both(t, clock);
    expect(health.backup_offsite).toMatchObject({
      status: 'warning',
      fact: expect.stringMatching(/same filesystem as .*: it is not offsite.*BACKUP_OFFSITE_REQUIRE_MOUNT=true.*BACKUP_OFFSITE_REMOTE/),
    });
    expect(status.offsite).toMatchObject({ mark: 'warn', fact: expect.stringMatching(/it is not offsite/) });
    const pre = await botctlInProcess(['--env-file', t.envFile, 'preflight', '--json'], { cwd: t.dir, clock });
    const offsiteLine = json<{ checks: { id: string; mark: string; fact: string }[] }>(pre).checks.find((i) => i.id === 'offsite')!;
    expect(offsiteLine).toMatchObject({ mark: 'warn', fact: expect.stringMatching(/not offsite/) });
    // The demo runs botctl as separate commands: as a process here too.
    const demo = await runBotctl(['demo'], { cwd: suite.work });
    expect(demo.exitCode).toBe(ExitCode.OK);
    expect(demo.stdout + demo.stderr).toMatch(/⚠.*not offsite/);
  });
});

describe('pre-restore safety copies', () => {
  it('do not count as the newest backup (healthcheck backup_age, status)', async () => {
    const t = await suite.tenant();
    const clock = new FixedClock('2026-11-29T20:00:00+07:00');
    const made = json<{ name: string }>(await botctlInProcess(['--env-file', t.envFile, 'backup', 'create', '--json'], { cwd: t.dir, clock }));
    clock.set('2026-12-01T02:00:00+07:00');
    // 30 h later a restore takes a safety copy: it is not a backup the schedule made.
    expect((await botctlInProcess(['--env-file', t.envFile, 'backup', 'restore', made.name, '--yes'], { cwd: t.dir, clock })).exitCode).toBe(ExitCode.OK);
    expect(fs.readdirSync(t.localDir).some((f) => f.includes('pre-restore'))).toBe(true);
    const { health, status } = await both(t, clock);
    expect(health.backup_age).toMatchObject({ status: 'warning', fact: expect.stringContaining(made.name) });
    expect(status.backups!.mark).toBe('warn');
  });
});

describe('times shown to people', () => {
  it('are in BOT_TIMEZONE with their offset: list, prune, healthcheck, journal, lock messages', async () => {
    const t = await suite.tenant({ seed: false });
    const clock = new FixedClock('2026-12-01T02:00:00+07:00');
    const run = (args: string[], env: Record<string, string> = {}) => botctlInProcess(['--env-file', t.envFile, ...args], { cwd: t.dir, clock, env });
    const local = /2026-12-01[ T]02:00:00 ?\+07:00/;
    expect((await run(['backup', 'create'])).exitCode).toBe(ExitCode.OK);
    expect((await run(['backup', 'list'])).stdout).toMatch(local);
    const prune = await run(['backup', 'prune', '--dry-run', '--json']);
    expect(json<{ locations: { decisions: { time: string }[] }[] }>(prune).locations[0]!.decisions[0]!.time).toBe('2026-12-01T02:00:00+07:00');
    expect((await run(['backup', 'prune', '--dry-run'])).stdout).toMatch(local);
    expect(json<{ at: string }>(await run(['journal', 'add', '--kind', 'note', 'tz check', '--json'])).at).toBe('2026-12-01T02:00:00+07:00');
    // The bot stopped at 01:30 Jakarta time (18:30 UTC the day before).
    await writeHeartbeat(path.join(t.dir, 'state'), {
      service: 'bot',
      version: 't',
      started_at: '2026-11-30T18:00:00.000Z',
      at: '2026-11-30T18:30:00.000Z',
      stopped_at: '2026-11-30T18:30:00.000Z',
    });
    const h = json<{ checked_at: string; checks: { id: string; fact: string; fakta: string }[] }>(await run(['healthcheck', '--no-alert', '--json'], SKIP));
    expect(h.checked_at).toBe('2026-12-01T02:00:00+07:00');
    const bot = h.checks.find((c) => c.id === 'bot_process')!;
    expect(bot.fact).toContain('stopped at 2026-12-01 01:30:00 +07:00');
    expect(bot.fakta).toContain('bot berhenti sejak 2026-12-01 01:30:00 +07:00');
    // A lock held by a live process: its start time, local.
    fs.writeFileSync(
      path.join(t.localDir, '.botctl.lock'),
      JSON.stringify({ pid: process.pid, host: os.hostname(), started_at: '2026-11-30T19:00:00.000Z', command: 'backup create' }),
    );
    const locked = await run(['backup', 'create']);
    expect(locked.exitCode).toBe(ExitCode.LOCKED);
    expect(locked.stderr).toContain('since 2026-12-01 02:00:00 +07:00');
    fs.rmSync(path.join(t.localDir, '.botctl.lock'));
  });
});
