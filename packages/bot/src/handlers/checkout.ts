import {
  abandonOrder,
  attachInvoice,
  deliverPaidOrder,
  GatewayError,
  newPublicId,
  orderItemsText,
  payWithBalance,
  reserveOrder,
  rupiah,
  undeliveredNote,
} from '@botctl/core';
import { T } from '../texts.js';
import type { InvoiceSender } from './invoices.js';
import type { ButtonHandlers, Kit } from './kit.js';

/** Buying: with the balance (delivered at once) or by a QRIS invoice that holds the stock. */
export function checkoutHandlers(kit: Kit, invoices: InvoiceSender): ButtonHandlers<'buy'> {
  const { config, sql, log, clock, gateway } = kit.deps;
  return {
    async buy(ctx, b) {
      const user = ctx.shopUser!;
      const qty = b.quantity;
      if (qty < 1) return kit.answer(ctx, T.quantityByButtons);
      if (qty > config.bot.orderMaxQuantity) return kit.answer(ctx, T.quantityTooLarge(config.bot.orderMaxQuantity));
      const now = clock.now();
      const publicId = newPublicId('INV', now);
      const chatId = ctx.chat!.id;

      if (b.pay === 'balance') {
        const r = await payWithBalance(sql, { userId: user.id, productId: b.productId, quantity: qty, publicId });
        if (!r.ok) {
          if (r.reason === 'insufficient') return kit.answer(ctx, `Saldo kurang: ${rupiah(r.balance)}, perlu ${rupiah(r.total)}. Isi saldo lewat /saldo.`);
          return kit.answer(ctx, r.reason === 'out_of_stock' ? T.outOfStock(r.available) : T.unavailable);
        }
        await kit.answer(ctx, 'Pembayaran dengan saldo berhasil.');
        log.info(`[payment] ${publicId} dibayar dengan saldo ${rupiah(r.total)} oleh pembeli ${chatId}`);
        const d = await deliverPaidOrder(kit.fulfil, r.orderId);
        if (d.ok) await kit.send(chatId, `Sisa saldo: ${rupiah(r.balance)}.`).catch(() => {});
        else log.error(`[payment] ${publicId} dibayar dengan saldo, barang belum terkirim (percobaan ke-${d.attempts}): ${d.error}`);
        const items = d.ok ? d.delivery.items.map((i) => `${i.productName} ×${i.quantity}`).join(', ') : await orderItemsText(sql, r.orderId);
        await kit.notify(`💰 Pesanan ${publicId} dibayar dengan saldo: ${rupiah(r.total)} (${items}) oleh pembeli ${chatId}.${d.ok ? '' : undeliveredNote(d)}`);
        return;
      }

      const expiresAt = new Date(now.getTime() + config.bot.paymentExpiryMinutes * 60_000);
      const r = await reserveOrder(sql, { userId: user.id, productId: b.productId, quantity: qty, expiresAt, publicId });
      if (!r.ok) return kit.answer(ctx, r.reason === 'out_of_stock' ? T.outOfStock(r.available) : T.unavailable);
      await kit.answer(ctx, 'Membuat invoice…');
      let invoice: Awaited<ReturnType<typeof gateway.createQris>>;
      try {
        invoice = await gateway.createQris({ orderId: publicId, amount: r.total });
      } catch (error) {
        const released = await abandonOrder(sql, r.orderId);
        log.error(`[payment] invoice ${publicId} tidak dibuat (${released} stok dikembalikan): ${(error as Error).message}`);
        await kit.send(chatId, T.gatewayDown);
        if (error instanceof GatewayError && error.kind !== 'unreachable') {
          await kit.deps.notifyOwners(`❌ Gateway pembayaran menolak invoice ${publicId}: ${error.message}`).catch(() => {});
        }
        return;
      }
      const paymentId = await attachInvoice(sql, r.orderId, invoice);
      await invoices.present(chatId, user.id, {
        kind: 'order',
        id: paymentId,
        publicId,
        what: `${r.product.name} × ${qty}`,
        amount: r.total,
        total: invoice.totalPayment,
        expiresAt: invoice.expiresAt,
        qris: invoice.qrisString,
      });
      log.info(`[payment] invoice ${publicId} dibuat: ${r.product.name} ×${qty}, ${rupiah(invoice.totalPayment)}, pembeli ${chatId}`);
      await kit.notify(`🆕 Pesanan baru ${publicId}: ${r.product.name} ×${qty}, ${rupiah(r.total)}, pembeli ${chatId}; menunggu pembayaran QRIS.`);
    },
  };
}
