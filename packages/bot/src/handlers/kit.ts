import { claimBlockedNotice, type FulfilDeps, type ShopUser, shopNotifier, upsertUser } from '@botctl/core';
import type { Context, Telegraf } from 'telegraf';
import type { Button, ButtonKind } from '@botctl/core';
import type { BotDeps } from '../create-bot.js';
import { RateLimiter } from '../rate-limit.js';
import { type Keyboard, T } from '../texts.js';

export type Ctx = Context & { shopUser?: ShopUser };
export type ShopTelegraf = Telegraf<Ctx>;

/** What a button of one kind does; each area of the shop answers its own kinds. */
export type ButtonHandlers<K extends ButtonKind> = { [P in K]: (ctx: Ctx, b: Extract<Button, { kind: P }>) => Promise<unknown> };

/** The bot's dependencies and the few ways it talks, shared by every handler. */
export interface Kit {
  deps: BotDeps;
  /** A new message in a chat. */
  send(chatId: number, text: string, keyboard?: Keyboard): Promise<{ message_id: number }>;
  /** A screen: edits the message the button was on, or sends a new one. */
  show(ctx: Ctx, text: string, keyboard?: Keyboard): Promise<void>;
  /** Answers the button press (a toast, or a dialog when long); nothing for a message. */
  answer(ctx: Ctx, text?: string): Promise<unknown>;
  /** A time for buyers, in BOT_TIMEZONE. */
  zoned(d: Date): string;
  /** The shop's notices (new orders, payments): the owners (notification bot) and the admins (this bot). */
  notify(text: string): Promise<unknown>;
  /** Owners and admins (TELEGRAM_OWNER_IDS, TELEGRAM_ADMIN_IDS): they run the shop from the bot. */
  isStaff(telegramId: number | undefined): boolean;
  fulfil: FulfilDeps;
}

export function createKit(deps: BotDeps): Kit {
  const { config, api } = deps;
  const send: Kit['send'] = (chatId, text, keyboard) =>
    api.call<{ message_id: number }>('sendMessage', {
      chat_id: chatId,
      text,
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
      ...(keyboard ? { reply_markup: { inline_keyboard: keyboard } } : {}),
    });
  const zone = new Intl.DateTimeFormat('id-ID', {
    timeZone: config.timezone,
    day: 'numeric',
    month: 'short',
    year: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
    timeZoneName: 'short',
  });
  const notify = shopNotifier({
    api,
    log: deps.log,
    ownerIds: config.telegram.ownerIds,
    adminIds: config.telegram.adminIds,
    notifyOwners: deps.notifyOwners,
  });
  const staff = new Set([...config.telegram.ownerIds, ...config.telegram.adminIds]);
  return {
    deps,
    send,
    notify,
    isStaff: (id) => id !== undefined && staff.has(id),
    async show(ctx, text, keyboard) {
      const msg = ctx.callbackQuery?.message;
      if (msg && 'text' in msg) {
        try {
          await api.call('editMessageText', {
            chat_id: msg.chat.id,
            message_id: msg.message_id,
            text,
            parse_mode: 'HTML',
            link_preview_options: { is_disabled: true },
            ...(keyboard ? { reply_markup: { inline_keyboard: keyboard } } : {}),
          });
          return;
        } catch (error) {
          if (/message is not modified/.test((error as Error).message)) return;
          // fall through: send the screen as a new message
        }
      }
      await send(ctx.chat!.id, text, keyboard);
    },
    answer: (ctx, text) =>
      ctx.callbackQuery
        ? api.call('answerCallbackQuery', { callback_query_id: ctx.callbackQuery.id, ...(text ? { text, show_alert: text.length > 60 } : {}) }).catch(() => {})
        : Promise.resolve(),
    zoned: (d) => zone.format(d),
    fulfil: { sql: deps.sql, api, cipher: deps.cipher, log: deps.log, notifyOwners: notify, deliveryRetryLimit: config.bot.deliveryRetryLimit },
  };
}

/**
 * Private chats only (a shop does its business one to one), rate-limited per buyer; the buyer is
 * known from here on. A buyer the staff blocked (/blokir) is told so once, then ignored.
 */
export function buyersOnly(bot: ShopTelegraf, kit: Kit): void {
  const { config, sql, clock } = kit.deps;
  const limiter = new RateLimiter(config.bot.rateLimitPerMinute, 60_000, () => clock.now().getTime());
  bot.use(async (ctx, next) => {
    if (!ctx.from || !ctx.chat || ctx.chat.type !== 'private') return;
    if (!limiter.allow(ctx.from.id)) {
      if (limiter.shouldWarn(ctx.from.id)) {
        // Once, with the wait: after it the buyer is answered again (the window slides).
        const text = T.rateLimited(limiter.retryInMs(ctx.from.id));
        if (ctx.callbackQuery) await kit.answer(ctx, text);
        else await kit.send(ctx.chat.id, text);
      } else await kit.answer(ctx);
      return;
    }
    ctx.shopUser = await upsertUser(sql, ctx.from);
    if (ctx.shopUser.blocked && !kit.isStaff(ctx.from.id)) {
      if (await claimBlockedNotice(sql, ctx.shopUser.id)) await kit.send(ctx.chat.id, T.blocked);
      await kit.answer(ctx);
      return;
    }
    await next();
  });
}
