import { cancelInvoice, InputFile, type PendingInvoice, pendingInvoice, recordInvoiceMessage, removeInvoiceMessages, shortenHold } from '@botctl/core';
import QRCode from 'qrcode';
import { invoiceCaption, invoiceFallback } from '../texts.js';
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
  const { sql, api, log, clock } = kit.deps;

  /** Sends a QRIS invoice as a photo. */
  const sendQr = async (chatId: number, inv: { publicId: string; what: string; amount: number; total: number; expiresAt: Date; qris: string }) => {
    const png = await QRCode.toBuffer(inv.qris, { type: 'png', width: 512, margin: 2, errorCorrectionLevel: 'M' });
    return api.call<{ message_id: number }>('sendPhoto', {
      chat_id: chatId,
      photo: new InputFile(png, `${inv.publicId}.png`, 'image/png'),
      caption: invoiceCaption({ publicId: inv.publicId, what: inv.what, amount: inv.amount, total: inv.total, expires: kit.zoned(inv.expiresAt) }),
      parse_mode: 'HTML',
    });
  };

  return {
    async present(chatId, userId, inv) {
      const ref = inv.kind === 'order' ? { paymentId: inv.id } : { depositId: inv.id };
      const tag = inv.kind === 'order' ? '[payment]' : '[deposit]';
      try {
        const msg = await sendQr(chatId, { ...inv, qris: inv.qris ?? '' });
        await recordInvoiceMessage(sql, { ...ref, chatId, messageId: msg.message_id, kind: 'qris' });
        return;
      } catch (error) {
        log.warn(`${tag} foto QR invoice ${inv.publicId} tidak terkirim ke pembeli ${chatId}: ${(error as Error).message}`);
      }
      const until = await shortenHold(sql, inv.kind, inv.id, new Date(clock.now().getTime() + FALLBACK_HOLD_MS));
      const v = invoiceFallback({ ...inv, expires: kit.zoned(until ?? inv.expiresAt) });
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
      // The buttons of an invoice shown as text (its QR photo could not be sent).
      async invoice(ctx, b) {
        const user = ctx.shopUser!;
        const kind = b.invoice;
        const chatId = ctx.chat!.id;
        if (b.action === 'cancel') {
          const c = await cancelInvoice(sql, user.id, kind, b.id);
          if (!c) return kit.answer(ctx, 'Invoice ini sudah tidak aktif.');
          await kit.answer(ctx, 'Dibatalkan.');
          await removeInvoiceMessages({ sql, api, log }, c.messages, `❌ Invoice ${c.publicId} dibatalkan.`);
          log.info(
            `[${kind === 'order' ? 'payment' : 'deposit'}] invoice ${c.publicId} dibatalkan oleh pembeli ${chatId}${kind === 'order' ? `, ${c.released} stok dikembalikan` : ''}`,
          );
          await kit
            .send(chatId, kind === 'order' ? `Pesanan ${c.publicId} dibatalkan dan stoknya dikembalikan.` : `Deposit ${c.publicId} dibatalkan.`)
            .catch(() => {});
          return;
        }
        const inv = await pendingInvoice(sql, user.id, kind, b.id);
        if (!inv?.qris) return kit.answer(ctx, 'Invoice ini sudah tidak aktif.');
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
