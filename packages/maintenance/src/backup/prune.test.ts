import { ExitCode, RefusedError } from '@botctl/core';
import { isoWeek, type PruneCandidate, planPrune, type RetentionPolicy, subtractDuration } from './prune.js';

const TZ = 'Asia/Jakarta';

/** A backup made at a wall-clock time in Jakarta ("2026-11-24 02:00"). */
function b(local: string, extra: Partial<PruneCandidate> = {}): PruneCandidate {
  const [d, t = '02:00'] = local.split(' ');
  const time = new Date(`${d}T${t}:00+07:00`);
  const stamp = `${d!.replace(/-/g, '')}-${t.replace(':', '')}00`;
  return { name: `backup-${stamp}.tar.gz.enc`, time, kind: 'scheduled', complete: true, size: 100, verified: false, ...extra };
}

const policy = (p: Partial<RetentionPolicy>): RetentionPolicy => ({ keep: 1, daily: 0, weekly: 0, monthly: 0, preRestoreKeepDays: 14, ...p });
const kept = (plan: ReturnType<typeof planPrune>) => plan.filter((d) => d.action === 'keep').map((d) => d.name.slice(7, 22));

describe('planPrune', () => {
  const now = new Date('2027-01-02T12:00:00+07:00');

  it('keeps the newest N and says why; removes the rest with a reason', () => {
    const plan = planPrune([b('2026-12-30'), b('2026-12-31'), b('2027-01-01'), b('2027-01-02')], policy({ keep: 2 }), now, TZ);
    expect(kept(plan)).toEqual(['20270102-020000', '20270101-020000']);
    expect(plan[0]!.reasons).toEqual(['newest backup', 'last 2 (#1)']);
    expect(plan.at(-1)).toMatchObject({ action: 'remove', reasons: ['matches no keep rule'] });
  });

  it('daily buckets follow BOT_TIMEZONE days, the newest backup of each day wins', () => {
    // 23:30 on Dec 31 in Jakarta is still Dec 31 there, though it is 16:30 UTC.
    const backups = [b('2026-12-31 01:00'), b('2026-12-31 23:30'), b('2027-01-01 00:10'), b('2027-01-01 12:00'), b('2027-01-02 01:00')];
    const plan = planPrune(backups, policy({ keep: 1, daily: 3 }), now, TZ);
    expect(kept(plan)).toEqual(['20270102-010000', '20270101-120000', '20261231-233000']);
    expect(plan.find((d) => d.name.includes('20261231-2330'))!.reasons).toEqual(['daily 2026-12-31']);
  });

  it('weekly buckets are ISO weeks, across the year end', () => {
    expect(isoWeek(2026, 12, 31)).toBe('2026-W53');
    expect(isoWeek(2027, 1, 3)).toBe('2026-W53');
    expect(isoWeek(2027, 1, 4)).toBe('2027-W01');
    expect(isoWeek(2024, 12, 30)).toBe('2025-W01');
    const backups = [b('2026-12-20'), b('2026-12-22'), b('2026-12-27'), b('2026-12-29'), b('2027-01-02')];
    const plan = planPrune(backups, policy({ keep: 1, weekly: 3 }), now, TZ);
    // W53 (Dec 28 - Jan 3): Jan 2; W52 (Dec 21-27): Dec 27; W51 (Dec 14-20): Dec 20.
    expect(kept(plan)).toEqual(['20270102-020000', '20261227-020000', '20261220-020000']);
    expect(plan.find((d) => d.name.includes('20261227'))!.reasons).toEqual(['weekly 2026-W52']);
  });

  it('monthly buckets across month and year ends', () => {
    const backups = [b('2026-10-31 23:59'), b('2026-11-01 00:01'), b('2026-11-30'), b('2026-12-01'), b('2026-12-31'), b('2027-01-01')];
    const plan = planPrune(backups, policy({ keep: 1, monthly: 3 }), now, TZ);
    expect(kept(plan)).toEqual(['20270101-020000', '20261231-020000', '20261130-020000']);
    expect(plan.find((d) => d.name.includes('20261130'))!.reasons).toEqual(['monthly 2026-11']);
    const four = planPrune(backups, policy({ keep: 1, monthly: 4 }), now, TZ);
    expect(kept(four)).toContain('20261031-235900');
  });

  it('combines rules, listing every reason', () => {
    const plan = planPrune([b('2026-12-01'), b('2027-01-01'), b('2027-01-02')], policy({ keep: 1, daily: 2, monthly: 2 }), now, TZ);
    expect(plan.find((d) => d.name.includes('20270102'))!.reasons).toEqual(['newest backup', 'last 1 (#1)', 'daily 2027-01-02', 'monthly 2027-01']);
    expect(plan.find((d) => d.name.includes('20261201'))!.reasons).toEqual(['monthly 2026-12']);
  });

  it('never removes the newest verified backup, even outside every rule', () => {
    const plan = planPrune([b('2026-12-01', { verified: true }), b('2027-01-01'), b('2027-01-02')], policy({ keep: 1 }), now, TZ);
    expect(plan.find((d) => d.name.includes('20261201'))).toMatchObject({ action: 'keep', reasons: ['newest verified backup'] });
    expect(plan.find((d) => d.name.includes('20270101'))!.action).toBe('remove');
  });

  it('keeps pre-restore copies for their own retention, outside the other rules', () => {
    const young = b('2026-12-25', { kind: 'pre-restore', name: 'backup-20261225-020000-pre-restore.tar.gz.enc' });
    const old = b('2026-12-01', { kind: 'pre-restore', name: 'backup-20261201-020000-pre-restore.tar.gz.enc' });
    const plan = planPrune([young, old, b('2027-01-02')], policy({ keep: 5 }), now, TZ);
    expect(plan.find((d) => d.name === young.name)).toMatchObject({ action: 'keep', reasons: ['pre-restore copy younger than 14 days'] });
    expect(plan.find((d) => d.name === old.name)).toMatchObject({ action: 'remove', reasons: ['pre-restore copy older than 14 days'] });
  });

  it('leaves archives without a sidecar alone', () => {
    const plan = planPrune([b('2026-11-01', { complete: false }), b('2027-01-02')], policy({ keep: 1 }), now, TZ);
    expect(plan.find((d) => d.name.includes('20261101'))).toMatchObject({ action: 'keep', reasons: ['incomplete (no sidecar): left for a person to check'] });
  });

  it('refuses --keep 0 and a policy that keeps nothing', () => {
    expect(() => planPrune([b('2027-01-02')], policy({ keep: 0, daily: 5 }), now, TZ)).toThrow(/--keep 0 would remove every backup/);
    let caught: unknown;
    try {
      planPrune([], { keep: 0, daily: 0, weekly: 0, monthly: 0, preRestoreKeepDays: 1 }, now, TZ);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(RefusedError);
    expect((caught as RefusedError).exitCode).toBe(ExitCode.REFUSED);
  });

  it('is a pure function of its inputs', () => {
    const input = [b('2026-12-30'), b('2027-01-01'), b('2027-01-02')];
    const p = policy({ keep: 1, daily: 2 });
    expect(planPrune(input, p, now, TZ)).toEqual(planPrune([...input].reverse(), p, now, TZ));
  });
});

describe('planPrune with real creation order and a clock that jumped', () => {
  const now = new Date('2026-12-03T12:00:00+07:00');
  // Eight archives made while the clock said 2030 (orders 1..8), then three made after it was set
  // right (orders 9..11): their sequences say they are the newest, whatever their dates.
  const future = Array.from({ length: 8 }, (_, i) => b(`2030-01-0${i + 1}`, { order: i + 1, future: true }));
  const real = ['2026-12-01', '2026-12-02', '2026-12-03'].map((d, i) => b(d, { order: 9 + i }));

  it('orders by sequence, not by the dates in the names', () => {
    const plan = planPrune([...future, ...real], policy({ keep: 2 }), now, TZ);
    expect(kept(plan)).toEqual(['20261203-020000', '20261202-020000']);
    expect(plan[0]!.reasons).toEqual(['newest backup', 'last 2 (#1)']);
  });

  it('gives future-dated archives no calendar rule, and says so when removing them', () => {
    const plan = planPrune([...future, ...real], policy({ keep: 1, daily: 30, monthly: 12, yearly: 5 }), now, TZ);
    expect(kept(plan)).toEqual(['20261203-020000', '20261202-020000', '20261201-020000']);
    const gone = plan.find((d) => d.name.includes('20300101'))!;
    expect(gone).toMatchObject({ action: 'remove', future: true });
    expect(gone.reasons[0]).toMatch(
      /^dated in the future \(2030-01-01 02:00:00 \+07:00, after this clock's 2026-12-03 12:00:00 \+07:00\): no calendar rule applies/,
    );
  });

  it('keeps a future-dated pre-restore copy (its age cannot be told)', () => {
    const copy = b('2030-01-05', { order: 5, future: true, kind: 'pre-restore', name: 'backup-20300105-020000-pre-restore.tar.gz.enc' });
    const plan = planPrune([copy, ...real], policy({ keep: 1 }), now, TZ);
    expect(plan.find((d) => d.name === copy.name)).toMatchObject({
      action: 'keep',
      reasons: ['pre-restore copy dated in the future (its age cannot be told): kept'],
    });
  });
});

describe('yearly and within rules', () => {
  const now = new Date('2026-12-01T12:00:00+07:00');
  it('keeps the newest of each year, and everything within the duration of the newest backup', () => {
    const backups = ['2024-06-01', '2025-03-01', '2025-09-01', '2026-11-25', '2026-11-28', '2026-11-30'].map((d) => b(d));
    const plan = planPrune(backups, policy({ keep: 1, yearly: 3, within: '3d' }), now, TZ);
    expect(kept(plan)).toEqual(['20261130-020000', '20261128-020000', '20250901-020000', '20240601-020000']);
    expect(plan.find((d) => d.name.includes('20261128'))!.reasons).toEqual(['within 3d of the newest (2026-11-30 02:00:00 +07:00)']);
  });

  it('reads restic-style durations with calendar months and years', () => {
    const from = new Date('2026-03-31T00:00:00Z');
    expect(subtractDuration(from, '1m').toISOString()).toBe('2026-03-03T00:00:00.000Z');
    expect(subtractDuration(from, '1y2w').toISOString()).toBe('2025-03-17T00:00:00.000Z');
    expect(subtractDuration(from, '36h').toISOString()).toBe('2026-03-29T12:00:00.000Z');
    expect(() => planPrune([b('2026-11-30')], policy({ within: '3 days' }), now, TZ)).toThrow(/is not a duration/);
  });
});
