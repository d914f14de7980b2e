import { createLogger } from '../log/logger.js';
import type { Sql } from '../db/connection.js';
import { finishExpiry } from './invoice-cleanup.js';

const empty = { ran: true, payments: [], deposits: [], settled: [], mismatches: [], skipped: 0, gatewayErrors: [] };

function capture(level: 'INFO' | 'DEBUG') {
  const lines: string[] = [];
  return { lines, log: createLogger({ timeZone: 'UTC', level, sinks: [{ write: (l: string) => void lines.push(l) }] }) };
}

describe('finishExpiry', () => {
  it('logs nothing at INFO when a run found nothing (every minute: 2,880 lines a day before), and its counts at DEBUG', async () => {
    const info = capture('INFO');
    await finishExpiry({ sql: undefined as unknown as Sql, api: undefined, log: info.log }, empty);
    expect(info.lines).toEqual([]);
    const debug = capture('DEBUG');
    await finishExpiry({ sql: undefined as unknown as Sql, api: undefined, log: debug.log }, empty);
    expect(debug.lines.map((l) => l.replace(/^\[[^\]]+\] /, ''))).toEqual([
      '[DEBUG] [expired_payments] 0 invoice kedaluwarsa, 0 stok dikembalikan, 0 pesan dihapus, 0 diedit, 0 gagal',
      '[DEBUG] [expired_deposits] 0 deposit kedaluwarsa, 0 pesan dihapus, 0 diedit, 0 gagal',
    ]);
  });

  it('still logs a run that did something at INFO', async () => {
    const info = capture('INFO');
    await finishExpiry({ sql: undefined as unknown as Sql, api: undefined, log: info.log }, { ...empty, skipped: 1 });
    expect(info.lines).toEqual([
      expect.stringMatching(/\[INFO\] \[expired_payments\] 0 invoice kedaluwarsa, .*1 dilewati \(sudah dibayar\)$/),
      expect.stringMatching(/\[INFO\] \[expired_deposits\] 0 deposit kedaluwarsa/),
    ]);
  });
});
