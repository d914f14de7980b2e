import type { FieldCipher } from '../crypto/field-encryption.js';
import type { Sql } from '../db/connection.js';
import type { Logger } from '../log/logger.js';
import type { BotApi } from '../telegram/bot-api.js';
import { button } from './buttons.js';
import type { PaymentGateway } from './gateway.js';
import { removeInvoiceMessages } from './invoice-cleanup.js';
import { type Delivery, loadDelivery, markDelivered } from './orders.js';
import { SETTLED_NOW, type SettleOutcome, settleInvoice } from './payments.js';
import {
  depositBuyerText,
  depositOwnersText,
  deliveryMessages,
  invoicePaidText,
  mismatchOwnersText,
  orderPaidOwnersText,
  refundedBuyerText,
  refundedOwnersText,
  rupiah,
  termsPrompt,
} from './texts.js';

export interface FulfilDeps {
  sql: Sql;
  api: BotApi;
  cipher: FieldCipher;
  log: Logger;
  /**
   * Tells the shop's staff: the owners through the notification bot and the admins through the
   * shop bot (`shopNotifier`); failures are logged, never thrown.
   */
  notifyOwners: (text: string) => Promise<unknown>;
  /** Delivery attempts of a paid order before the owners are told (DELIVERY_RETRY_LIMIT, default 10). */
  deliveryRetryLimit?: number;
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
      await deps.api.call('sendMessage', {
        chat_id: d.chatId,
        text: termsPrompt({ ...t, publicId: d.publicId }),
        parse_mode: 'HTML',
        reply_markup: { inline_keyboard: [[button('✅ Penuhi SNK', { kind: 'terms', orderId, productId: t.productId })]] },
      });
    } catch (error) {
      deps.log.warn(`SNK prompt for ${d.publicId} not sent: ${(error as Error).message}`);
    }
  }
  return d;
}

export type PaidDelivery =
  | { ok: true; delivery: Delivery }
  | { ok: false; error: string; attempts: number; givenUp: boolean; nextInSeconds: number | undefined };

/** Seconds between delivery attempts of one paid order: 1, 2, 4 … minutes, at most 6 hours. */
export function deliveryBackoffSeconds(failedAttempts: number): number {
  return Math.min(21_600, 60 * 2 ** Math.max(0, failedAttempts - 1));
}

/**
 * Delivers a paid order; a failure is recorded on the order (attempts, the error, its own next
 * try) so the expiry job tries it again without anyone queueing behind it, and given up after
 * `deliveryRetryLimit` attempts (the owners are then told; /pesanan still shows the goods).
 */
export async function deliverPaidOrder(deps: FulfilDeps, orderId: string): Promise<PaidDelivery> {
  try {
    return { ok: true, delivery: await deliverOrder(deps, orderId) };
  } catch (error) {
    const message = (error as Error).message;
    const limit = deps.deliveryRetryLimit ?? 10;
    const [r] = await deps.sql<{ attempts: number; given_up: boolean }[]>`
      UPDATE orders SET delivery_attempts = delivery_attempts + 1, delivery_error = ${message.slice(0, 500)},
             next_delivery_at = now() + make_interval(secs => least(21600, 60 * 2 ^ delivery_attempts)),
             delivery_given_up_at = CASE WHEN delivery_attempts + 1 >= ${limit} THEN now() END
       WHERE id = ${orderId} AND status = 'paid'
       RETURNING delivery_attempts AS attempts, delivery_given_up_at IS NOT NULL AS given_up`;
    const attempts = r?.attempts ?? 1;
    return { ok: false, error: message, attempts, givenUp: Boolean(r?.given_up), nextInSeconds: r?.given_up ? undefined : deliveryBackoffSeconds(attempts) };
  }
}

/** What an order holds, for the owners' message when its delivery did not get through. */
export async function orderItemsText(sql: Sql, orderId: string): Promise<string> {
  const rows = await sql<{ name: string; quantity: number }[]>`
    SELECT p.name, i.quantity FROM order_items i JOIN products p ON p.id = i.product_id WHERE i.order_id = ${orderId} ORDER BY i.id`;
  return rows.map((r) => `${r.name} ×${r.quantity}`).join(', ');
}

/**
 * The shop's notices (new orders, payments, deliveries that failed): to the owners as
 * `notifyOwners` sends (the notification bot), and to each admin (TELEGRAM_ADMIN_IDS) through the
 * shop bot, the chat they run the shop in. An id that is both hears it once, as an owner.
 */
