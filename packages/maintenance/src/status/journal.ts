import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { LOG_LINE, serviceLogDir, zonedToInstant } from '@botctl/core';

export const JOURNAL_KINDS = ['update', 'patch', 'rollback', 'note'] as const;
export type JournalKind = (typeof JOURNAL_KINDS)[number];

/** `[journal] update: …` inside a maintenance log line: the plan's record of manual steps. */
const JOURNAL_RE = /^\[journal\] (update|patch|rollback|note): (.*)$/;

export function journalMessage(kind: JournalKind, text: string, who: string | undefined): string {
  return `[journal] ${kind}: ${text.replace(/\s+/g, ' ').trim()}${who ? ` (oleh ${who})` : ''}`;
}

export interface JournalEntry {
  kind: JournalKind;
  text: string;
  /** The line's time (BOT_TIMEZONE wall clock in the log), as an instant. */
  at: Date;
  file: string;
}

/** Wall-clock `YYYY-MM-DD HH:MM:SS` of a log line, in `timeZone`, as an instant. */
function logLineTime(stamp: string, timeZone: string): Date {
  return zonedToInstant(
    {
      year: +stamp.slice(0, 4),
      month: +stamp.slice(5, 7),
      day: +stamp.slice(8, 10),
      hour: +stamp.slice(11, 13),
      minute: +stamp.slice(14, 16),
      second: +stamp.slice(17, 19),
    },
    timeZone,
  );
}

/** Daily files of logs/maintenance/, newest first. */
function maintenanceLogFiles(logPath: string): string[] {
  const dir = serviceLogDir(logPath, 'maintenance');
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d{4}-\d{2}-\d{2}\.log$/.test(n))
    .sort()
    .reverse()
    .map((n) => path.join(dir, n));
}

/**
 * The newest journal entry of the given kinds, read from the maintenance log itself (newest day
 * first, stopping at the first day that has one).
 */
export async function newestJournalEntry(logPath: string, timeZone: string, kinds: readonly JournalKind[]): Promise<JournalEntry | undefined> {
  for (const file of maintenanceLogFiles(logPath)) {
    const text = await fsp.readFile(file, 'utf8').catch(() => '');
    const lines = text.split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = LOG_LINE.exec(lines[i]!);
      if (!m) continue;
      const j = JOURNAL_RE.exec(m[3]!);
      if (j && (kinds as readonly string[]).includes(j[1]!)) {
        return { kind: j[1] as JournalKind, text: j[2]!, at: logLineTime(m[1]!, timeZone), file };
      }
    }
  }
  return undefined;
}

/** The last line written to the maintenance log (any entry), for the audit check. */
export async function newestMaintenanceLine(logPath: string, timeZone: string): Promise<{ at: Date; file: string } | undefined> {
  for (const file of maintenanceLogFiles(logPath)) {
    const text = await fsp.readFile(file, 'utf8').catch(() => '');
    const lines = text.trimEnd().split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const m = LOG_LINE.exec(lines[i]!);
      if (m) return { at: logLineTime(m[1]!, timeZone), file };
    }
  }
  return undefined;
}
