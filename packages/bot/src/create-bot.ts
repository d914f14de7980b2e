import {
  abandonOrder,
  attachInvoice,
  awaitingTerms,
  type BotApi,
  type Clock,
  type Config,
  createDeposit,
  cancelInvoice,
  deliverPaidOrder,
  orderItemsText,
  pendingInvoice,
  type PendingInvoice,
  removeInvoiceMessages,
  shortenHold,
  undeliveredNote,
  escapeHtml,
  type FieldCipher,
  findUserOrder,
  GatewayError,
  getProduct,
  InputFile,
  listProducts,
  listUserOrders,
  loadDelivery,
  type Logger,
  newPublicId,
  type PaymentGateway,
  payWithBalance,
  recordInvoiceMessage,
  reserveOrder,
  rupiah,
  saveTermsSubmission,
  type ShopUser,
  type Sql,
  upsertUser,
  deliveryMessages,
} from '@botctl/core';
import QRCode from 'qrcode';
import { type Context, Telegraf } from 'telegraf';
import type { Update, UserFromGetMe } from 'telegraf/types';
import { RateLimiter } from './rate-limit.js';
import {
  balanceView,
  catalogView,
  confirmView,
  homeKeyboard,
  invoiceCaption,
  invoiceFallback,
  type Keyboard,
  productView,
  STATUS_ID,
  T,
  welcome,
} from './texts.js';

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
  /** Owner messages through the notification bot. */
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

type Ctx = Context & { shopUser?: ShopUser };

/** Hours after payment during which the buyer's next text or photo is taken as the SNK answer. */
const SNK_WINDOW_HOURS = 48;
/** How long the stock of an invoice whose QR photo could not be sent is held. */
const FALLBACK_HOLD_MS = 5 * 60_000;

/**
 * Builds the shop bot (routing with Telegraf, every call through `deps.api`); `main.ts` feeds it
 * updates from long polling or the webhook and stops it.
 */
