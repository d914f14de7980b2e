import type { Sql } from '../db/connection.js';
import type { Logger } from '../log/logger.js';
import { BotApiError, type BotApi } from '../telegram/bot-api.js';
import type { ExpiredInvoice, ExpiryResult } from './expiry.js';
import type { InvoiceMessage } from './invoice-messages.js';
import { expiredNotice } from './texts.js';

export interface CleanupResult {
  removed: number;
  edited: number;
  /** Not removed yet: tried again by the expiry job (or given up when Telegram says it never can). */
  failed: number;
}

type Outcome = { kind: 'deleted' | 'edited' | 'gone'; why?: string } | { kind: 'retry'; why: string };

/**
 * One message out of the chat: deleted, or edited into `replacement` when Telegram refuses the
 * delete (a bot cannot delete messages older than 48 hours). `gone` when it never can be (the
 * chat is gone or the bot blocked: 403; the message no longer exists: 400 on the edit);
 * `retry` for what may pass (5xx, 429, timeouts, the network, a token problem).
 */
async function cleanOne(api: BotApi, m: InvoiceMessage, replacement: string): Promise<Outcome> {
  const passing = (e: unknown) => !(e instanceof BotApiError) || (e.kind !== 'bad_request' && e.kind !== 'forbidden');
  try {
    await api.call('deleteMessage', { chat_id: m.chatId, message_id: m.messageId });
    return { kind: 'deleted' };
  } catch (error) {
    if (passing(error)) return { kind: 'retry', why: (error as Error).message };
    if (error instanceof BotApiError && error.kind === 'forbidden') return { kind: 'gone', why: error.message };
  }
  try {
    if (m.kind === 'qris') await api.call('editMessageCaption', { chat_id: m.chatId, message_id: m.messageId, caption: replacement });
    else await api.call('editMessageText', { chat_id: m.chatId, message_id: m.messageId, text: replacement });
    return { kind: 'edited' };
  } catch (error) {
    if (passing(error)) return { kind: 'retry', why: (error as Error).message };
    // "message to edit not found": the buyer deleted it already; 403: the chat is gone.
    return { kind: 'gone', why: (error as Error).message };
  }
}

/** Seconds until the next try after `attempts` failed ones: the next run, then 1, 2, 4 … 60 minutes. */
export function cleanupBackoffSeconds(attempts: number): number {
  return attempts <= 1 ? 0 : Math.min(3600, 60 * 2 ** (attempts - 2));
}

const tagOf = (m: InvoiceMessage) => (m.forDeposit ? '[expired_deposits]' : '[expired_payments]');

async function settle(sql: Sql, m: InvoiceMessage, o: Outcome, replacement: string): Promise<number> {
  if (o.kind !== 'retry') {
    await sql`UPDATE invoice_messages SET removed_at = now(), outcome = ${o.kind}, next_attempt_at = NULL, attempts = attempts + 1
               WHERE id = ${m.id} AND removed_at IS NULL`;
    return 0;
  }
  const [row] = await sql<{ attempts: number }[]>`
    UPDATE invoice_messages SET attempts = attempts + 1, last_error = ${o.why.slice(0, 500)}, replacement = ${replacement},
           next_attempt_at = now() + make_interval(secs => ${cleanupBackoffSeconds((m.attempts ?? 0) + 1)})
     WHERE id = ${m.id} AND removed_at IS NULL RETURNING attempts`;
  return row?.attempts ?? (m.attempts ?? 0) + 1;
}

function describe(m: InvoiceMessage, o: Outcome, attempts: number): string {
  const where = `pesan ${m.chatId}/${m.messageId}`;
  if (o.kind === 'deleted') return `${where} dihapus`;
  if (o.kind === 'edited') return `${where} diedit (tidak bisa dihapus)`;
  if (o.kind === 'gone') return `${where} tidak bisa dihapus atau diedit lagi, dilepas: ${o.why}`;
  return `${where} belum terhapus (percobaan ke-${attempts}; dicoba lagi ${cleanupBackoffSeconds(attempts) ? `dalam ${cleanupBackoffSeconds(attempts) / 60} menit` : 'pada run berikutnya'}): ${o.why}`;
}

/**
 * Takes an invoice's messages out of the chat (see `cleanOne`). A message that cannot be
 * removed now is kept with its replacement text and tried again by `retryInvoiceCleanup`.
 */
export async function removeInvoiceMessages(
  deps: { sql: Sql; api: BotApi | undefined; log: Logger },
  messages: InvoiceMessage[],
  replacement: string,
): Promise<CleanupResult> {
  const out: CleanupResult = { removed: 0, edited: 0, failed: 0 };
  for (const m of messages) {
    const o: Outcome = deps.api ? await cleanOne(deps.api, m, replacement) : { kind: 'retry', why: 'no TELEGRAM_BOT_TOKEN here: the bot removes it' };
    const attempts = await settle(deps.sql, m, o, replacement);
    if (o.kind === 'deleted') out.removed++;
    else if (o.kind === 'edited') out.edited++;
    else {
      out.failed++;
      deps.log.warn(`${tagOf(m)} ${describe(m, o, attempts)}`);
    }
  }
  return out;
}

