import { getProduct, listProducts } from '@botctl/core';
import { catalogView, confirmView, homeKeyboard, productView, T, welcome } from '../texts.js';
import type { ButtonHandlers, Ctx, Kit, ShopTelegraf } from './kit.js';

/** The menu and the catalog: /start, /menu, /produk, a product, a quantity. */
export function catalogHandlers(bot: ShopTelegraf, kit: Kit): ButtonHandlers<'home' | 'catalog' | 'product' | 'quantity'> {
  const { config, sql } = kit.deps;
  const home = (ctx: Ctx) => kit.show(ctx, welcome(config.storeName, ctx.from?.first_name), homeKeyboard());
  const catalog = async (ctx: Ctx, page: number) => {
    const v = catalogView(await listProducts(sql, page, config.bot.productsPerPage));
    await kit.show(ctx, v.text, v.keyboard);
  };
  bot.start(home);
  bot.command('menu', home);
  bot.command('produk', (ctx) => catalog(ctx, 0));
  return {
    async home(ctx) {
      await kit.answer(ctx);
      await home(ctx);
    },
    async catalog(ctx, b) {
      await kit.answer(ctx);
      await catalog(ctx, b.page);
    },
    async product(ctx, b) {
      const p = await getProduct(sql, b.productId);
      if (!p) return kit.answer(ctx, T.unavailable);
      await kit.answer(ctx);
      const v = productView(p, config.bot.orderMaxQuantity);
      await kit.show(ctx, v.text, v.keyboard);
    },
    async quantity(ctx, b) {
      const p = await getProduct(sql, b.productId);
      if (!p) return kit.answer(ctx, T.unavailable);
      if (b.quantity < 1) return kit.answer(ctx, T.quantityByButtons);
      if (b.quantity > config.bot.orderMaxQuantity) return kit.answer(ctx, T.quantityTooLarge(config.bot.orderMaxQuantity));
      if (p.stock < b.quantity) return kit.answer(ctx, T.outOfStock(p.stock));
      await kit.answer(ctx);
      const v = confirmView(p, b.quantity, ctx.shopUser!.balance);
      await kit.show(ctx, v.text, v.keyboard);
    },
  };
}
