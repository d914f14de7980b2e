import {
  addStock,
  blockBuyer,
  broadcastAudience,
  button,
  cancelBroadcastDraft,
  deliverPaidOrder,
  deliveryMessages,
  draftBroadcast,
  escapeHtml,
  loadDelivery,
  NotFoundError,
  type OrderDetail,
  orderDetail,
  PRODUCT_CODE,
  queueBroadcast,
  rupiah,
  stockCounts,
  stockLines,
  unblockBuyer,
} from '@botctl/core';
import type { Keyboard } from '../texts.js';
import type { ButtonHandlers, Ctx, Kit, ShopTelegraf } from './kit.js';

/** The largest stock file taken from the chat (one line per item). */
const STOCK_FILE_MAX_BYTES = 1024 * 1024;
const BROADCAST_TEXT_MAX = 4096;
const BROADCAST_CAPTION_MAX = 1024;
const BROADCAST_COMMAND = /^\/broadcast(?:@\w+)?(?:\s+([\s\S]*))?$/;

const STATUS: Record<string, string> = {
  pending: 'menunggu pembayaran',
  paid: 'lunas, belum terkirim',
  delivered: 'lunas, terkirim',
  expired: 'kedaluwarsa',
  failed: 'gagal',
  cancelled: 'dibatalkan',
};

const STAFF_HELP = [
  '🛠 <b>Perintah admin</b>',
  '/order KODE: status, pembeli, isi, pembayaran dan pengiriman satu pesanan (dengan tombol kirim ulang)',
  '/stok: stok per produk',
  'Kirim berkas <b>.txt</b> dengan kode produk sebagai keterangan: satu stok per baris',
  '/blokir ID dan /buka ID: blokir atau buka pembeli (ID Telegram)',
  '/broadcast PESAN, atau foto dengan keterangan /broadcast PESAN: pesan ke semua pembeli, setelah konfirmasi',
].join('\n');

function orderText(o: OrderDetail, zoned: (d: Date) => string): string {
  const buyer = `${o.buyer.telegramId}${o.buyer.username ? ` (@${escapeHtml(o.buyer.username)})` : ''}${o.buyer.firstName ? ` ${escapeHtml(o.buyer.firstName)}` : ''}`;
  const lines = [
    `🧾 <b>Pesanan ${escapeHtml(o.publicId)}</b> (#${o.id})`,
    `Status: <b>${STATUS[o.status] ?? o.status}</b>`,
    `Dibuat: ${zoned(o.createdAt)}`,
    `Pembeli: ${buyer}${o.buyer.blocked ? ' 🚫 diblokir' : ''}`,
    `Isi: ${o.items.map((i) => `${escapeHtml(i.productName)} [${escapeHtml(i.code)}] ×${i.quantity}`).join(', ')}`,
    `Total: ${rupiah(o.total)} (${o.paymentMethod === 'balance' ? 'saldo' : 'QRIS'})`,
  ];
  if (o.payment) {
    lines.push(
      `Pembayaran: ${escapeHtml(o.payment.gatewayOrderId)}, ${o.payment.status}, ${rupiah(o.payment.totalPayment)}` +
        (o.payment.paidAt ? `, dibayar ${zoned(o.payment.paidAt)}` : `, batas ${zoned(o.payment.expiresAt)}`),
    );
  }
  if (o.deliveredAt) lines.push(`Terkirim: ${zoned(o.deliveredAt)}`);
  else if (o.delivery.attempts > 0)
    lines.push(`Pengiriman: ${o.delivery.attempts} percobaan gagal${o.delivery.givenUp ? ' (dihentikan)' : ''}: ${escapeHtml(o.delivery.error ?? '')}`);
  return lines.join('\n');
}

/**
 * What the shop's staff (TELEGRAM_OWNER_IDS and TELEGRAM_ADMIN_IDS) run the shop with from the
 * chat: /admin, /order, /stok, a .txt stock file, /blokir and /buka, /broadcast. Anyone else gets
 * exactly what an unknown command (or a file) gets. Registered before the SNK handlers.
 */
