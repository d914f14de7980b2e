import { deliveryMessages, findUserOrder, listUserOrders, loadDelivery } from '@botctl/core';
import { homeKeyboard, ordersView } from '../texts.js';
import type { ButtonHandlers, Ctx, Kit, ShopTelegraf } from './kit.js';

/** A buyer's orders (their own and nobody else's): /pesanan, and the goods of one again. */
export function ordersHandlers(bot: ShopTelegraf, kit: Kit): ButtonHandlers<'orders' | 'order'> {
  const { sql, cipher } = kit.deps;
  const orders = async (ctx: Ctx) => {
    const list = await listUserOrders(sql, ctx.shopUser!.id, 5);
    if (list.length === 0) return kit.show(ctx, 'Anda belum punya pesanan.', homeKeyboard());
    const v = ordersView(list);
    await kit.show(ctx, v.text, v.keyboard);
  };
  bot.command('pesanan', orders);
  return {
    async orders(ctx) {
      await kit.answer(ctx);
      await orders(ctx);
    },
    async order(ctx, b) {
      const o = await findUserOrder(sql, ctx.shopUser!.id, b.orderId);
      if (!o || (o.status !== 'paid' && o.status !== 'delivered')) return kit.answer(ctx, 'Pesanan tidak ditemukan.');
      await kit.answer(ctx);
      const d = await loadDelivery(sql, cipher, o.id);
      for (const text of deliveryMessages(d)) await kit.send(ctx.chat!.id, text);
    },
  };
}
