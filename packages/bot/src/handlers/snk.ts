import { awaitingTerms, saveTermsSubmission } from '@botctl/core';
import { homeKeyboard, T } from '../texts.js';
import type { Kit, ShopTelegraf } from './kit.js';

/** Hours after payment during which the buyer's next text or photo is taken as the SNK answer. */
const SNK_WINDOW_HOURS = 48;

/** SNK answers: the buyer's next text or photo after buying a product with terms. Registered after the commands. */
export function snkHandlers(bot: ShopTelegraf, kit: Kit): void {
  const { config, sql, cipher, log } = kit.deps;
  const window = () => Math.min(SNK_WINDOW_HOURS, config.snkRetentionDays * 24);

  bot.on('photo', async (ctx) => {
    const user = ctx.shopUser!;
    const waiting = await awaitingTerms(sql, user.id, window());
    if (!waiting) return void (await kit.send(ctx.chat.id, T.nothingToSubmit));
    const photo = ctx.message.photo.at(-1)!;
    const saved = await saveTermsSubmission(sql, cipher, {
      userId: user.id,
      orderId: waiting.orderId,
      productId: waiting.productId,
      kind: 'photo',
      content: photo.file_id,
    });
    if (!saved) return;
    await kit.send(ctx.chat.id, T.snkSaved(waiting.productName));
    log.info(`[snk] submission foto untuk ${waiting.publicId} (${waiting.productName}) dari pembeli ${ctx.from.id}`);
    const caption = `📝 SNK ${waiting.productName}, pesanan ${waiting.publicId}, pembeli ${ctx.from.id}${ctx.message.caption ? `: ${ctx.message.caption}` : ''}`;
    try {
      await kit.deps.sendOwnersPhoto(await kit.deps.downloadFile(photo.file_id), caption.slice(0, 1000));
    } catch (error) {
      log.warn(`[snk] foto ${waiting.publicId} tidak diteruskan ke owner: ${(error as Error).message}`);
      await kit.deps.notifyOwners(`${caption}\n(foto tidak bisa diteruskan; tersimpan terenkripsi di database)`).catch(() => {});
    }
  });

  bot.on('text', async (ctx) => {
    const text = ctx.message.text;
    if (text.startsWith('/')) return void (await kit.send(ctx.chat.id, T.unknown));
    const user = ctx.shopUser!;
    const waiting = await awaitingTerms(sql, user.id, window());
    if (!waiting) return void (await kit.send(ctx.chat.id, T.nothingToSubmit, homeKeyboard()));
    const saved = await saveTermsSubmission(sql, cipher, {
      userId: user.id,
      orderId: waiting.orderId,
      productId: waiting.productId,
      kind: 'text',
      content: text,
    });
    if (!saved) return;
    await kit.send(ctx.chat.id, T.snkSaved(waiting.productName));
    log.info(`[snk] submission teks untuk ${waiting.publicId} (${waiting.productName}) dari pembeli ${ctx.from.id}`);
    await kit.deps.notifyOwners(`📝 SNK ${waiting.productName}, pesanan ${waiting.publicId}, pembeli ${ctx.from.id}:\n${text}`).catch((error: unknown) => {
      log.warn(`[snk] teks ${waiting.publicId} tidak diteruskan ke owner: ${(error as Error).message}`);
    });
  });
}
