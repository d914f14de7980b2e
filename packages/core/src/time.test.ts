import { FixedClock, isoWithOffset, zonedDate, zonedDateTime, zonedStamp, zonedToInstant, formatBytes } from './time.js';

describe('time in BOT_TIMEZONE', () => {
  const d = new Date('2026-11-24T17:30:05Z');
  it('formats wall-clock fields in the zone', () => {
    expect(zonedDateTime(d, 'Asia/Jakarta')).toBe('2026-11-25 00:30:05');
    expect(zonedDate(d, 'Asia/Jakarta')).toBe('2026-11-25');
    expect(zonedStamp(d, 'Asia/Jakarta')).toBe('20261125-003005');
  });
  it('writes ISO 8601 with the zone offset', () => {
    expect(isoWithOffset(d, 'Asia/Jakarta')).toBe('2026-11-25T00:30:05+07:00');
    expect(isoWithOffset(d, 'America/New_York')).toBe('2026-11-24T12:30:05-05:00');
    expect(isoWithOffset(d, 'UTC')).toBe('2026-11-24T17:30:05+00:00');
  });
  it('converts zoned wall time back to the instant', () => {
    expect(zonedToInstant({ year: 2026, month: 11, day: 25, hour: 0, minute: 30, second: 5 }, 'Asia/Jakarta').toISOString()).toBe('2026-11-24T17:30:05.000Z');
  });
  it('FixedClock only moves when told', () => {
    const c = new FixedClock('2026-01-01T00:00:00Z');
    c.advance(1000);
    expect(c.now().toISOString()).toBe('2026-01-01T00:00:01.000Z');
  });
  it('formats sizes in binary units', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KiB');
  });
});
