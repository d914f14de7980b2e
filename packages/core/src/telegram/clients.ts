import type { Config } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { HttpBotApi } from './bot-api.js';
import { ownerBotToken } from './owner-alerts.js';
import { ReliableBotApi } from './reliable-api.js';

/**
 * The one place Bot API clients are built: every client talks through the same retry policy
 * (ReliableBotApi) with the same per-call timeout (TELEGRAM_CALL_TIMEOUT_MS, see bot-api.ts).
 */
export function shopBotApi(config: Config, opts: { log?: Logger } = {}): ReliableBotApi | undefined {
  const token = config.telegram.botToken;
  return token ? new ReliableBotApi(new HttpBotApi({ token, apiRoot: config.telegram.apiRoot }), opts) : undefined;
}

/** The notification bot (OWNER_BOT_TOKEN, else the shop bot's token), for the owners' commands. */
export function ownerBotApi(config: Config, opts: { log?: Logger } = {}): ReliableBotApi | undefined {
  const token = ownerBotToken(config).token;
  return token ? new ReliableBotApi(new HttpBotApi({ token, apiRoot: config.telegram.apiRoot }), opts) : undefined;
}
