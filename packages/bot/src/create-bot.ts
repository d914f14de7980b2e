import type { BotApi, Clock, Config, FieldCipher, Logger, PaymentGateway, Sql } from '@botctl/core';
import { Telegraf } from 'telegraf';
import type { Update, UserFromGetMe } from 'telegraf/types';
import { type Button, decodeButton } from '@botctl/core';
import { balanceHandlers } from './handlers/balance.js';
import { catalogHandlers } from './handlers/catalog.js';
import { checkoutHandlers } from './handlers/checkout.js';
import { invoiceSender } from './handlers/invoices.js';
import { type ButtonHandlers, buyersOnly, type Ctx, createKit } from './handlers/kit.js';
import { ordersHandlers } from './handlers/orders.js';
import { ownerCommands } from './handlers/owner.js';
import { snkHandlers } from './handlers/snk.js';
import { staffHandlers } from './handlers/staff.js';
import { T } from './texts.js';

/** The owners' tools behind /stats, /health and /backup: each returns the reply text (HTML). */
export interface OwnerTools {
  stats(): Promise<string>;
  health(): Promise<string>;
  backup(): Promise<string>;
}

export interface BotDeps {
  config: Config;
  sql: Sql;
  /** The shop bot's Bot API: every Telegram call goes through it, never through Telegraf's client. */
  api: BotApi;
  cipher: FieldCipher;
  gateway: PaymentGateway;
  log: Logger;
  clock: Clock;
  botInfo: UserFromGetMe;
  /** Owner messages through the notification bot (the admins hear the shop's notices from the shop bot). */
  notifyOwners(text: string): Promise<unknown>;
  /** Sends a photo (bytes) to the owners through the notification bot. */
  sendOwnersPhoto(photo: Buffer, caption: string): Promise<unknown>;
  /** Downloads a file a buyer sent (SNK photo), through the shop bot's token. */
  downloadFile(fileId: string): Promise<Buffer>;
  owner: OwnerTools;
}

export interface ShopBot {
  /** Handles one update to the end (all replies sent); never throws. */
  handleUpdate(update: Update): Promise<void>;
  telegraf: Telegraf;
}

/**
 * Builds the shop bot (routing with Telegraf, every call through `deps.api`); `main.ts` feeds it
 * updates from long polling or the webhook and stops it. The handlers live in handlers/, one
 * file per area; every inline button goes through the one codec in buttons.ts.
 */
export function createBot(deps: BotDeps): ShopBot {
  const { config, log } = deps;
  const bot = new Telegraf<Ctx>(config.telegram.botToken?.reveal() ?? '0:unset', {
    handlerTimeout: Number.POSITIVE_INFINITY,
    telegram: { apiRoot: config.telegram.apiRoot },
  });
  // Telegraf would otherwise call getMe itself on the first update.
  bot.botInfo = deps.botInfo;
  const kit = createKit(deps);
  const invoices = invoiceSender(kit);

  buyersOnly(bot, kit);
  // Commands first (each area registers its own; the owners' and then the staff's last), then free
  // text, photos (SNK) and everything else; buttons through the one codec.
  ownerCommands(bot, kit);
  const buttons: ButtonHandlers<Button['kind']> = {
    ...catalogHandlers(bot, kit),
    ...checkoutHandlers(kit, invoices),
    ...invoices.buttons,
    ...balanceHandlers(bot, kit, invoices),
    ...ordersHandlers(bot, kit),
    ...staffHandlers(bot, kit),
    ...snkHandlers(bot, kit),
  };
  bot.on('callback_query', (ctx) => {
    const b = decodeButton('data' in ctx.callbackQuery ? ctx.callbackQuery.data : undefined);
    if (!b) return kit.answer(ctx, 'Tombol ini sudah tidak berlaku. Ketik /start.');
    return (buttons[b.kind] as (ctx: Ctx, b: Button) => Promise<unknown>)(ctx, b);
  });

  bot.catch(async (error, ctx) => {
    log.error(`update ${ctx.update.update_id} failed: ${(error as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(error)}`);
    if (ctx.chat?.type === 'private') await kit.send(ctx.chat.id, T.error).catch(() => {});
    if (ctx.callbackQuery) await kit.answer(ctx);
  });

  return {
    telegraf: bot as unknown as Telegraf,
    async handleUpdate(update) {
      try {
        await bot.handleUpdate(update);
      } catch (error) {
        // bot.catch itself failed (e.g. Telegram down): log and go on.
        log.error(`update ${update.update_id} not handled: ${(error as Error).message}`);
      }
    },
  };
}
