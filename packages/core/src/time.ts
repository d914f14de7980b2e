/** The only source of "now" in domain code, so tests can move time. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** A clock tests can set and advance. */
export class FixedClock implements Clock {
  #ms: number;
  constructor(start: Date | string | number) {
    this.#ms = new Date(start).getTime();
  }
  now(): Date {
    return new Date(this.#ms);
  }
  set(to: Date | string | number): void {
    this.#ms = new Date(to).getTime();
  }
  advance(ms: number): void {
    this.#ms += ms;
  }
}

export interface ZonedParts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  /** 0 = Sunday */
  weekday: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      weekday: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Wall-clock fields of `date` in `timeZone`. */
export function zonedParts(date: Date, timeZone: string): ZonedParts {
  const parts: Record<string, string> = {};
  for (const p of formatterFor(timeZone).formatToParts(date)) parts[p.type] = p.value;
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS.indexOf(parts.weekday ?? 'Sun'),
  };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

/** `YYYY-MM-DD` in the zone. */
export function zonedDate(date: Date, timeZone: string): string {
  const p = zonedParts(date, timeZone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
}

/** `YYYY-MM-DD HH:MM:SS` in the zone: the log line timestamp. */
export function zonedDateTime(date: Date, timeZone: string): string {
  const p = zonedParts(date, timeZone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}`;
}

/** `YYYYMMDD-HHMMSS` in the zone: the backup file name stamp. */
export function zonedStamp(date: Date, timeZone: string): string {
  const p = zonedParts(date, timeZone);
  return `${p.year}${pad(p.month)}${pad(p.day)}-${pad(p.hour)}${pad(p.minute)}${pad(p.second)}`;
}

/** Offset of the zone from UTC at `date`, in minutes (Asia/Jakarta: +420). */
export function zoneOffsetMinutes(date: Date, timeZone: string): number {
  return offsetOf(date, zonedParts(date, timeZone));
}

/** The offset that wall-clock fields `p` of `date` imply, in minutes. */
function offsetOf(date: Date, p: ZonedParts): number {
  const asUtc = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  const whole = Math.floor(date.getTime() / 1000) * 1000;
  return Math.round((asUtc - whole) / 60_000);
}

/** ISO 8601 with the zone's offset: `2026-11-24T20:40:00+07:00` (with `ms`, `…:00.123+07:00`). */
export function isoWithOffset(date: Date, timeZone: string, opts: { ms?: boolean } = {}): string {
  // One zone lookup for both (a list of thousands of backups renders each time).
  const p = zonedParts(date, timeZone);
  const off = offsetOf(date, p);
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  const frac = opts.ms ? `.${String(date.getUTCMilliseconds()).padStart(3, '0')}` : '';
  return (
    `${p.year}-${pad(p.month)}-${pad(p.day)}T${pad(p.hour)}:${pad(p.minute)}:${pad(p.second)}${frac}` + `${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`
  );
}

/** A time for people: `2026-11-24 20:40:00 +07:00`, in BOT_TIMEZONE with its offset. */
export function humanTime(date: Date, timeZone: string): string {
  const iso = isoWithOffset(date, timeZone);
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} ${iso.slice(19)}`;
}

/** A recorded instant (ISO 8601) as people read it: in `timeZone` with its offset; as recorded without one. */
export function shownTime(iso: string, timeZone: string | undefined): string {
  const t = Date.parse(iso);
  return timeZone && !Number.isNaN(t) ? humanTime(new Date(t), timeZone) : iso;
}

/** The UTC instant at which the wall clock in `timeZone` shows the given fields. */
export function zonedToInstant(fields: { year: number; month: number; day: number; hour?: number; minute?: number; second?: number }, timeZone: string): Date {
  const guess = Date.UTC(fields.year, fields.month - 1, fields.day, fields.hour ?? 0, fields.minute ?? 0, fields.second ?? 0);
  // Two passes settle the offset except inside a DST gap, where the later instant is returned.
  let t = guess - zoneOffsetMinutes(new Date(guess), timeZone) * 60_000;
  t = guess - zoneOffsetMinutes(new Date(t), timeZone) * 60_000;
  return new Date(t);
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  const rest = Math.round(s - m * 60);
  if (m < 60) return `${m} min ${rest} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** The same in Indonesian, for owners: `45 detik`, `12 menit`, `3 jam 5 menit`, `2 hari 3 jam`. */
export function formatDurasi(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} detik`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} menit`;
  const h = Math.floor(m / 60);
  if (h < 48) return m % 60 ? `${h} jam ${m % 60} menit` : `${h} jam`;
  return h % 24 ? `${Math.floor(h / 24)} hari ${h % 24} jam` : `${Math.floor(h / 24)} hari`;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
