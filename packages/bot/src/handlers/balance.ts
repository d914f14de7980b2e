import { createDeposit, newPublicId, rupiah } from '@botctl/core';
import { balanceView, T } from '../texts.js';
import type { InvoiceSender } from './invoices.js';
import type { ButtonHandlers, Ctx, Kit, ShopTelegraf } from './kit.js';

/** The balance (saldo) and deposits: /saldo, /deposit JUMLAH, the amount buttons. */
export function balanceHandlers(bot: ShopTelegraf, kit: Kit, invoices: InvoiceSender): ButtonHandlers<'balance' | 'deposit'> {
  const { config, sql, log, clock, gateway } = kit.deps;
  const balance = async (ctx: Ctx) => {
    const v = balanceView(ctx.shopUser!.balance, config.bot.depositMinAmount);
    await kit.show(ctx, v.text, v.keyboard);
  };
  const deposit = async (ctx: Ctx, amount: number) => {
    const chatId = ctx.chat!.id;
    if (!Number.isSafeInteger(amount) || amount < config.bot.depositMinAmount || amount > 100_000_000) {
      await kit.send(chatId, T.depositTooSmall(config.bot.depositMinAmount));
      return;
    }
    const publicId = newPublicId('DEP', clock.now());
    let invoice: Awaited<ReturnType<typeof gateway.createQris>>;
    try {
      invoice = await gateway.createQris({ orderId: publicId, amount });
    } catch (error) {
      log.error(`[deposit] invoice ${publicId} tidak dibuat: ${(error as Error).message}`);
      await kit.send(chatId, T.gatewayDownDeposit);
      return;
    }
    const depositId = await createDeposit(sql, ctx.shopUser!.id, invoice);
    await invoices.present(chatId, ctx.shopUser!.id, {
      kind: 'deposit',
      id: depositId,
      publicId,
      what: 'Deposit saldo',
      amount,
      total: invoice.totalPayment,
      expiresAt: invoice.expiresAt,
      qris: invoice.qrisString,
    });
    log.info(`[deposit] invoice ${publicId} dibuat: ${rupiah(amount)}, pembeli ${chatId}`);
  };
  bot.command('saldo', balance);
  bot.command('deposit', async (ctx) => {
    const arg = ctx.payload.trim().replace(/[.\s]/g, '');
    if (!/^\d{1,12}$/.test(arg)) return void (await kit.send(ctx.chat.id, T.depositUsage(config.bot.depositMinAmount)));
    await deposit(ctx, Number(arg));
  });
  return {
    async balance(ctx) {
      await kit.answer(ctx);
      await balance(ctx);
    },
    async deposit(ctx, b) {
      await kit.answer(ctx, 'Membuat invoice deposit…');
      await deposit(ctx, b.amount);
    },
  };
}
