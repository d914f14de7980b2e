import type { Sql } from '../db/connection.js';
import type { Logger } from '../log/logger.js';
import { BotApiError, type BotApi } from '../telegram/bot-api.js';
import { n } from './sql-helpers.js';

// Broadcasts from the shop's staff to every buyer: a draft until its author confirms it, then a
// queue in the database (one row per recipient), so a restart resumes where it stopped and each
// buyer gets it once. Sent at a pace under Telegram's limits; the author gets the counts.

/** Messages per second a broadcast is sent at: under Telegram's ~30 a second for one bot. */
export const BROADCAST_PER_SECOND = 20;
/** A recipient whose send failed for a passing reason is tried this many times in all. */
const MAX_ATTEMPTS = 5;
/** A claimed recipient whose send did not finish (the bot stopped) is due again after this long. */
const CLAIM_SECONDS = 120;

export interface BroadcastDraft {
  kind: 'text' | 'photo';
  body: string;
  photoFileId?: string | undefined;
}

/** Buyers a broadcast would reach now: every buyer the shop has not blocked but its author (who has the preview). */
export async function broadcastAudience(sql: Sql, authorId: number): Promise<number> {
  const [r] = await sql<{ n: string }[]>`SELECT count(*) AS n FROM users WHERE blocked_at IS NULL AND telegram_id <> ${authorId}`;
  return n(r?.n ?? '0');
}

export async function draftBroadcast(sql: Sql, authorId: number, d: BroadcastDraft): Promise<string> {
  const [r] = await sql<{ id: string }[]>`
    INSERT INTO broadcasts (author_id, kind, body, photo_file_id) VALUES (${authorId}, ${d.kind}, ${d.body}, ${d.photoFileId ?? null}) RETURNING id`;
  return String(r!.id);
}

/** The author confirms: the recipients are fixed now and queued. Undefined when it is not their draft any more. */
export async function queueBroadcast(sql: Sql, id: string, authorId: number): Promise<{ recipients: number } | undefined> {
  return (await sql.begin(async (tx) => {
    const [b] =
      await tx`UPDATE broadcasts SET status = 'queued', queued_at = now() WHERE id = ${id} AND author_id = ${authorId} AND status = 'draft' RETURNING id`;
    if (!b) return undefined;
    const rows = await tx`
      INSERT INTO broadcast_recipients (broadcast_id, chat_id) SELECT ${id}, telegram_id FROM users WHERE blocked_at IS NULL AND telegram_id <> ${authorId} RETURNING chat_id`;
    await tx`INSERT INTO audit_log (actor, action, details) VALUES (${`staff:${authorId}`}, 'broadcast_queued', ${tx.json({ broadcast: Number(id), recipients: rows.length })})`;
    return { recipients: rows.length };
  })) as { recipients: number } | undefined;
}

export async function cancelBroadcastDraft(sql: Sql, id: string, authorId: number): Promise<boolean> {
  const rows =
    await sql`UPDATE broadcasts SET status = 'cancelled', finished_at = now() WHERE id = ${id} AND author_id = ${authorId} AND status = 'draft' RETURNING id`;
  return rows.length === 1;
}

export interface BroadcastCounts {
  id: string;
  authorId: number;
  delivered: number;
  blocked: number;
  failed: number;
  pending: number;
}

export async function broadcastCounts(sql: Sql, id: string): Promise<BroadcastCounts | undefined> {
  const [r] = await sql<{ author_id: string; delivered: string; blocked: string; failed: string; pending: string }[]>`
    SELECT b.author_id,
           count(r.*) FILTER (WHERE r.status = 'delivered') AS delivered,
           count(r.*) FILTER (WHERE r.status = 'blocked') AS blocked,
           count(r.*) FILTER (WHERE r.status = 'failed') AS failed,
           count(r.*) FILTER (WHERE r.status = 'pending') AS pending
      FROM broadcasts b LEFT JOIN broadcast_recipients r ON r.broadcast_id = b.id
     WHERE b.id = ${id} GROUP BY b.id`;
  if (!r) return undefined;
  return { id, authorId: n(r.author_id), delivered: n(r.delivered), blocked: n(r.blocked), failed: n(r.failed), pending: n(r.pending) };
}

export const broadcastReportText = (c: BroadcastCounts): string =>
  `📣 Broadcast #${c.id} selesai: ${c.delivered} terkirim, ${c.blocked} memblokir bot, ${c.failed} gagal.`;

export interface BroadcastRun {
  sent: number;
  blocked: number;
  failed: number;
  /** Sends that failed for a passing reason and wait for another try. */
  retrying: number;
  /** Broadcasts finished (and reported to their author) in this run. */
  finished: string[];
}

/**
 * One run of the broadcast queue: sends to due recipients, at most `BROADCAST_PER_SECOND` a
 * second, until none is due or `budgetMs` has passed (the bot stops between runs, never in the
 * middle of a long one); then finishes and reports the broadcasts that have no recipient left.
 * Each recipient is claimed before its send, so two bots never send to one buyer.
 */
