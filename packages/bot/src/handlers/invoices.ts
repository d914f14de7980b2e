import {
  cancelInvoice,
  cancelOpenInvoice,
  checkInvoiceNow,
  InputFile,
  type PendingInvoice,
  pendingInvoice,
  recordInvoiceMessage,
  removeInvoiceMessages,
  shortenHold,
} from '@botctl/core';
import QRCode from 'qrcode';
import { invoiceCaption, invoiceFallback, invoiceKeyboard, T } from '../texts.js';
import type { ButtonHandlers, Kit } from './kit.js';

/** How long the stock of an invoice whose QR photo could not be sent is held. */
const FALLBACK_HOLD_MS = 5 * 60_000;

export interface InvoiceSender {
  /**
   * Puts an invoice in the chat and remembers each message, so expiry and payment can remove
   * it. When the QR photo cannot be sent, the buyer gets the invoice as text with the amount and
   * buttons to retry or cancel, and the stock is held only a few minutes; when nothing can be
   * sent at all, the order is cancelled at once (its stock released).
   */
  present(chatId: number, userId: string, inv: PendingInvoice): Promise<void>;
  buttons: ButtonHandlers<'invoice'>;
}

export function invoiceSender(kit: Kit): InvoiceSender {
  const { sql, api, log, clock, gateway } = kit.deps;
  const payUrl = (inv: { publicId: string; amount: number }) => gateway.payUrl?.({ orderId: inv.publicId, amount: inv.amount });

  /** Sends a QRIS invoice as a photo, with its buttons (check now, cancel, the pay page). */
  const sendQr = async (chatId: number, inv: PendingInvoice & { qris: string }) => {
    const png = await QRCode.toBuffer(inv.qris, { type: 'png', width: 512, margin: 2, errorCorrectionLevel: 'M' });
    return api.call<{ message_id: number }>('sendPhoto', {
      chat_id: chatId,
      photo: new InputFile(png, `${inv.publicId}.png`, 'image/png'),
      caption: invoiceCaption({ publicId: inv.publicId, what: inv.what, amount: inv.amount, total: inv.total, expires: kit.zoned(inv.expiresAt) }),
      parse_mode: 'HTML',
      reply_markup: { inline_keyboard: invoiceKeyboard({ kind: inv.kind, id: inv.id, payUrl: payUrl(inv) }) },
    });
  };
  const tagOf = (kind: 'order' | 'deposit') => (kind === 'order' ? '[payment]' : '[deposit]');

  return {
    async present(chatId, userId, inv) {
      const ref = inv.kind === 'order' ? { paymentId: inv.id } : { depositId: inv.id };
      const tag = tagOf(inv.kind);
      try {
        const msg = await sendQr(chatId, { ...inv, qris: inv.qris ?? '' });
        await recordInvoiceMessage(sql, { ...ref, chatId, messageId: msg.message_id, kind: 'qris' });
        return;
      } catch (error) {
        log.warn(`${tag} foto QR invoice ${inv.publicId} tidak terkirim ke pembeli ${chatId}: ${(error as Error).message}`);
      }
      const until = await shortenHold(sql, inv.kind, inv.id, new Date(clock.now().getTime() + FALLBACK_HOLD_MS));
      const v = invoiceFallback({ ...inv, expires: kit.zoned(until ?? inv.expiresAt), payUrl: payUrl(inv) });
      try {
        const msg = await kit.send(chatId, v.text, v.keyboard);
        await recordInvoiceMessage(sql, { ...ref, chatId, messageId: msg.message_id, kind: 'text' });
      } catch (error) {
        const c = await cancelInvoice(sql, userId, inv.kind, inv.id);
        log.error(
          `${tag} invoice ${inv.publicId} tidak bisa ditampilkan ke pembeli ${chatId} (${(error as Error).message}): dibatalkan${c ? `, ${c.released} stok dikembalikan` : ''}`,
        );
      }
    },

    buttons: {
      // Under every invoice: check now, cancel; under one shown as text also: send the QR again.
      async invoice(ctx, b) {
        const user = ctx.shopUser!;
        const kind = b.invoice;
        const chatId = ctx.chat!.id;
        const deps = { ...kit.fulfil, gateway };
        if (b.action === 'check') {
          let r: Awaited<ReturnType<typeof checkInvoiceNow>>;
          try {
            r = await checkInvoiceNow(deps, user.id, kind, b.id);
          } catch (error) {
            log.warn(`${tagOf(kind)} status invoice tidak bisa dicek untuk pembeli ${chatId}: ${(error as Error).message}`);
            return kit.answer(ctx, T.gatewayBusy);
          }
          if (r.state === 'paid') return kit.answer(ctx, T.invoicePaid);
          if (r.state === 'pending') return kit.answer(ctx, T.invoicePending(r.publicId));
          if (r.state === 'mismatch') return kit.answer(ctx, 'Pembayaran sedang diperiksa pemilik toko; kami kabari segera.');
          return kit.answer(ctx, T.invoiceClosed);
        }
        if (b.action === 'cancel') {
          const c = await cancelOpenInvoice(deps, user.id, kind, b.id);
          if (c.state === 'paid') return kit.answer(ctx, `${T.invoicePaid} Invoice ini tidak dibatalkan.`);
          if (c.state === 'closed') return kit.answer(ctx, T.invoiceClosed);
          await kit.answer(ctx, 'Dibatalkan.');
          await removeInvoiceMessages({ sql, api, log }, c.messages, `❌ Invoice ${c.publicId} dibatalkan.`);
          log.info(
            `${tagOf(kind)} invoice ${c.publicId} dibatalkan oleh pembeli ${chatId}${kind === 'order' ? `, ${c.released} stok dikembalikan` : ''} (gateway: ${c.atGateway})`,
          );
          await kit
            .send(chatId, kind === 'order' ? `❌ Pesanan ${c.publicId} dibatalkan dan stoknya dikembalikan.` : `❌ Deposit ${c.publicId} dibatalkan.`)
            .catch(() => {});
          return;
        }
        const inv = await pendingInvoice(sql, user.id, kind, b.id);
        if (!inv?.qris) return kit.answer(ctx, T.invoiceClosed);
        try {
          const msg = await sendQr(chatId, { ...inv, qris: inv.qris });
          await recordInvoiceMessage(sql, {
            ...(kind === 'order' ? { paymentId: b.id } : { depositId: b.id }),
            chatId,
            messageId: msg.message_id,
            kind: 'qris',
          });
          await kit.answer(ctx);
        } catch (error) {
          log.warn(`foto QR invoice ${inv.publicId} masih tidak terkirim: ${(error as Error).message}`);
          await kit.answer(ctx, 'QR belum bisa dikirim. Coba lagi sebentar lagi.');
        }
      },
    },
  };
}