export function createBot(deps: BotDeps): ShopBot {
  const { config, sql, api, log } = deps;
  const bot = new Telegraf<Ctx>(config.telegram.botToken?.reveal() ?? '0:unset', {
    handlerTimeout: Number.POSITIVE_INFINITY,
    telegram: { apiRoot: config.telegram.apiRoot },
  });
  // Telegraf would otherwise call getMe itself on the first update.
  bot.botInfo = deps.botInfo;
  const owners = new Set(config.telegram.ownerIds);
  const limiter = new RateLimiter(config.bot.rateLimitPerMinute, 60_000, () => deps.clock.now().getTime());

  const send = (chatId: number, text: string, keyboard?: Keyboard) =>
    api.call<{ message_id: number }>('sendMessage', {
      chat_id: chatId,
      text,
      parse_mode: 'HTML',
      link_preview_options: { is_disabled: true },
      ...(keyboard ? { reply_markup: { inline_keyboard: keyboard } } : {}),
    });

  /** Shows a screen: edits the message the button was on, or sends a new one. */
  const show = async (ctx: Ctx, text: string, keyboard?: Keyboard) => {
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
  };

  const answer = (ctx: Ctx, text?: string) =>
    ctx.callbackQuery
      ? api.call('answerCallbackQuery', { callback_query_id: ctx.callbackQuery.id, ...(text ? { text, show_alert: text.length > 60 } : {}) }).catch(() => {})
      : Promise.resolve();

  const zoned = (d: Date) =>
    new Intl.DateTimeFormat('id-ID', {
      timeZone: config.timezone,
      day: 'numeric',
      month: 'short',
      year: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZoneName: 'short',
    }).format(d);

  // Private chats only: a shop does its business one to one.
  bot.use(async (ctx, next) => {
    if (!ctx.from || !ctx.chat || ctx.chat.type !== 'private') return;
    if (!limiter.allow(ctx.from.id)) {
      if (limiter.shouldWarn(ctx.from.id)) {
        if (ctx.callbackQuery) await answer(ctx, T.rateLimited);
        else await send(ctx.chat.id, T.rateLimited);
      } else await answer(ctx);
      return;
    }
    ctx.shopUser = await upsertUser(sql, ctx.from);
    await next();
  });

  const home = async (ctx: Ctx) => show(ctx, welcome(config.storeName, ctx.from?.first_name), homeKeyboard());
  bot.start(home);
  bot.command('menu', home);
  bot.action('h', async (ctx) => {
    await answer(ctx);
    await home(ctx);
  });

  const catalog = async (ctx: Ctx, page: number) => {
    const list = await listProducts(sql, page, config.bot.productsPerPage);
    const v = catalogView(list);
    await show(ctx, v.text, v.keyboard);
  };
  bot.command('produk', (ctx) => catalog(ctx, 0));
  bot.action(/^c:(\d{1,4})$/, async (ctx) => {
    await answer(ctx);
    await catalog(ctx, Number(ctx.match[1]));
  });

  bot.action(/^p:(\d{1,9})$/, async (ctx) => {
    const p = await getProduct(sql, Number(ctx.match[1]));
    if (!p) return answer(ctx, T.unavailable);
    await answer(ctx);
    const v = productView(p, config.bot.orderMaxQuantity);
    await show(ctx, v.text, v.keyboard);
  });

  bot.action(/^q:(\d{1,9}):(\d{1,4})$/, async (ctx) => {
    const p = await getProduct(sql, Number(ctx.match[1]));
    const qty = Number(ctx.match[2]);
    if (!p) return answer(ctx, T.unavailable);
    if (qty < 1 || qty > config.bot.orderMaxQuantity) return answer(ctx, T.unavailable);
    if (p.stock < qty) return answer(ctx, T.outOfStock(p.stock));
    await answer(ctx);
    const v = confirmView(p, qty, ctx.shopUser!.balance);
    await show(ctx, v.text, v.keyboard);
  });

  /** Sends a QRIS invoice as a photo. */
  const sendInvoice = async (chatId: number, inv: { publicId: string; what: string; amount: number; total: number; expiresAt: Date; qris: string }) => {
    const png = await QRCode.toBuffer(inv.qris, { type: 'png', width: 512, margin: 2, errorCorrectionLevel: 'M' });
    return api.call<{ message_id: number }>('sendPhoto', {
      chat_id: chatId,
      photo: new InputFile(png, `${inv.publicId}.png`, 'image/png'),
      caption: invoiceCaption({ publicId: inv.publicId, what: inv.what, amount: inv.amount, total: inv.total, expires: zoned(inv.expiresAt) }),
      parse_mode: 'HTML',
    });
  };

  /**
   * Puts an invoice in the chat and remembers each message, so expiry and payment can remove
   * it. When the QR photo cannot be sent, the buyer gets the invoice as text with the amount and
   * buttons to retry or cancel, and the stock is held only a few minutes; when nothing can be
   * sent at all, the order is cancelled at once (its stock released).
   */
  const presentInvoice = async (chatId: number, userId: string, inv: PendingInvoice): Promise<void> => {
    const ref = inv.kind === 'order' ? { paymentId: inv.id } : { depositId: inv.id };
    const tag = inv.kind === 'order' ? '[payment]' : '[deposit]';
    try {
      const msg = await sendInvoice(chatId, { ...inv, qris: inv.qris ?? '' });
      await recordInvoiceMessage(sql, { ...ref, chatId, messageId: msg.message_id, kind: 'qris' });
      return;
    } catch (error) {
      log.warn(`${tag} foto QR invoice ${inv.publicId} tidak terkirim ke pembeli ${chatId}: ${(error as Error).message}`);
    }
    const until = await shortenHold(sql, inv.kind, inv.id, new Date(deps.clock.now().getTime() + FALLBACK_HOLD_MS));
    const v = invoiceFallback({ ...inv, expires: zoned(until ?? inv.expiresAt) });
    try {
      const msg = await send(chatId, v.text, v.keyboard);
      await recordInvoiceMessage(sql, { ...ref, chatId, messageId: msg.message_id, kind: 'text' });
    } catch (error) {
      const c = await cancelInvoice(sql, userId, inv.kind, inv.id);
      log.error(
        `${tag} invoice ${inv.publicId} tidak bisa ditampilkan ke pembeli ${chatId} (${(error as Error).message}): dibatalkan${c ? `, ${c.released} stok dikembalikan` : ''}`,
      );
    }
  };

  bot.action(/^b:(\d{1,9}):(\d{1,4}):([qs])$/, async (ctx) => {
    const user = ctx.shopUser!;
    const productId = Number(ctx.match[1]);
    const qty = Number(ctx.match[2]);
    if (qty < 1 || qty > config.bot.orderMaxQuantity) return answer(ctx, T.unavailable);
    const now = deps.clock.now();
    const publicId = newPublicId('INV', now);
    const chatId = ctx.chat!.id;

    if (ctx.match[3] === 's') {
      const r = await payWithBalance(sql, { userId: user.id, productId, quantity: qty, publicId });
      if (!r.ok) {
        if (r.reason === 'insufficient') return answer(ctx, `Saldo kurang: ${rupiah(r.balance)}, perlu ${rupiah(r.total)}. Isi saldo lewat /saldo.`);
        return answer(ctx, r.reason === 'out_of_stock' ? T.outOfStock(r.available) : T.unavailable);
      }
      await answer(ctx, 'Pembayaran dengan saldo berhasil.');
      log.info(`[payment] ${publicId} dibayar dengan saldo ${rupiah(r.total)} oleh pembeli ${chatId}`);
      const d = await deliverPaidOrder(deliverDeps, r.orderId);
      if (d.ok) await send(chatId, `Sisa saldo: ${rupiah(r.balance)}.`).catch(() => {});
      else log.error(`[payment] ${publicId} dibayar dengan saldo, barang belum terkirim (percobaan ke-${d.attempts}): ${d.error}`);
      const items = d.ok ? d.delivery.items.map((i) => `${i.productName} ×${i.quantity}`).join(', ') : await orderItemsText(sql, r.orderId);
      await deps
        .notifyOwners(`💰 Pesanan ${publicId} dibayar dengan saldo: ${rupiah(r.total)} (${items}) oleh pembeli ${chatId}.${d.ok ? '' : undeliveredNote(d)}`)
        .catch(() => {});
      return;
    }

    const expiresAt = new Date(now.getTime() + config.bot.paymentExpiryMinutes * 60_000);
    const r = await reserveOrder(sql, { userId: user.id, productId, quantity: qty, expiresAt, publicId });
    if (!r.ok) return answer(ctx, r.reason === 'out_of_stock' ? T.outOfStock(r.available) : T.unavailable);
    await answer(ctx, 'Membuat invoice…');
    let invoice;
    try {
      invoice = await deps.gateway.createQris({ orderId: publicId, amount: r.total });
    } catch (error) {
      const released = await abandonOrder(sql, r.orderId);
      log.error(`[payment] invoice ${publicId} tidak dibuat (${released} stok dikembalikan): ${(error as Error).message}`);
      await send(chatId, T.gatewayDown);
      if (error instanceof GatewayError && error.kind !== 'unreachable') {
        await deps.notifyOwners(`❌ Gateway pembayaran menolak invoice ${publicId}: ${error.message}`).catch(() => {});
      }
      return;
    }
    const paymentId = await attachInvoice(sql, r.orderId, invoice);
    await presentInvoice(chatId, user.id, {
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
  });

  // Balance and deposits
  const balance = async (ctx: Ctx) => {
    const v = balanceView(ctx.shopUser!.balance, config.bot.depositMinAmount);
    await show(ctx, v.text, v.keyboard);
  };
  bot.command('saldo', balance);
  bot.action('s', async (ctx) => {
    await answer(ctx);
    await balance(ctx);
  });

  const deposit = async (ctx: Ctx, amount: number) => {
    const chatId = ctx.chat!.id;
    if (!Number.isSafeInteger(amount) || amount < config.bot.depositMinAmount || amount > 100_000_000) {
      await send(chatId, T.depositTooSmall(config.bot.depositMinAmount));
      return;
    }
    const publicId = newPublicId('DEP', deps.clock.now());
    let invoice;
    try {
      invoice = await deps.gateway.createQris({ orderId: publicId, amount });
    } catch (error) {
      log.error(`[deposit] invoice ${publicId} tidak dibuat: ${(error as Error).message}`);
      await send(chatId, T.gatewayDownDeposit);
      return;
    }
    const depositId = await createDeposit(sql, ctx.shopUser!.id, invoice);
    await presentInvoice(chatId, ctx.shopUser!.id, {
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
  bot.command('deposit', async (ctx) => {
    const arg = ctx.payload.trim().replace(/[.\s]/g, '');
    if (!/^\d{1,12}$/.test(arg)) return void (await send(ctx.chat.id, T.depositUsage(config.bot.depositMinAmount)));
    await deposit(ctx, Number(arg));
  });
  bot.action(/^d:(\d{1,12})$/, async (ctx) => {
    await answer(ctx, 'Membuat invoice deposit…');
    await deposit(ctx, Number(ctx.match[1]));
  });

  // The buttons of an invoice shown as text (its QR photo could not be sent).
  bot.action(/^i:([rx]):([od]):(\d{1,18})$/, async (ctx) => {
    const user = ctx.shopUser!;
    const kind = ctx.match[2] === 'o' ? 'order' : 'deposit';
    const id = ctx.match[3]!;
    const chatId = ctx.chat!.id;
    if (ctx.match[1] === 'x') {
      const c = await cancelInvoice(sql, user.id, kind, id);
      if (!c) return answer(ctx, 'Invoice ini sudah tidak aktif.');
      await answer(ctx, 'Dibatalkan.');
      await removeInvoiceMessages({ sql, api, log }, c.messages, `❌ Invoice ${c.publicId} dibatalkan.`);
      log.info(
        `[${kind === 'order' ? 'payment' : 'deposit'}] invoice ${c.publicId} dibatalkan oleh pembeli ${chatId}${kind === 'order' ? `, ${c.released} stok dikembalikan` : ''}`,
      );
      await send(chatId, kind === 'order' ? `Pesanan ${c.publicId} dibatalkan dan stoknya dikembalikan.` : `Deposit ${c.publicId} dibatalkan.`).catch(() => {});
      return;
    }
    const inv = await pendingInvoice(sql, user.id, kind, id);
    if (!inv?.qris) return answer(ctx, 'Invoice ini sudah tidak aktif.');
    try {
      const msg = await sendInvoice(chatId, { ...inv, qris: inv.qris });
      await recordInvoiceMessage(sql, { ...(kind === 'order' ? { paymentId: id } : { depositId: id }), chatId, messageId: msg.message_id, kind: 'qris' });
      await answer(ctx);
    } catch (error) {
      log.warn(`foto QR invoice ${inv.publicId} masih tidak terkirim: ${(error as Error).message}`);
      await answer(ctx, 'QR belum bisa dikirim. Coba lagi sebentar lagi.');
    }
  });

  // Orders: a buyer sees their own and nobody else's.
  const orders = async (ctx: Ctx) => {
    const list = await listUserOrders(sql, ctx.shopUser!.id, 5);
    if (list.length === 0) return show(ctx, 'Anda belum punya pesanan.', homeKeyboard());
    const lines = ['📦 <b>Pesanan terakhir Anda</b>', ''];
    for (const o of list) lines.push(`<code>${escapeHtml(o.publicId)}</code>: ${rupiah(o.total)}, ${STATUS_ID[o.status] ?? o.status}`);
    const keyboard: Keyboard = list
      .filter((o) => o.status === 'paid' || o.status === 'delivered')
      .map((o) => [{ text: `Lihat ${o.publicId}`, callback_data: `o:${o.id}` }]);
    keyboard.push([{ text: '🏠 Menu', callback_data: 'h' }]);
    await show(ctx, lines.join('\n'), keyboard);
  };
  bot.command('pesanan', orders);
  bot.action('o', async (ctx) => {
    await answer(ctx);
    await orders(ctx);
  });
  bot.action(/^o:(\d{1,18})$/, async (ctx) => {
    const o = await findUserOrder(sql, ctx.shopUser!.id, ctx.match[1]!);
    if (!o || (o.status !== 'paid' && o.status !== 'delivered')) return answer(ctx, 'Pesanan tidak ditemukan.');
    await answer(ctx);
    const d = await loadDelivery(sql, deps.cipher, o.id);
    for (const text of deliveryMessages(d)) await send(ctx.chat!.id, text);
  });

  // Owners only; anyone else gets exactly what an unknown command gets.
  const ownerCommand = (name: 'stats' | 'health' | 'backup') =>
    bot.command(name, async (ctx, next) => {
      if (!owners.has(ctx.from.id)) return next();
      log.info(`owner ${ctx.from.id} ran /${name}`);
      if (name === 'backup') await send(ctx.chat.id, '⏳ Backup berjalan…');
      if (name === 'health') await send(ctx.chat.id, '⏳ Health check berjalan…');
      await send(ctx.chat.id, await deps.owner[name]());
    });
  ownerCommand('stats');
  ownerCommand('health');
  ownerCommand('backup');

  // SNK answers: the buyer's next text or photo after buying a product with terms.
  bot.on('photo', async (ctx) => {
    const user = ctx.shopUser!;
    const waiting = await awaitingTerms(sql, user.id, Math.min(SNK_WINDOW_HOURS, config.snkRetentionDays * 24));
    if (!waiting) return void (await send(ctx.chat.id, T.nothingToSubmit));
    const photo = ctx.message.photo.at(-1)!;
    const saved = await saveTermsSubmission(sql, deps.cipher, {
      userId: user.id,
      orderId: waiting.orderId,
      productId: waiting.productId,
      kind: 'photo',
      content: photo.file_id,
    });
    if (!saved) return;
    await send(ctx.chat.id, T.snkSaved(waiting.productName));
    log.info(`[snk] submission foto untuk ${waiting.publicId} (${waiting.productName}) dari pembeli ${ctx.from.id}`);
    const caption = `📝 SNK ${waiting.productName}, pesanan ${waiting.publicId}, pembeli ${ctx.from.id}${ctx.message.caption ? `: ${ctx.message.caption}` : ''}`;
    try {
      await deps.sendOwnersPhoto(await deps.downloadFile(photo.file_id), caption.slice(0, 1000));
    } catch (error) {
      log.warn(`[snk] foto ${waiting.publicId} tidak diteruskan ke owner: ${(error as Error).message}`);
      await deps.notifyOwners(`${caption}\n(foto tidak bisa diteruskan; tersimpan terenkripsi di database)`).catch(() => {});
    }
  });

  bot.on('text', async (ctx) => {
    const text = ctx.message.text;
    if (text.startsWith('/')) return void (await send(ctx.chat.id, T.unknown));
    const user = ctx.shopUser!;
    const waiting = await awaitingTerms(sql, user.id, Math.min(SNK_WINDOW_HOURS, config.snkRetentionDays * 24));
    if (!waiting) return void (await send(ctx.chat.id, T.nothingToSubmit, homeKeyboard()));
    const saved = await saveTermsSubmission(sql, deps.cipher, {
      userId: user.id,
      orderId: waiting.orderId,
      productId: waiting.productId,
      kind: 'text',
      content: text,
    });
    if (!saved) return;
    await send(ctx.chat.id, T.snkSaved(waiting.productName));
    log.info(`[snk] submission teks untuk ${waiting.publicId} (${waiting.productName}) dari pembeli ${ctx.from.id}`);
    await deps.notifyOwners(`📝 SNK ${waiting.productName}, pesanan ${waiting.publicId}, pembeli ${ctx.from.id}:\n${text}`).catch((error: unknown) => {
      log.warn(`[snk] teks ${waiting.publicId} tidak diteruskan ke owner: ${(error as Error).message}`);
    });
  });

  bot.on('callback_query', (ctx) => answer(ctx, 'Tombol ini sudah tidak berlaku. Ketik /start.'));

  bot.catch(async (error, ctx) => {
    log.error(`update ${ctx.update.update_id} failed: ${(error as Error)?.stack?.split('\n').slice(0, 3).join(' | ') ?? String(error)}`);
    if (ctx.chat?.type === 'private') await send(ctx.chat.id, T.error).catch(() => {});
    if (ctx.callbackQuery) await answer(ctx);
  });

  const deliverDeps = { sql, api, cipher: deps.cipher, log, notifyOwners: deps.notifyOwners, deliveryRetryLimit: config.bot.deliveryRetryLimit };

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
