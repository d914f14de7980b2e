import { randomBytes, randomUUID } from 'node:crypto';
import { BotctlError, createSql, ExitCode, formatDuration, isoWithOffset, withDatabase, zonedStamp } from '@botctl/core';
import { type PointInTimeDeps, restoreToTime } from './point-in-time.js';

// `backup drill --to-time`: proves the point-in-time path end to end, as the monthly drill proves
// the nightly dump. A canary row is written to the shop's audit_log now (after the last nightly
// dump, by construction), its WAL file archived (a switch when the role may, else PostgreSQL's
// archive_timeout), then the database is restored to this moment into a scratch database, which
// must hold the canary; the scratch database is dropped.

export interface PitrDrillResult {
  ok: boolean;
  canary: string;
  written_at: string;
  reached: string | null;
  base_backup: string;
  database: string;
  duration_ms: number;
  error?: string;
}

export async function drillToTime(deps: PointInTimeDeps, opts: { archiveWaitSeconds?: number } = {}): Promise<PitrDrillResult> {
  const tenant = deps.restore.config;
  if (!tenant.databaseUrl) throw new BotctlError('CONFIG', ExitCode.CONFIG, 'DATABASE_URL is not set');
  const t0 = performance.now();
  const clock = deps.restore.clock;
  const canary = randomUUID();
  const sql = createSql(tenant.databaseUrl, { max: 1 });
  let writtenAt: Date;
  try {
    const [ins] = await sql<
      { at: Date }[]
    >`INSERT INTO audit_log (actor, action, details) VALUES ('botctl', 'pitr_drill_canary', ${sql.json({ canary })}) RETURNING at`;
    writtenAt = ins!.at;
    // Committed: its commit record is in this WAL file or an earlier one.
    const [row] = await sql<{ seg: string }[]>`SELECT pg_walfile_name(pg_current_wal_lsn()) AS seg`;
    // Its WAL file archived now where the role may switch files, else within archive_timeout.
    await sql`SELECT pg_switch_wal()`.catch(() => undefined);
    const [t] = await sql<{ s: string }[]>`SELECT current_setting('archive_timeout') AS s`;
    const waitS = opts.archiveWaitSeconds ?? (Number.parseInt(t!.s, 10) || 60) + 60;
    const deadline = Date.now() + waitS * 1000;
    for (;;) {
      const [a] = await sql<{ last: string | null }[]>`SELECT last_archived_wal AS last FROM pg_stat_archiver`;
      if (a!.last && a!.last >= row!.seg) break;
      if (Date.now() > deadline) {
        throw new BotctlError('PITR_DRILL', ExitCode.FAILURE, `the WAL file ${row!.seg} holding the drill's canary was not archived within ${waitS} s`, {
          hint: 'botctl healthcheck (wal_archive) says whether archiving works; archive_timeout sets how often a quiet cluster archives',
        });
      }
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await sql.end({ timeout: 5 }).catch(() => undefined);
  }
  const database = `botctl_drill_pitr_${zonedStamp(clock.now(), tenant.timezone).replace('-', '_')}_${randomBytes(3).toString('hex')}`;
  const admin = createSql(withDatabase(tenant.databaseUrl, 'postgres'), { max: 1 });
  try {
    const r = await restoreToTime(deps, clock.now(), {
      target: { kind: 'new', name: database },
      withConfig: false,
      withLogs: false,
      yes: false,
      allowOtherStore: false,
    });
    const scratch = createSql(withDatabase(tenant.databaseUrl, database), { max: 1 });
    let found = 0;
    try {
      const [c] = await scratch<
        { n: string }[]
      >`SELECT count(*)::text AS n FROM audit_log WHERE action = 'pitr_drill_canary' AND details->>'canary' = ${canary}`;
      found = Number(c!.n);
    } finally {
      await scratch.end({ timeout: 5 }).catch(() => undefined);
    }
    const result: PitrDrillResult = {
      ok: found === 1,
      canary,
      written_at: isoWithOffset(writtenAt, tenant.timezone, { ms: true }),
      reached: r.reached,
      base_backup: r.base_backup.name,
      database,
      duration_ms: Math.round(performance.now() - t0),
      ...(found === 1 ? {} : { error: `the restored database lacks the canary row written at ${isoWithOffset(writtenAt, tenant.timezone)}` }),
    };
    return result;
  } finally {
    await admin.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch(() => undefined);
    await admin.end({ timeout: 5 }).catch(() => undefined);
  }
}

/** The owners' line for a point-in-time drill that passed. */
export function pitrDrillPassedText(r: PitrDrillResult): string {
  return `Uji restore titik waktu lulus: data sampai ${r.reached ?? r.written_at} kembali dari ${r.base_backup} + arsip WAL (${formatDuration(r.duration_ms)})`;
}
