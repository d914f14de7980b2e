import { type AwaitingTerms, activeTermsSession, awaitingTerms, button, saveTermsSubmission, startTermsSession } from '@botctl/core';
import { homeKeyboard, T } from '../texts.js';
import type { ButtonHandlers, Ctx, Kit, ShopTelegraf } from './kit.js';

/** Hours after payment during which a buyer is reminded of the SNK they still owe. */
const SNK_WINDOW_HOURS = 48;

/**
 * SNK answers. The buyer taps "✅ Penuhi SNK" under the terms (sent with the goods), sees what is
 * asked, and their next text or photo is the answer, confirmed back to them. A text or photo
 * without that tap is never taken silently: the buyer is shown the button. Registered after the
 * commands; anything else that is not text gets a clear reply.
 */
export function snkHandlers(bot: ShopTelegraf, kit: Kit): ButtonHandlers<'terms'> {
  const { config, sql, cipher, log } = kit.deps;
  const window = () => Math.min(SNK_WINDOW_HOURS, config.snkRetentionDays * 24);

  /** What to say to a text or photo that is not an SNK answer; true when it was said. */
  const remind = async (ctx: Ctx): Promise<boolean> => {
    const waiting = await awaitingTerms(sql, ctx.shopUser!.id, window());
    if (!waiting) return false;
    await kit.send(ctx.chat!.id, T.snkTapFirst(waiting.productName, waiting.publicId), [
      [button('✅ Penuhi SNK', { kind: 'terms', orderId: waiting.orderId, productId: waiting.productId })],
    ]);
    return true;
  };
  const save = async (ctx: Ctx, s: AwaitingTerms, kind: 'text' | 'photo', content: string): Promise<boolean> => {
    const saved = await saveTermsSubmission(sql, cipher, { userId: ctx.shopUser!.id, orderId: s.orderId, productId: s.productId, kind, content });
    if (!saved) {
      await kit.send(ctx.chat!.id, T.snkAnswered);
      return false;
    }
    await kit.send(ctx.chat!.id, T.snkSaved(s.productName));
    log.info(`[snk] submission ${kind === 'text' ? 'teks' : 'foto'} untuk ${s.publicId} (${s.productName}) dari pembeli ${ctx.from!.id}`);
    return true;
  };

  bot.on('photo', async (ctx) => {
    const session = await activeTermsSession(sql, ctx.shopUser!.id);
    if (!session) {
      if (!(await remind(ctx))) await kit.send(ctx.chat.id, T.nothingToSubmit);
      return;
    }
    const photo = ctx.message.photo.at(-1)!;
    if (!(await save(ctx, session, 'photo', photo.file_id))) return;
    const caption = `📝 SNK ${session.productName}, pesanan ${session.publicId}, pembeli ${ctx.from.id}${ctx.message.caption ? `: ${ctx.message.caption}` : ''}`;
    try {
      await kit.deps.sendOwnersPhoto(await kit.deps.downloadFile(photo.file_id), caption.slice(0, 1000));
    } catch (error) {
      log.warn(`[snk] foto ${session.publicId} tidak diteruskan ke owner: ${(error as Error).message}`);
      await kit.deps.notifyOwners(`${caption}\n(foto tidak bisa diteruskan; tersimpan terenkripsi di database)`).catch(() => {});
    }
  });

  bot.on('text', async (ctx) => {
    const text = ctx.message.text;
    if (text.startsWith('/')) return void (await kit.send(ctx.chat.id, T.unknown));
    const session = await activeTermsSession(sql, ctx.shopUser!.id);
    if (!session) {
      if (await remind(ctx)) return;
      // A number typed after seeing a product: quantities are chosen with its buttons.
      if (/^\s*\d{1,6}\s*$/.test(text)) return void (await kit.send(ctx.chat.id, T.quantityByButtons));
      return void (await kit.send(ctx.chat.id, T.nothingToSubmit, homeKeyboard()));
    }
    if (!(await save(ctx, session, 'text', text))) return;
    await kit.deps.notifyOwners(`📝 SNK ${session.productName}, pesanan ${session.publicId}, pembeli ${ctx.from.id}:\n${text}`).catch((error: unknown) => {
      log.warn(`[snk] teks ${session.publicId} tidak diteruskan ke owner: ${(error as Error).message}`);
    });
  });

  // Stickers, voice, video, files from a buyer, locations…: said clearly, never ignored.
  bot.on('message', (ctx) => kit.send(ctx.chat.id, T.notText));

  return {
    async terms(ctx, b) {
      const r = await startTermsSession(sql, ctx.shopUser!.id, b.orderId, b.productId);
      if (!r.ok) return kit.answer(ctx, r.reason === 'answered' ? T.snkAnswered : 'SNK ini tidak ditemukan.');
      await kit.answer(ctx);
      await kit.send(ctx.chat!.id, T.snkAsk(r.terms.productName, r.terms.content));
    },
  };
}
