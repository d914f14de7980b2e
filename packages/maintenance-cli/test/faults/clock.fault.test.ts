import { ExitCode, FixedClock } from '@botctl/core';
import type { Tenant } from '@botctl/test-utils';
import { botctlInProcess, useCluster } from '../harness.js';

/** Retention and health with a clock that jumped (docs/reliability.md, "Clock"). */

const suite = useCluster('botctl-fault-clock-');

const DAY = 86_400_000;
const json = <T>(r: { stdout: string }) => JSON.parse(r.stdout) as T;

interface PruneJson {
  policy: Record<string, number>;
  locations: { decisions: { name: string; action: string; reasons: string[] }[] }[];
}
const kept = (p: PruneJson) => p.locations[0]!.decisions.filter((d) => d.action === 'keep').map((d) => d.name);

/**
 * A host whose clock ran ahead to 2030 for eight nightly backups, then was set right: three
 * real nightly backups follow. Returns the tenant, the clock (now right) and the names.
 */
async function jumpedClock(extraEnv: Record<string, string> = {}): Promise<{ t: Tenant; clock: FixedClock; future: string[]; real: string[] }> {
  const t = await suite.tenant({ seed: false, extraEnv });
  const clock = new FixedClock('2030-01-01T02:00:00+07:00');
  const make = async () => json<{ name: string }>(await botctlInProcess(['--env-file', t.envFile, 'backup', 'create', '--json'], { cwd: t.dir, clock })).name;
  const future: string[] = [];
  for (let i = 0; i < 8; i++) {
    future.push(await make());
    clock.advance(DAY);
  }
  clock.set('2026-12-01T02:00:00+07:00');
  const real: string[] = [];
  for (let i = 0; i < 3; i++) {
    real.push(await make());
    clock.advance(DAY);
  }
  clock.set('2026-12-03T12:00:00+07:00');
  return { t, clock, future, real };
}

describe('a clock that ran ahead and was set right', () => {
  let s: Awaited<ReturnType<typeof jumpedClock>>;
  beforeAll(async () => {
    s = await jumpedClock();
  });
  const run = (args: string[], env: Record<string, string> = {}) =>
    botctlInProcess(['--env-file', s.t.envFile, ...args], { cwd: s.t.dir, clock: s.clock, env });

  it('the default policy keeps every real backup made after the jump', async () => {
    const plan = json<PruneJson>(await run(['backup', 'prune', '--dry-run', '--json']));
    for (const name of s.real) expect(kept(plan)).toContain(name);
  });

  it('--keep 2 keeps the two newest backups in real order, not the future-dated ones', async () => {
    const plan = json<PruneJson>(await run(['backup', 'prune', '--keep', '2', '--dry-run', '--json']));
    expect(kept(plan).sort()).toEqual([s.real[1], s.real[2]].sort());
  });

  it('prune and list say which archives are dated in the future', async () => {
    const plan = json<PruneJson>(await run(['backup', 'prune', '--dry-run', '--json']));
    const d = plan.locations[0]!.decisions.find((x) => x.name === s.future[0])!;
    expect(d.reasons.join(' ')).toMatch(/dated in the future/);
    const list = json<{ backups: { name: string; future: boolean }[] }>(await run(['backup', 'list', '--json']));
    expect(
      list.backups
        .filter((b) => b.future)
        .map((b) => b.name)
        .sort(),
    ).toEqual([...s.future].sort());
    const text = await run(['backup', 'list']);
    expect(text.stdout).toMatch(/in the future/);
  });
});

describe('a jumped clock with only "keep the last N" configured', () => {
  it('a real prune --keep 1 removes the future-dated archives and keeps the newest in real order', async () => {
    const s = await jumpedClock({ BACKUP_KEEP_DAILY: '0', BACKUP_KEEP_WEEKLY: '0', BACKUP_KEEP_MONTHLY: '0' });
    const run = (args: string[]) => botctlInProcess(['--env-file', s.t.envFile, ...args], { cwd: s.t.dir, clock: s.clock });
    expect((await run(['backup', 'prune', '--keep', '1'])).exitCode).toBe(ExitCode.OK);
    const list = json<{ backups: { name: string }[] }>(await run(['backup', 'list', '--json']));
    expect(list.backups.map((b) => b.name)).toEqual([s.real[2]]);
  });
});

