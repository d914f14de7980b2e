export { createBot, type BotDeps, type OwnerTools, type ShopBot } from './create-bot.js';
export { startBotApp, type AppOptions, type RunningBot, BOT_VERSION } from './app.js';
export { Scheduler, dailyAt, type Schedule } from './jobs/scheduler.js';
export { RateLimiter } from './rate-limit.js';
export { PAYMENT_WEBHOOK_PATH, TELEGRAM_WEBHOOK_PATH } from './runtime/http-server.js';