export async function runBroadcastQueue(
  deps: { sql: Sql; api: BotApi; log: Logger; sleep?: (ms: number) => Promise<void> },
  opts: { budgetMs?: number; signal?: AbortSignal } = {},
): Promise<BroadcastRun> {
  const { sql, api, log } = deps;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const started = Date.now();
  const budget = opts.budgetMs ?? 10_000;
  const gap = 1000 / BROADCAST_PER_SECOND;
  const run: BroadcastRun = { sent: 0, blocked: 0, failed: 0, retrying: 0, finished: [] };
  while (Date.now() - started < budget && !opts.signal?.aborted) {
    const due = await sql<{ broadcast_id: string; chat_id: string; attempts: number; kind: 'text' | 'photo'; body: string; photo_file_id: string | null }[]>`
      UPDATE broadcast_recipients r SET attempts = r.attempts + 1, next_at = now() + make_interval(secs => ${CLAIM_SECONDS})
        FROM (SELECT x.broadcast_id, x.chat_id FROM broadcast_recipients x JOIN broadcasts b ON b.id = x.broadcast_id
               WHERE x.status = 'pending' AND x.next_at <= now() AND b.status = 'queued'
               ORDER BY x.broadcast_id, x.next_at, x.chat_id LIMIT ${BROADCAST_PER_SECOND} FOR UPDATE OF x SKIP LOCKED) d, broadcasts b
       WHERE r.broadcast_id = d.broadcast_id AND r.chat_id = d.chat_id AND b.id = r.broadcast_id
       RETURNING r.broadcast_id, r.chat_id, r.attempts, b.kind, b.body, b.photo_file_id`;
    if (due.length === 0) break;
    for (const d of due) {
      const t0 = Date.now();
      const chatId = n(d.chat_id);
      try {
        if (d.kind === 'photo') await api.call('sendPhoto', { chat_id: chatId, photo: d.photo_file_id, ...(d.body ? { caption: d.body } : {}) });
        else await api.call('sendMessage', { chat_id: chatId, text: d.body, link_preview_options: { is_disabled: true } });
        await sql`UPDATE broadcast_recipients SET status = 'delivered', error = NULL WHERE broadcast_id = ${d.broadcast_id} AND chat_id = ${d.chat_id}`;
        run.sent++;
      } catch (error) {
        const message = (error as Error).message.slice(0, 300);
        const kind = error instanceof BotApiError ? error.kind : undefined;
        // 403: the buyer blocked the bot (or deleted their account); 400: no such chat. Neither passes.
        const final = kind === 'forbidden' ? 'blocked' : kind === 'bad_request' || d.attempts >= MAX_ATTEMPTS ? 'failed' : undefined;
        if (final) {
          await sql`UPDATE broadcast_recipients SET status = ${final}, error = ${message} WHERE broadcast_id = ${d.broadcast_id} AND chat_id = ${d.chat_id}`;
          if (final === 'blocked') run.blocked++;
          else run.failed++;
        } else {
          await sql`
            UPDATE broadcast_recipients SET error = ${message}, next_at = now() + make_interval(secs => ${30 * 2 ** d.attempts})
             WHERE broadcast_id = ${d.broadcast_id} AND chat_id = ${d.chat_id}`;
          run.retrying++;
          log.debug(`[broadcast] #${d.broadcast_id} ke ${chatId} gagal (percobaan ke-${d.attempts}, dicoba lagi): ${message}`);
        }
      }
      const wait = gap - (Date.now() - t0);
      if (wait > 0) await sleep(wait);
    }
  }
  const done = await sql<{ id: string }[]>`
    UPDATE broadcasts b SET status = 'done', finished_at = now()
     WHERE status = 'queued' AND NOT EXISTS (SELECT 1 FROM broadcast_recipients r WHERE r.broadcast_id = b.id AND r.status = 'pending')
     RETURNING id`;
  for (const b of done) run.finished.push(String(b.id));
  await reportFinished(deps);
  return run;
}

/** Tells each finished broadcast's author its counts, once (tried again on the next run when Telegram fails). */
async function reportFinished(deps: { sql: Sql; api: BotApi; log: Logger }): Promise<void> {
  const todo = await deps.sql<{ id: string }[]>`SELECT id FROM broadcasts WHERE status = 'done' AND reported_at IS NULL ORDER BY id LIMIT 10`;
  for (const b of todo) {
    const c = await broadcastCounts(deps.sql, String(b.id));
    if (!c) continue;
    deps.log.info(`[broadcast] #${c.id} selesai: ${c.delivered} terkirim, ${c.blocked} memblokir bot, ${c.failed} gagal`);
    try {
      await deps.api.call('sendMessage', { chat_id: c.authorId, text: broadcastReportText(c) });
    } catch (error) {
      deps.log.warn(`[broadcast] #${c.id}: report not sent to ${c.authorId}: ${(error as Error).message}`);
      if (!(error instanceof BotApiError) || error.transient) continue;
    }
    await deps.sql`UPDATE broadcasts SET reported_at = now() WHERE id = ${b.id}`;
  }
}
