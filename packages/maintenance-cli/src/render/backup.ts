import { formatBytes, formatDuration, humanTime, isoWithOffset } from '@botctl/core';
import type { ChalkInstance } from 'chalk';
import type { BackupEntry } from '@botctl/maintenance';
import type { CreateResult } from '@botctl/maintenance';
import type { VerifyReport } from '@botctl/maintenance';
import { missingOffsite } from '@botctl/maintenance';
import { storagePath } from '@botctl/maintenance';
import { table } from './table.js';

export function renderCreate(r: CreateResult, s: ChalkInstance, displayPath: (p: string) => string): string {
  const lines = [
    `${r.status === 'ok' ? s.green('✓ Backup complete') : s.yellow('⚠ Backup complete locally; offsite copy FAILED')}`,
    `  archive   ${s.bold(displayPath(r.path))}`,
    `  size      ${formatBytes(r.size)} (dump ${formatBytes(r.dump_bytes)}), ${r.members} members`,
    `  database  ${r.database.name}: ${r.tables} tables, ${r.rows} rows (PostgreSQL ${r.database.server_version}, pg_dump ${r.database.pg_dump_version})`,
    `  files     ${r.config_files.length} config, ${r.log_files} log`,
    `  encrypted ${r.encryption.mode === 'recipients' ? `for ${r.encryption.recipients?.length ?? 0} age recipient(s)` : 'with the passphrase (scrypt)'}`,
    `  sha256    ${r.sha256}`,
    `  took      ${formatDuration(r.duration_ms)}`,
  ];
  if (r.offsite.status === 'ok') lines.push(`  offsite   ${s.green('✓')} ${displayPath(r.offsite.path)} (hash verified)`);
  else if (r.offsite.status === 'failed') lines.push(`  offsite   ${s.red('✗')} ${r.offsite.error}`);
  for (const w of r.warnings) lines.push(`  ${s.yellow('warning')}   ${w}`);
  return lines.join('\n');
}

export interface ListItem {
  name: string;
  time: string;
  kind: string;
  size: number;
  sha256: string | null;
  store_name: string | null;
  store_id: string | null;
  /** Real creation order (higher is newer). */
  sequence: number;
  /** Dated later than this clock (a clock that ran ahead, or is behind now). */
  future: boolean;
  /** Offsite is configured and this complete backup has no complete copy there (`backup offsite sync`). */
  offsite_missing: boolean;
  complete: boolean;
  where: 'local' | 'offsite' | 'both';
  locations: { location: string; path: string; size: number; complete: boolean }[];
  last_verification: BackupEntry['last_verification'] | null;
  last_good_verification: BackupEntry['last_good_verification'] | null;
  last_drill: BackupEntry['last_drill'] | null;
}

export function toListItem(e: BackupEntry, timeZone: string, offsiteConfigured = false): ListItem {
  const locs = new Set(e.copies.map((c) => c.location));
  return {
    name: e.name,
    time: isoWithOffset(e.time, timeZone),
    kind: e.kind,
    size: e.size,
    sha256: e.sha256 ?? null,
    store_name: e.store_name ?? null,
    store_id: e.copies.find((c) => c.sidecar)?.sidecar?.store_id ?? null,
    sequence: e.order,
    future: e.future,
    offsite_missing: offsiteConfigured && missingOffsite([e]).length > 0,
    complete: e.complete,
    where: locs.size === 2 ? 'both' : locs.has('offsite') ? 'offsite' : 'local',
    locations: e.copies.map((c) => ({
      location: c.location,
      path: storagePath(c.storage, e.name),
      size: c.object.size,
      complete: Boolean(c.sidecar),
    })),
    last_verification: e.last_verification ?? null,
    last_good_verification: e.last_good_verification ?? null,
    last_drill: e.last_drill ?? null,
  };
}

function ago(iso: string | undefined, now: Date): string {
  if (!iso) return '';
  const ms = now.getTime() - Date.parse(iso);
  if (ms < 60_000) return 'just now';
  if (ms < 3_600_000) return `${Math.round(ms / 60_000)} min ago`;
  if (ms < 172_800_000) return `${Math.round(ms / 3_600_000)} h ago`;
  return `${Math.round(ms / 86_400_000)} d ago`;
}

export function renderList(items: BackupEntry[], timeZone: string, now: Date, s: ChalkInstance, offsiteConfigured = false): string {
  if (items.length === 0) return 'No backups yet. Make one with `botctl backup create`.';
  const rows = items.map((e) => {
    const item = toListItem(e, timeZone, offsiteConfigured);
    const v = e.last_verification;
    const verified = v ? `${v.ok ? s.green('ok') : s.red('FAILED')} ${v.level} ${ago(v.at, now)}` : s.dim('never');
    const drill = e.last_drill ? `${e.last_drill.ok ? s.green('ok') : s.red('FAILED')} ${ago(e.last_drill.at, now)}` : s.dim('—');
    return [
      e.complete ? e.name : `${e.name} ${s.red('(incomplete: no sidecar)')}`,
      `${humanTime(e.time, timeZone)}${e.future ? s.yellow(' (in the future)') : ''}`,
      formatBytes(e.size),
      item.offsite_missing ? `${item.where} ${s.yellow('(no offsite copy)')}` : item.where,
      e.kind === 'manual' ? '' : e.kind,
      verified,
      drill,
    ];
  });
  const out = table(['NAME', `TIME (${timeZone})`, 'SIZE', 'WHERE', 'KIND', 'VERIFIED', 'DRILL'], rows);
  const future = items.filter((e) => e.future).length;
  const missing = offsiteConfigured ? missingOffsite(items).length : 0;
  const notes = [
    ...(missing
      ? [s.yellow(`${missing} backup(s) lack their offsite copy: \`botctl backup offsite sync\` makes them (the next backup --offsite does too).`)]
      : []),
  ];
  const withNotes = notes.length ? `${out}\n${notes.join('\n')}` : out;
  return future
    ? `${withNotes}\n${s.yellow(`${future} backup(s) dated in the future: the clock was ahead when they were made, or is behind now; they are ordered by when they were really made.`)}`
    : withNotes;
}

export function renderVerify(report: VerifyReport, s: ChalkInstance): string {
  return report.results
    .map((r) =>
      r.ok
        ? `${s.green('✓')} ${r.name} (${r.location}): OK, ${r.level} check` +
          (r.checked?.tables !== undefined
            ? `: ${r.checked.members} members, dump read by pg_restore, ${r.checked.tables} tables / ${r.checked.rows} rows in manifest`
            : '') +
          ` (${formatDuration(r.duration_ms)})`
        : `${s.red('✗')} ${r.name} (${r.location}): ${r.error?.message}${r.error?.hint ? s.dim(` (hint: ${r.error.hint})`) : ''}`,
    )
    .join('\n');
}