describe('health with future-dated backups', () => {
  it('healthcheck and status are not ok when the only fresh-looking backup is dated in the future', async () => {
    const t = await suite.tenant({ seed: false });
    const clock = new FixedClock('2030-01-01T02:00:00+07:00');
    expect((await botctlInProcess(['--env-file', t.envFile, 'backup', 'create'], { cwd: t.dir, clock })).exitCode).toBe(ExitCode.OK);
    clock.set('2026-12-01T02:00:00+07:00');
    const skip = {
      HEALTH_SKIP_CHECKS: 'database,telegram,bot_process,cpu,memory,disk,log_size,backup_offsite,backup_verify,backup_drill,maintenance_lock,backup_space',
    };
    const h = await botctlInProcess(['--env-file', t.envFile, 'healthcheck', '--no-alert', '--json'], { cwd: t.dir, clock, env: skip });
    const age = json<{ checks: { id: string; status: string; fact: string }[] }>(h).checks.find((c) => c.id === 'backup_age')!;
    expect(age.status).not.toBe('ok');
    expect(age.fact).toMatch(/in the future/);
    const st = json<{ checks: { id: string; mark: string; fact: string }[] }>(
      await botctlInProcess(['--env-file', t.envFile, 'status', '--json'], { cwd: t.dir, clock }),
    );
    const line = st.checks.find((c) => c.id === 'backups')!;
    expect(line.mark).not.toBe('ok');
    expect(line.fact).toMatch(/in the future/);
  });
});

describe('retention flags on the command line', () => {
  it('--keep N alone means N: the env file daily, weekly and monthly tiers do not add to it', async () => {
    const t = await suite.tenant({ seed: false, extraEnv: { BACKUP_KEEP_DAILY: '30', BACKUP_KEEP_WEEKLY: '8', BACKUP_KEEP_MONTHLY: '12' } });
    const clock = new FixedClock('2026-11-20T02:00:00+07:00');
    const names: string[] = [];
    for (let i = 0; i < 4; i++) {
      names.push(json<{ name: string }>(await botctlInProcess(['--env-file', t.envFile, 'backup', 'create', '--json'], { cwd: t.dir, clock })).name);
      clock.advance(DAY);
    }
    const plan = json<PruneJson>(
      await botctlInProcess(['--env-file', t.envFile, 'backup', 'prune', '--keep', '1', '--dry-run', '--json'], { cwd: t.dir, clock }),
    );
    expect(plan.policy).toMatchObject({ keep: 1, daily: 0, weekly: 0, monthly: 0 });
    expect(kept(plan)).toEqual([names[3]]);
    // Without flags, the env file's policy applies.
    const envPlan = json<PruneJson>(await botctlInProcess(['--env-file', t.envFile, 'backup', 'prune', '--dry-run', '--json'], { cwd: t.dir, clock }));
    expect(envPlan.policy).toMatchObject({ daily: 30, weekly: 8, monthly: 12 });
    const help = await botctlInProcess(['backup', 'prune', '--help'], { cwd: t.dir });
    expect(help.stdout).toMatch(/flags given on the command line replace the env file's policy/i);
  });

  it('--keep-yearly and --keep-within DURATION keep what they say, with their reasons', async () => {
    const t = await suite.tenant({ seed: false });
    const clock = new FixedClock('2024-06-01T02:00:00+07:00');
    const names: string[] = [];
    for (const at of ['2024-06-01', '2025-03-01', '2025-09-01', '2026-11-25', '2026-11-28', '2026-11-30']) {
      clock.set(`${at}T02:00:00+07:00`);
      names.push(json<{ name: string }>(await botctlInProcess(['--env-file', t.envFile, 'backup', 'create', '--json'], { cwd: t.dir, clock })).name);
    }
    clock.set('2026-12-01T12:00:00+07:00');
    const plan = json<PruneJson>(
      await botctlInProcess(['--env-file', t.envFile, 'backup', 'prune', '--keep-yearly', '3', '--keep-within', '3d', '--dry-run', '--json'], {
        cwd: t.dir,
        clock,
      }),
    );
    const why = (n: string) => plan.locations[0]!.decisions.find((d) => d.name === n)!.reasons.join('; ');
    expect(why(names[5]!)).toMatch(/yearly 2026/);
    expect(why(names[2]!)).toMatch(/yearly 2025/);
    expect(why(names[0]!)).toMatch(/yearly 2024/);
    expect(why(names[4]!)).toMatch(/within 3d of the newest/);
    expect(kept(plan)).not.toContain(names[1]);
    expect(kept(plan)).not.toContain(names[3]);
  });
});
