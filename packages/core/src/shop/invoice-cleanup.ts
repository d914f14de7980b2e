import type { Sql } from '../db/connection.js';
import type { Logger } from '../log/logger.js';
import { BotApiError, type BotApi } from '../telegram/bot-api.js';
import { type ExpiredInvoice, type ExpiryResult, type InvoiceMessage, markMessagesRemoved } from './shop.js';

/** `Rp35.000`: rupiah the way buyers write it. */
export function rupiah(amount: number): string {
  return `Rp${Math.round(amount).toLocaleString('id-ID')}`;
}

export interface CleanupResult {
  removed: number;
  edited: number;
  failed: number;
}

/**
 * Takes an invoice's messages out of the chat: deleted, or edited into `replacement` when
 * Telegram refuses the delete (messages older than 48 hours cannot be deleted by a bot).
 * Messages that are gone either way are marked removed, so nothing is tried twice.
 */
export async function removeInvoiceMessages(
  deps: { sql: Sql; api: BotApi; log: Logger },
  messages: InvoiceMessage[],
  replacement: string,
): Promise<CleanupResult> {
  const out: CleanupResult = { removed: 0, edited: 0, failed: 0 };
  const done: string[] = [];
  for (const m of messages) {
    try {
      await deps.api.call('deleteMessage', { chat_id: m.chatId, message_id: m.messageId });
      out.removed++;
      done.push(m.id);
      continue;
    } catch (error) {
      if (!(error instanceof BotApiError) || error.kind !== 'bad_request') {
        // Network trouble or a blocked bot: try again on the next run (or give up if blocked).
        if (error instanceof BotApiError && error.kind === 'forbidden') done.push(m.id);
        out.failed++;
        deps.log.warn(`invoice message ${m.chatId}/${m.messageId} not removed: ${(error as Error).message}`);
        continue;
      }
    }
    try {
      if (m.kind === 'qris') await deps.api.call('editMessageCaption', { chat_id: m.chatId, message_id: m.messageId, caption: replacement });
      else await deps.api.call('editMessageText', { chat_id: m.chatId, message_id: m.messageId, text: replacement });
      out.edited++;
      done.push(m.id);
    } catch (error) {
      // "message to edit not found": the buyer deleted it already.
      if (error instanceof BotApiError && error.kind === 'bad_request') done.push(m.id);
      else out.failed++;
      deps.log.warn(`invoice message ${m.chatId}/${m.messageId} could not be deleted or edited: ${(error as Error).message}`);
    }
  }
  await markMessagesRemoved(deps.sql, done);
  return out;
}

export function expiredNotice(e: ExpiredInvoice): string {
  return e.kind === 'order'
    ? `⌛ Invoice ${e.publicId} (${rupiah(e.amount)}) sudah kedaluwarsa dan dibatalkan. Stok sudah dikembalikan; silakan pesan ulang lewat /start bila masih berminat.`
    : `⌛ Invoice deposit ${e.publicId} (${rupiah(e.amount)}) sudah kedaluwarsa. Saldo tidak berubah; buat deposit baru lewat /saldo bila perlu.`;
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
  const sum = (a: CleanupResult, b: CleanupResult): CleanupResult => ({ removed: a.removed + b.removed, edited: a.edited + b.edited, failed: a.failed + b.failed });
  const cleanup = async (list: ExpiredInvoice[]): Promise<CleanupResult> => {
    let total: CleanupResult = { removed: 0, edited: 0, failed: 0 };
    for (const e of list) {
      if (!deps.api) {
        total.failed += e.messages.length;
        continue;
      }
      total = sum(total, await removeInvoiceMessages({ sql: deps.sql, api: deps.api, log: deps.log }, e.messages, `❌ Invoice ${e.publicId} kedaluwarsa.`));
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
  deps.log.info(
    `[expired_payments] ${result.payments.length} invoice kedaluwarsa, ${released} stok dikembalikan, ${msgs(p)}` +
      (result.skipped ? `, ${result.skipped} dilewati (sudah dibayar)` : '') +
      (result.settled.length ? `, ${result.settled.length} ternyata sudah dibayar` : ''),
  );
  deps.log.info(`[expired_deposits] ${result.deposits.length} deposit kedaluwarsa, ${msgs(d)}`);
  for (const g of result.gatewayErrors) deps.log.warn(`[expired_payments] gateway tidak bisa dicek untuk ${g}`);
  return { payments: { ...p, invoices: result.payments.length, released }, deposits: { ...d, invoices: result.deposits.length } };
}
