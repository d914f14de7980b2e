import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../fs/atomic.js';

/**
 * The bot process says it is alive by rewriting a small file every few seconds
 * (`BOT_STATE_DIR/heartbeat-<service>.json`); the health check reads it. A stale file means the
 * process is down or hung; `stopped_at` means it shut down on purpose.
 */
export interface Heartbeat {
  service: string;
  pid: number;
  host: string;
  version: string;
  started_at: string;
  at: string;
  stopped_at?: string;
  /** Paused by botctl's maintenance fence (a restore of its database). */
  paused?: { command: string; since: string; token: string };
}

export const heartbeatFile = (stateDir: string, service = 'bot'): string => path.join(stateDir, `heartbeat-${service}.json`);

export async function writeHeartbeat(stateDir: string, hb: Omit<Heartbeat, 'host' | 'pid'> & { pid?: number; host?: string }): Promise<void> {
  // Group-readable: botctl (maybe another user) reads it, and writes the maintenance fence beside it.
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o750 });
  const full: Heartbeat = { pid: process.pid, host: os.hostname(), ...hb };
  await writeFileAtomic(heartbeatFile(stateDir, hb.service), `${JSON.stringify(full)}\n`, 0o644);
}

export function readHeartbeat(stateDir: string, service = 'bot'): Heartbeat | undefined {
  try {
    const hb = JSON.parse(fs.readFileSync(heartbeatFile(stateDir, service), 'utf8')) as Heartbeat;
    return typeof hb.at === 'string' && typeof hb.pid === 'number' ? hb : undefined;
  } catch {
    return undefined;
  }
}