export function shopNotifier(o: {
  api: BotApi;
  log: Logger;
  ownerIds: readonly number[];
  adminIds: readonly number[];
  notifyOwners: (text: string) => Promise<unknown>;
}): (text: string) => Promise<unknown> {
  const admins = o.adminIds.filter((id) => !o.ownerIds.includes(id));
  return async (text) => {
    const d = await o.notifyOwners(text).catch((e: unknown) => o.log.warn(`owners not notified: ${(e as Error).message}`));
    for (const id of admins) {
      await o.api.call('sendMessage', { chat_id: id, text, link_preview_options: { is_disabled: true } }).catch((e: unknown) => {
        o.log.warn(`admin ${id} not notified: ${(e as Error).message}`);
      });
    }
    return d;
  };
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
      await removeInvoiceMessages(deps, s.messages, invoicePaidText(s.gatewayOrderId));
      // The owners hear of every paid order, also when its delivery did not get through.
      const r = await deliverPaidOrder(deps, s.orderId);
      const items = r.ok ? r.delivery.items.map((i) => `${i.productName} ×${i.quantity}`).join(', ') : await orderItemsText(deps.sql, s.orderId);
      const late = s.late ? ' (setelah kedaluwarsa)' : '';
      if (r.ok) deps.log.info(`[payment] ${s.gatewayOrderId} lunas ${rupiah(s.amount)}${late}: dikirim ${items}`);
      else
        deps.log.error(
          `[payment] ${s.gatewayOrderId} lunas ${rupiah(s.amount)}${late}: barang (${items}) belum terkirim, percobaan ke-${r.attempts}: ${r.error}`,
        );
      await owners(deps, orderPaidOwnersText(s, items, r.ok ? undefined : r));
      return;
    }
    case 'order_refunded': {
      await removeInvoiceMessages(deps, s.messages, invoicePaidText(s.gatewayOrderId));
      // The whole amount the buyer paid, the gateway's fee included.
      const fee = s.amount - s.price;
      await tell(deps, s.chatId, refundedBuyerText(s));
      deps.log.warn(
        `[payment] ${s.gatewayOrderId} dibayar setelah kedaluwarsa tanpa stok: ${rupiah(s.amount)}${fee > 0 ? ` (harga ${rupiah(s.price)} + biaya QRIS ${rupiah(fee)})` : ''} masuk saldo pembeli ${s.chatId}`,
      );
      await owners(deps, refundedOwnersText(s));
      return;
    }
    case 'deposit_credited':
      await removeInvoiceMessages(deps, s.messages, invoicePaidText(s.gatewayOrderId));
      await tell(deps, s.chatId, depositBuyerText(s));
      deps.log.info(`[deposit] ${s.gatewayOrderId} lunas: saldo pembeli ${s.chatId} +${rupiah(s.amount)}`);
      await owners(deps, depositOwnersText(s));
      return;
    case 'mismatch':
      await reportMismatch(deps, s);
      return;
    default:
      return;
  }
}

/**
 * A payment the gateway reports with another amount (or order) than the invoice: nothing is
 * granted, and the owners are told, once per invoice however often the notice comes.
 */
export async function reportMismatch(
  deps: Pick<FulfilDeps, 'sql' | 'log' | 'notifyOwners'>,
  s: Extract<SettleOutcome, { outcome: 'mismatch' }>,
): Promise<void> {
  deps.log.error(`[payment] ${s.gatewayOrderId} ditolak: ${s.detail}`);
  const [first] = await deps.sql<{ id: string }[]>`
    INSERT INTO audit_log (actor, action, details)
    SELECT 'bot', 'payment_mismatch', ${deps.sql.json({ order: s.gatewayOrderId, detail: s.detail })}
     WHERE NOT EXISTS (SELECT 1 FROM audit_log WHERE action = 'payment_mismatch' AND details->>'order' = ${s.gatewayOrderId})
    RETURNING id`;
  if (!first) return;
  await owners(deps as FulfilDeps, mismatchOwnersText(s));
}

/**
 * What follows any outcome of settling an invoice, whoever settled it: a payment settled now is
 * fulfilled (invoice out of the chat, goods or balance to the buyer, the owners told), a
 * mismatch is told to the owners. Never throws: a failure is logged, and an undelivered paid
 * order is retried by the expiry job.
 */
export async function afterSettlement(deps: Omit<FulfilDeps, 'api'> & { api: BotApi | undefined }, s: SettleOutcome): Promise<void> {
  try {
    if (s.outcome === 'mismatch') return await reportMismatch(deps, s);
    if (!SETTLED_NOW.has(s.outcome)) return;
    // botctl on a host without the shop bot's token: settled and recorded, the bot delivers it.
    if (!deps.api)
      return deps.log.warn(`[payment] ${s.gatewayOrderId} terkonfirmasi tetapi belum dikirim: TELEGRAM_BOT_TOKEN tidak ada (bot akan mengirimnya)`);
    await fulfilSettlement({ ...deps, api: deps.api }, s);
  } catch (error) {
    const paid = SETTLED_NOW.has(s.outcome) ? ' paid but not delivered yet' : '';
    deps.log.error(`[payment] ${s.gatewayOrderId}${paid}: ${(error as Error).message}`);
  }
}

/**
 * The use case "a payment was confirmed" (the gateway's webhook, `/cek`): ask the gateway,
 * settle under the payment's row lock, then `afterSettlement`. Throws only when the payment
 * could not be checked (GatewayError, the database): the caller asks again later.
 */
export async function confirmPayment(deps: FulfilDeps & { gateway: PaymentGateway }, gatewayOrderId: string): Promise<SettleOutcome> {
  const outcome = await settleInvoice({ sql: deps.sql, gateway: deps.gateway }, gatewayOrderId);
  await afterSettlement(deps, outcome);
  return outcome;
}