export function staffHandlers(bot: ShopTelegraf, kit: Kit): ButtonHandlers<'resend' | 'broadcast'> {
  const { sql, log, cipher } = kit.deps;
  const command = (name: string, run: (ctx: Ctx & { payload: string; chat: { id: number }; from: { id: number } }) => Promise<unknown>) =>
    bot.command(name, async (ctx, next) => {
      if (!kit.isStaff(ctx.from.id)) return next();
      log.info(`staff ${ctx.from.id} ran /${name}`);
      await run(ctx);
    });
  const staffButton = async (ctx: Ctx, run: () => Promise<unknown>) => {
    if (!kit.isStaff(ctx.from?.id)) return kit.answer(ctx, 'Tombol ini sudah tidak berlaku. Ketik /start.');
    return run();
  };
  const telegramId = (payload: string) => (/^\s*\d{1,15}\s*$/.test(payload) ? Number(payload.trim()) : undefined);

  command('admin', (ctx) => kit.send(ctx.chat.id, STAFF_HELP));

  command('order', async (ctx) => {
    const ref = ctx.payload.trim();
    if (!ref) return kit.send(ctx.chat.id, 'Ketik /order KODE, misalnya /order INV-20261201-ABC123.');
    const o = await orderDetail(sql, ref);
    if (!o) return kit.send(ctx.chat.id, `Pesanan ${escapeHtml(ref)} tidak ditemukan.`);
    const keyboard: Keyboard =
      o.status === 'paid' || o.status === 'delivered' ? [[button('📤 Kirim ulang barang ke pembeli', { kind: 'resend', orderId: o.id })]] : [];
    return kit.send(ctx.chat.id, orderText(o, kit.zoned), keyboard.length ? keyboard : undefined);
  });

  command('stok', async (ctx) => {
    const counts = await stockCounts(sql);
    if (counts.length === 0) return kit.send(ctx.chat.id, 'Belum ada produk. Tambahkan dengan `botctl catalog import`.');
    const lines = ['📦 <b>Stok per produk</b>', ''];
    for (const c of counts) {
      lines.push(
        `${c.active ? '' : '⏸ '}<b>${escapeHtml(c.code)}</b> ${escapeHtml(c.name)}: ${c.available} tersedia, ${c.reserved} ditahan, ${c.sold} terjual`,
      );
    }
    return kit.send(ctx.chat.id, lines.join('\n'));
  });

  for (const [name, block] of [
    ['blokir', true],
    ['buka', false],
  ] as const) {
    command(name, async (ctx) => {
      const id = telegramId(ctx.payload);
      if (id === undefined) return kit.send(ctx.chat.id, `Ketik /${name} ID, dengan ID Telegram pembeli (angka, lihat /order).`);
      if (block && kit.isStaff(id)) return kit.send(ctx.chat.id, 'Pemilik atau admin toko tidak bisa diblokir.');
      const r = block ? await blockBuyer(sql, id, ctx.from.id) : await unblockBuyer(sql, id, ctx.from.id);
      log.info(`staff ${ctx.from.id}: /${name} ${id}: ${r}`);
      const text: Record<typeof r, string> = {
        blocked: `🚫 Pembeli ${id} diblokir. Ia diberi tahu sekali; pesannya tidak dilayani lagi.`,
        already: `Pembeli ${id} sudah diblokir.`,
        unblocked: `✅ Pembeli ${id} dibuka kembali.`,
        not_blocked: `Pembeli ${id} tidak sedang diblokir.`,
        unknown: `Pembeli ${id} belum pernah menghubungi bot ini.`,
      };
      return kit.send(ctx.chat.id, text[r]);
    });
  }

  const offerBroadcast = async (ctx: Ctx, draft: { kind: 'text' | 'photo'; body: string; photoFileId?: string }) => {
    const chatId = ctx.chat!.id;
    const id = await draftBroadcast(sql, ctx.from!.id, draft);
    const audience = await broadcastAudience(sql, ctx.from!.id);
    // The author sees it exactly as buyers will, then confirms.
    if (draft.kind === 'photo')
      await kit.deps.api.call('sendPhoto', { chat_id: chatId, photo: draft.photoFileId, ...(draft.body ? { caption: draft.body } : {}) });
    else await kit.deps.api.call('sendMessage', { chat_id: chatId, text: draft.body, link_preview_options: { is_disabled: true } });
    await kit.send(chatId, `📣 Pratinjau broadcast #${id} di atas. Kirim ke <b>${audience}</b> pembeli?`, [
      [button(`✅ Kirim ke ${audience} pembeli`, { kind: 'broadcast', action: 'send', id }), button('❌ Batal', { kind: 'broadcast', action: 'cancel', id })],
    ]);
  };

  command('broadcast', async (ctx) => {
    const body = ctx.payload.trim();
    if (!body) return kit.send(ctx.chat.id, 'Ketik /broadcast PESAN, atau kirim foto dengan keterangan /broadcast PESAN.');
    if (body.length > BROADCAST_TEXT_MAX) return kit.send(ctx.chat.id, `Pesan broadcast paling panjang ${BROADCAST_TEXT_MAX} karakter.`);
    return offerBroadcast(ctx, { kind: 'text', body });
  });

  bot.on('photo', async (ctx, next) => {
    const m = BROADCAST_COMMAND.exec(ctx.message.caption?.trim() ?? '');
    if (!m || !kit.isStaff(ctx.from.id)) return next();
    const body = (m[1] ?? '').trim();
    if (body.length > BROADCAST_CAPTION_MAX) return kit.send(ctx.chat.id, `Keterangan foto broadcast paling panjang ${BROADCAST_CAPTION_MAX} karakter.`);
    log.info(`staff ${ctx.from.id} ran /broadcast (photo)`);
    return offerBroadcast(ctx, { kind: 'photo', body, photoFileId: ctx.message.photo.at(-1)!.file_id });
  });

  bot.on('document', async (ctx, next) => {
    if (!kit.isStaff(ctx.from.id)) return next();
    const doc = ctx.message.document;
    const code = ctx.message.caption?.trim() ?? '';
    const chatId = ctx.chat.id;
    if (!/\.txt$/i.test(doc.file_name ?? '') && doc.mime_type !== 'text/plain') {
      return kit.send(chatId, 'Stok dikirim sebagai berkas .txt (satu stok per baris) dengan kode produk sebagai keterangan.');
    }
    if (!PRODUCT_CODE.test(code)) return kit.send(chatId, 'Tulis kode produk sebagai keterangan berkas, misalnya NETFLIX1 (lihat /stok).');
    if ((doc.file_size ?? 0) > STOCK_FILE_MAX_BYTES) return kit.send(chatId, 'Berkas stok paling besar 1 MiB; bagi menjadi beberapa berkas.');
    let bytes: Buffer;
    try {
      bytes = await kit.deps.downloadFile(doc.file_id);
    } catch (error) {
      log.warn(`staff ${ctx.from.id}: stock file not downloaded: ${(error as Error).message}`);
      return kit.send(chatId, 'Berkas tidak bisa diunduh dari Telegram. Coba kirim lagi sebentar lagi.');
    }
    if (bytes.length > STOCK_FILE_MAX_BYTES) return kit.send(chatId, 'Berkas stok paling besar 1 MiB; bagi menjadi beberapa berkas.');
    let text: string;
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return kit.send(chatId, 'Berkas stok harus teks UTF-8.');
    }
    const lines = stockLines(text);
    if (lines.length === 0) return kit.send(chatId, 'Berkas itu kosong: tulis satu stok per baris.');
    try {
      const r = await addStock(sql, cipher, code, lines);
      log.info(`staff ${ctx.from.id}: stock ${code} +${r.added} (${r.duplicates_in_file} duplicate lines, ${r.already_stocked} already stocked)`);
      return kit.send(
        chatId,
        `✅ Stok ${escapeHtml(code)}: ${r.added} ditambahkan` +
          (r.duplicates_in_file ? `, ${r.duplicates_in_file} baris ganda dilewati` : '') +
          (r.already_stocked ? `, ${r.already_stocked} sudah ada dilewati` : '') +
          `. Tersedia sekarang: ${r.available}.`,
      );
    } catch (error) {
      if (error instanceof NotFoundError) return kit.send(chatId, `Tidak ada produk dengan kode ${escapeHtml(code)} (lihat /stok).`);
      throw error;
    }
  });

  return {
    resend: (ctx, b) =>
      staffButton(ctx, async () => {
        const o = await orderDetail(sql, b.orderId);
        if (!o || (o.status !== 'paid' && o.status !== 'delivered')) return kit.answer(ctx, 'Pesanan ini belum lunas atau sudah tidak ada.');
        if (o.status === 'paid') {
          const r = await deliverPaidOrder(kit.fulfil, o.id);
          if (!r.ok) return kit.answer(ctx, `Belum terkirim: ${r.error}`.slice(0, 190));
        } else {
          const d = await loadDelivery(sql, cipher, o.id);
          try {
            for (const text of deliveryMessages(d)) await kit.deps.api.call('sendMessage', { chat_id: d.chatId, text, parse_mode: 'HTML' });
          } catch (error) {
            return kit.answer(ctx, `Belum terkirim: ${(error as Error).message}`.slice(0, 190));
          }
        }
        await sql`INSERT INTO audit_log (actor, action, details) VALUES (${`staff:${ctx.from!.id}`}, 'order_resent', ${sql.json({ order: o.publicId })})`;
        log.info(`staff ${ctx.from!.id}: pesanan ${o.publicId} dikirim ulang ke pembeli ${o.buyer.telegramId}`);
        await kit.answer(ctx, 'Terkirim.');
        return kit.send(ctx.chat!.id, `📤 Barang pesanan ${escapeHtml(o.publicId)} dikirim ulang ke pembeli ${o.buyer.telegramId}.`);
      }),
    broadcast: (ctx, b) =>
      staffButton(ctx, async () => {
        if (b.action === 'cancel') {
          const ok = await cancelBroadcastDraft(sql, b.id, ctx.from!.id);
          await kit.answer(ctx, ok ? 'Dibatalkan.' : 'Broadcast ini sudah diproses.');
          if (ok) await kit.show(ctx, `❌ Broadcast #${b.id} dibatalkan.`);
          return;
        }
        const q = await queueBroadcast(sql, b.id, ctx.from!.id);
        if (!q) return kit.answer(ctx, 'Broadcast ini sudah diproses (atau dibuat admin lain).');
        log.info(`[broadcast] #${b.id} diantrikan oleh ${ctx.from!.id} ke ${q.recipients} pembeli`);
        await kit.answer(ctx, 'Diantrikan.');
        await kit.show(
          ctx,
          `📣 Broadcast #${b.id} diantrikan ke ${q.recipients} pembeli. Laporan (terkirim, memblokir bot, gagal) dikirim ke sini setelah selesai.`,
        );
      }),
  };
}