/**
 * The expiry job's second half: every invoice or deposit message whose removal failed earlier
 * and is due again (claimed for five minutes, so two bots do not both try it). Each outcome is
 * logged with the plan's tags.
 */
export async function retryInvoiceCleanup(deps: { sql: Sql; api: BotApi; log: Logger }, limit = 50): Promise<CleanupResult> {
  const rows = await deps.sql<
    { id: string; chat_id: string; message_id: string; kind: string; replacement: string | null; attempts: number; deposit: boolean }[]
  >`
    UPDATE invoice_messages m SET next_attempt_at = now() + interval '5 minutes'
      FROM (SELECT id FROM invoice_messages WHERE removed_at IS NULL AND next_attempt_at <= now()
             ORDER BY next_attempt_at LIMIT ${limit} FOR UPDATE SKIP LOCKED) due
     WHERE m.id = due.id
     RETURNING m.id, m.chat_id, m.message_id, m.kind, m.replacement, m.attempts, m.deposit_id IS NOT NULL AS deposit`;
  const out: CleanupResult = { removed: 0, edited: 0, failed: 0 };
  for (const r of rows) {
    const m: InvoiceMessage = {
      id: String(r.id),
      chatId: Number(r.chat_id),
      messageId: Number(r.message_id),
      kind: r.kind,
      forDeposit: r.deposit,
      attempts: r.attempts,
    };
    const replacement = r.replacement ?? '❌ Invoice ini sudah tidak berlaku.';
    const o = await cleanOne(deps.api, m, replacement);
    const attempts = await settle(deps.sql, m, o, replacement);
    if (o.kind === 'deleted') out.removed++;
    else if (o.kind === 'edited') out.edited++;
    else out.failed++;
    const line = `${tagOf(m)} ulang: ${describe(m, o, attempts)}`;
    if (o.kind === 'retry' || o.kind === 'gone') deps.log.warn(line);
    else deps.log.info(line);
  }
  return out;
}

export interface ExpiryCleanup {
  payments: CleanupResult & { invoices: number; released: number };
  deposits: CleanupResult & { invoices: number };
}

/**
 * After `expireDueInvoices`: removes the expired invoices' messages, tells each buyer, and logs
 * the plan's lines `[expired_payments] …` and `[expired_deposits] …` with counts.
 */
export async function finishExpiry(deps: { sql: Sql; api: BotApi | undefined; log: Logger }, result: ExpiryResult): Promise<ExpiryCleanup> {
  const sum = (a: CleanupResult, b: CleanupResult): CleanupResult => ({
    removed: a.removed + b.removed,
    edited: a.edited + b.edited,
    failed: a.failed + b.failed,
  });
  const cleanup = async (list: ExpiredInvoice[]): Promise<CleanupResult> => {
    let total: CleanupResult = { removed: 0, edited: 0, failed: 0 };
    for (const e of list) {
      total = sum(total, await removeInvoiceMessages(deps, e.messages, `❌ Invoice ${e.publicId} kedaluwarsa.`));
      if (!deps.api) continue;
      try {
        await deps.api.call('sendMessage', { chat_id: e.chatId, text: expiredNotice(e) });
      } catch (error) {
        deps.log.warn(`buyer ${e.chatId} not told that ${e.publicId} expired: ${(error as Error).message}`);
      }
    }
    return total;
  };
  const p = await cleanup(result.payments);
  const d = await cleanup(result.deposits);
  const released = result.payments.reduce((a, e) => a + e.released, 0);
  const msgs = (c: CleanupResult) => `${c.removed} pesan dihapus, ${c.edited} diedit, ${c.failed} gagal`;
  // A run that found nothing (most minutes) is DEBUG: at INFO it was 2,880 lines a day. A run that
  // did something logs both of the plan's lines.
  const idle = result.payments.length === 0 && result.deposits.length === 0 && result.skipped === 0 && result.settled.length === 0;
  const say = (line: string) => (idle ? deps.log.debug(line) : deps.log.info(line));
  say(
    `[expired_payments] ${result.payments.length} invoice kedaluwarsa, ${released} stok dikembalikan, ${msgs(p)}` +
      (result.skipped ? `, ${result.skipped} dilewati (sudah dibayar)` : '') +
      (result.settled.length ? `, ${result.settled.length} ternyata sudah dibayar` : ''),
  );
  say(`[expired_deposits] ${result.deposits.length} deposit kedaluwarsa, ${msgs(d)}`);
  for (const g of result.gatewayErrors) deps.log.warn(`[expired_payments] gateway tidak bisa dicek untuk ${g}`);
  return { payments: { ...p, invoices: result.payments.length, released }, deposits: { ...d, invoices: result.deposits.length } };
}
