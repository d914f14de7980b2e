import type { FieldCipher } from '../crypto/field-encryption.js';
import type { Sql } from '../db/connection.js';
import type { Logger } from '../log/logger.js';
import { type BotApi, TELEGRAM_TEXT_LIMIT } from '../telegram/bot-api.js';
import { removeInvoiceMessages, rupiah } from './invoice-cleanup.js';
import { type Delivery, loadDelivery, markDelivered, type SettleOutcome } from './shop.js';

export interface FulfilDeps {
  sql: Sql;
  api: BotApi;
  cipher: FieldCipher;
  log: Logger;
  /** Tells the owners through the notification bot; failures are logged, never thrown. */
  notifyOwners: (text: string) => Promise<unknown>;
}

export const escapeHtml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Splits lines into messages under Telegram's limit, never inside a line. */
export function chunkLines(lines: string[], limit = TELEGRAM_TEXT_LIMIT - 96): string[] {
  const out: string[] = [];
  let cur = '';
  for (const line of lines) {
    const l = line.length > limit ? line.slice(0, limit) : line;
    if (cur && cur.length + 1 + l.length > limit) {
      out.push(cur);
      cur = '';
    }
    cur = cur ? `${cur}\n${l}` : l;
  }
  if (cur) out.push(cur);
  return out;
}

export function deliveryMessages(d: Delivery): string[] {
  const lines = [`✅ <b>Pembayaran diterima</b>: pesanan <code>${escapeHtml(d.publicId)}</code> (${rupiah(d.total)}).`, ''];
  for (const item of d.items) {
    lines.push(`📦 <b>${escapeHtml(item.productName)}</b> × ${item.quantity}`);
    for (const s of item.secrets) lines.push(`<code>${escapeHtml(s)}</code>`);
    lines.push('');
  }
  lines.push('Simpan data di atas baik-baik. Lihat lagi kapan saja lewat /pesanan.');
  return chunkLines(lines);
}

export function termsPrompt(t: { productName: string; content: string; publicId: string }): string {
  return (
    `📝 <b>SNK ${escapeHtml(t.productName)}</b> (pesanan <code>${escapeHtml(t.publicId)}</code>)\n\n${escapeHtml(t.content)}\n\n` +
    'Kirim jawaban atau bukti sesuai SNK di chat ini sebagai <b>teks atau foto</b>. Data ini hanya dilihat pemilik toko.'
  );
}

/** Sends an order's goods to its buyer and marks it delivered; then asks for SNK where needed. */
export async function deliverOrder(deps: FulfilDeps, orderId: string): Promise<Delivery> {
  const d = await loadDelivery(deps.sql, deps.cipher, orderId);
  for (const text of deliveryMessages(d)) {
    await deps.api.call('sendMessage', { chat_id: d.chatId, text, parse_mode: 'HTML', link_preview_options: { is_disabled: true } });
  }
  await markDelivered(deps.sql, orderId);
  for (const t of d.terms) {
    try {
      await deps.api.call('sendMessage', { chat_id: d.chatId, text: termsPrompt({ ...t, publicId: d.publicId }), parse_mode: 'HTML' });
    } catch (error) {
      deps.log.warn(`SNK prompt for ${d.publicId} not sent: ${(error as Error).message}`);
    }
  }
  return d;
}

async function tell(deps: FulfilDeps, chatId: number, text: string): Promise<void> {
  try {
    await deps.api.call('sendMessage', { chat_id: chatId, text, parse_mode: 'HTML' });
  } catch (error) {
    deps.log.warn(`buyer ${chatId} not told: ${(error as Error).message}`);
  }
}

async function owners(deps: FulfilDeps, text: string): Promise<void> {
  try {
    await deps.notifyOwners(text);
  } catch (error) {
    deps.log.warn(`owners not notified: ${(error as Error).message}`);
  }
}

/**
 * What follows a confirmed payment, whoever confirmed it (webhook, expiry job, `/cek`):
 * the invoice leaves the chat, the buyer gets the goods or the balance, the owners are told.
 */
export async function fulfilSettlement(deps: FulfilDeps, s: SettleOutcome): Promise<void> {
  switch (s.outcome) {
    case 'order_paid': {
      await removeInvoiceMessages(deps, s.messages, `✅ Invoice ${s.gatewayOrderId} lunas.`);
      const d = await deliverOrder(deps, s.orderId);
      const items = d.items.map((i) => `${i.productName} ×${i.quantity}`).join(', ');
      deps.log.info(`[payment] ${s.gatewayOrderId} lunas ${rupiah(s.amount)}${s.late ? ' (setelah kedaluwarsa)' : ''}: dikirim ${items}`);
      await owners(deps, `💰 Pesanan ${s.gatewayOrderId} lunas: ${rupiah(s.amount)} (${items}) oleh pembeli ${d.chatId}.`);
      return;
    }
    case 'order_refunded':
      await removeInvoiceMessages(deps, s.messages, `✅ Invoice ${s.gatewayOrderId} lunas.`);
      await tell(
        deps,
        s.chatId,
        `ℹ️ Pembayaran invoice <code>${escapeHtml(s.gatewayOrderId)}</code> diterima setelah kedaluwarsa, tetapi stoknya sudah habis. ` +
          `${rupiah(s.amount)} sudah masuk ke saldo Anda (saldo sekarang ${rupiah(s.balance)}).`,
      );
      deps.log.warn(`[payment] ${s.gatewayOrderId} dibayar setelah kedaluwarsa tanpa stok: ${rupiah(s.amount)} masuk saldo pembeli ${s.chatId}`);
      await owners(deps, `⚠️ Pesanan ${s.gatewayOrderId} dibayar setelah kedaluwarsa dan stok habis: ${rupiah(s.amount)} dikembalikan ke saldo pembeli ${s.chatId}.`);
      return;
    case 'deposit_credited':
      await removeInvoiceMessages(deps, s.messages, `✅ Invoice ${s.gatewayOrderId} lunas.`);
      await tell(deps, s.chatId, `✅ Deposit ${rupiah(s.amount)} masuk. Saldo Anda sekarang <b>${rupiah(s.balance)}</b>.`);
      deps.log.info(`[deposit] ${s.gatewayOrderId} lunas: saldo pembeli ${s.chatId} +${rupiah(s.amount)}`);
      await owners(deps, `💳 Deposit ${s.gatewayOrderId} lunas: ${rupiah(s.amount)} oleh pembeli ${s.chatId}.`);
      return;
    default:
      return;
  }
}
