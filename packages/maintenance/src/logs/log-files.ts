import fsp from 'node:fs/promises';
import path from 'node:path';

/** A daily log file: `<BOT_LOG_PATH>/<service>/YYYY-MM-DD.log`. */
export interface DailyLogFile {
  service: string;
  /** `YYYY-MM-DD`, the day in BOT_TIMEZONE the file covers. */
  date: string;
  /** Name inside log archives: `<service>/YYYY-MM-DD.log`. */
  member: string;
  path: string;
  size: number;
  mtime: Date;
}

const DAILY = /^(\d{4}-\d{2}-\d{2})\.log$/;

/** Every daily file under the log folder, oldest first. Other files are left alone. */
export async function scanDailyLogs(logPath: string): Promise<DailyLogFile[]> {
  let services: string[];
  try {
    services = await fsp.readdir(logPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const out: DailyLogFile[] = [];
  for (const service of services.sort()) {
    const dir = path.join(logPath, service);
    const st = await fsp.lstat(dir).catch(() => undefined);
    if (!st?.isDirectory()) continue;
    for (const name of (await fsp.readdir(dir)).sort()) {
      const m = DAILY.exec(name);
      if (!m) continue;
      const full = path.join(dir, name);
      const fst = await fsp.lstat(full).catch(() => undefined);
      if (!fst?.isFile()) continue;
      out.push({ service, date: m[1]!, member: `${service}/${name}`, path: full, size: fst.size, mtime: fst.mtime });
    }
  }
  return out.sort((a, b) => a.date.localeCompare(b.date) || a.member.localeCompare(b.member));
}

/** Calendar arithmetic on `YYYY-MM-DD` strings (no time zone involved). */
export function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

/** Whole days from `a` to `b` (both `YYYY-MM-DD`). */
export function daysBetween(a: string, b: string): number {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);
}
