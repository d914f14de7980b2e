import type { Kit, ShopTelegraf } from './kit.js';

/** /stats, /health and /backup for the owners; anyone else gets exactly what an unknown command gets. */
export function ownerCommands(bot: ShopTelegraf, kit: Kit): void {
  const { config, log, owner } = kit.deps;
  const owners = new Set(config.telegram.ownerIds);
  for (const name of ['stats', 'health', 'backup'] as const) {
    bot.command(name, async (ctx, next) => {
      if (!owners.has(ctx.from.id)) return next();
      log.info(`owner ${ctx.from.id} ran /${name}`);
      if (name === 'backup') await kit.send(ctx.chat.id, '⏳ Backup berjalan…');
      if (name === 'health') await kit.send(ctx.chat.id, '⏳ Health check berjalan…');
      await kit.send(ctx.chat.id, await owner[name]());
    });
  }
}
