import { type AlertPolicy, emptyHealthState, type HealthState, inQuietHours, planHealthAlerts } from './alert-policy.js';
import type { CheckResult, HealthStatus } from './checks.js';

const policy: AlertPolicy = { alertAfter: 2, remindHours: 4, quietHours: undefined, timeZone: 'Asia/Jakarta' };
const at = (iso: string) => new Date(iso);
const res = (id: CheckResult['id'], status: HealthStatus, fakta = `${id} ${status}`): CheckResult => ({ id, status, fact: fakta, fakta });

/** Runs the policy over a sequence, delivering every planned alert (or not). */
function step(state: HealthState, results: CheckResult[], now: string, p = policy, deliver = true) {
  const out = planHealthAlerts(state, results, at(now), p);
  if (deliver) for (const a of out.alerts) a.markDelivered(out.state);
  return out;
}

describe('planHealthAlerts', () => {
  it('sends a warning only after N consecutive failing runs, and only once', () => {
    let s = emptyHealthState();
    let o = step(s, [res('disk', 'warning')], '2026-11-24T01:00:00Z');
    expect(o.alerts).toEqual([]);
    s = o.state;
    o = step(s, [res('disk', 'warning')], '2026-11-24T01:05:00Z');
    expect(o.alerts.map((a) => [a.kind, a.checks])).toEqual([['problem', ['disk']]]);
    expect(o.alerts[0]!.text).toBe('⚠️ Health-check: Peringatan\n🟠 Disk: disk warning');
    s = o.state;
    o = step(s, [res('disk', 'warning')], '2026-11-24T01:10:00Z');
    expect(o.alerts).toEqual([]);
  });

  it('a single ok run in between restarts the count', () => {
    let s = step(emptyHealthState(), [res('disk', 'warning')], '2026-11-24T01:00:00Z').state;
    s = step(s, [res('disk', 'ok')], '2026-11-24T01:05:00Z').state;
    const o = step(s, [res('disk', 'warning')], '2026-11-24T01:10:00Z');
    expect(o.alerts).toEqual([]);
    expect(o.state.checks.disk!.consecutive).toBe(1);
  });

  it('critical goes out at once; a warning that turns critical is sent again', () => {
    let o = step(emptyHealthState(), [res('database', 'critical')], '2026-11-24T01:00:00Z');
    expect(o.alerts[0]!.text).toMatch(/^⚠️ Health-check: KRITIS\n🔴 Database: /);
    let s = step(emptyHealthState(), [res('disk', 'warning')], '2026-11-24T01:00:00Z').state;
    s = step(s, [res('disk', 'warning')], '2026-11-24T01:05:00Z').state;
    o = step(s, [res('disk', 'critical')], '2026-11-24T01:10:00Z');
    expect(o.alerts.map((a) => a.kind)).toEqual(['problem']);
    expect(o.alerts[0]!.text).toContain('🔴 Disk');
  });

  it('reminds at most every remindHours with only what still fails', () => {
    let s = step(emptyHealthState(), [res('database', 'critical'), res('bot_process', 'critical')], '2026-11-24T01:00:00Z').state;
    expect(step(s, [res('database', 'critical'), res('bot_process', 'critical')], '2026-11-24T04:59:00Z').alerts).toEqual([]);
    const o = step(s, [res('database', 'critical'), res('bot_process', 'ok')], '2026-11-24T05:00:00Z');
    expect(o.alerts.map((a) => a.kind)).toEqual(['reminder', 'recovery']);
    expect(o.alerts[0]!.text).toBe('🔁 Pengingat: masih bermasalah\n🔴 Database: database critical (sejak 4 jam lalu)');
    expect(o.alerts[1]!.text).toBe('✅ Pulih\n🟢 Proses bot normal kembali setelah 4 jam bermasalah: bot_process ok');
    s = o.state;
    expect(step(s, [res('database', 'critical'), res('bot_process', 'ok')], '2026-11-24T06:00:00Z').alerts).toEqual([]);
    expect(step(s, [res('database', 'critical'), res('bot_process', 'ok')], '2026-11-24T09:00:00Z').alerts.map((a) => a.kind)).toEqual(['reminder']);
  });

  it('remindHours 0 never reminds', () => {
    const p = { ...policy, remindHours: 0 };
    const s = step(emptyHealthState(), [res('database', 'critical')], '2026-11-24T01:00:00Z', p).state;
    expect(step(s, [res('database', 'critical')], '2026-11-30T01:00:00Z', p).alerts).toEqual([]);
  });

  it('tells the downtime on recovery, across days', () => {
    const s = step(emptyHealthState(), [res('database', 'critical')], '2026-11-24T01:00:00Z').state;
    const o = step(s, [res('database', 'ok')], '2026-11-26T04:30:00Z');
    expect(o.alerts[0]!.text).toContain('Database normal kembali setelah 2 hari 3 jam bermasalah');
    expect(o.state.checks.database!.alerted).toBe(false);
  });

  it('an undelivered message is planned again on the next run (nothing is marked)', () => {
    const first = step(emptyHealthState(), [res('database', 'critical')], '2026-11-24T01:00:00Z', policy, false);
    expect(first.alerts).toHaveLength(1);
    const second = step(first.state, [res('database', 'critical')], '2026-11-24T01:05:00Z', policy, false);
    expect(second.alerts.map((a) => a.kind)).toEqual(['problem']);
    // A recovery nobody heard about is also retried.
    const alerted = step(emptyHealthState(), [res('database', 'critical')], '2026-11-24T01:00:00Z').state;
    const r1 = step(alerted, [res('database', 'ok')], '2026-11-24T01:10:00Z', policy, false);
    expect(r1.alerts.map((a) => a.kind)).toEqual(['recovery']);
    const r2 = step(r1.state, [res('database', 'ok')], '2026-11-24T01:15:00Z');
    expect(r2.alerts[0]!.text).toContain('setelah 15 menit');
    expect(step(r2.state, [res('database', 'ok')], '2026-11-24T01:20:00Z').alerts).toEqual([]);
  });

  it('quiet hours (in BOT_TIMEZONE, across midnight) hold warnings, not criticals', () => {
    const p = { ...policy, alertAfter: 1, quietHours: { from: 22 * 60, to: 6 * 60 } };
    // 23:30 in Jakarta = 16:30 UTC.
    expect(inQuietHours(at('2026-11-24T16:30:00Z'), p)).toBe(true);
    expect(inQuietHours(at('2026-11-24T22:59:00Z'), p)).toBe(true); // 05:59
    expect(inQuietHours(at('2026-11-24T23:00:00Z'), p)).toBe(false); // 06:00
    const held = step(emptyHealthState(), [res('disk', 'warning')], '2026-11-24T16:30:00Z', p);
    expect(held.alerts).toEqual([]);
    expect(step(emptyHealthState(), [res('database', 'critical')], '2026-11-24T16:30:00Z', p).alerts).toHaveLength(1);
    // Sent when the quiet hours end.
    expect(step(held.state, [res('disk', 'warning')], '2026-11-24T23:00:00Z', p).alerts.map((a) => a.kind)).toEqual(['problem']);
  });

  it('lists what still fails under a new problem', () => {
    const s = step(emptyHealthState(), [res('database', 'critical'), res('disk', 'ok')], '2026-11-24T01:00:00Z').state;
    const o = step(s, [res('database', 'critical'), res('bot_process', 'critical')], '2026-11-24T02:00:00Z');
    expect(o.alerts[0]!.text).toBe(
      '⚠️ Health-check: KRITIS\n🔴 Proses bot: bot_process critical\nMasih bermasalah:\n🔴 Database: database critical (sejak 1 jam lalu)',
    );
  });
});
