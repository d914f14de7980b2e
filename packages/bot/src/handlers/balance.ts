import { createDeposit, newPublicId, rupiah } from '@botctl/core';
import { balanceView, T } from '../texts.js';
import type { InvoiceSender } from './invoices.js';
import type { ButtonHandlers, Ctx, Kit, ShopTelegraf } from './kit.js';

/** The most one deposit tops up. */
const DEPOSIT_MAX_AMOUNT = 100_000_000;

/**
 * An amount as a buyer writes it: `25000`, `25.000`, `Rp25.000`, `Rp 1.500.000` (dots only as
 * thousands separators). 'several' when the text holds more than one number.
 */
function parseRupiahAmount(text: string): number | 'several' | undefined {
  const t = text.trim().replace(/^rp\.?\s*/i, '');
  if (/\d\s+\d/.test(t)) return 'several';
  if (!/^(\d{1,3}(\.\d{3})+|\d{1,12})$/.test(t)) return undefined;
  return Number(t.replaceAll('.', ''));
}

/** The balance (saldo) and deposits: /saldo, /deposit JUMLAH, the amount buttons. */
export function balanceHandlers(bot: ShopTelegraf, kit: Kit, invoices: InvoiceSender): ButtonHandlers<'balance' | 'deposit'> {
  const { config, sql, log, clock, gateway } = kit.deps;
  const balance = async (ctx: Ctx) => {
    const v = balanceView(ctx.shopUser!.balance, config.bot.depositMinAmount);
    await kit.show(ctx, v.text, v.keyboard);
  };
  const deposit = async (ctx: Ctx, amount: number) => {
    const chatId = ctx.chat!.id;
    if (!Number.isSafeInteger(amount) || amount < config.bot.depositMinAmount) {
      await kit.send(chatId, T.depositTooSmall(config.bot.depositMinAmount));
      return;
    }
    if (amount > DEPOSIT_MAX_AMOUNT) {
      await kit.send(chatId, T.depositTooLarge(DEPOSIT_MAX_AMOUNT));
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
    const amount = parseRupiahAmount(ctx.payload);
    if (amount === 'several') return void (await kit.send(ctx.chat.id, T.depositOneAmount(config.bot.depositMinAmount)));
    if (amount === undefined) return void (await kit.send(ctx.chat.id, T.depositUsage(config.bot.depositMinAmount)));
    await deposit(ctx, amount);
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
