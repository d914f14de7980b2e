import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redactor } from '../secret.js';
import { FixedClock } from '../time.js';
import { createLogger, DailyFileSink, formatLogLine, LOG_LINE } from './logger.js';

describe('logs', () => {
  it("writes the plan's line format in the zone", () => {
    const line = formatLogLine(new Date('2025-11-14T19:00:00Z'), 'INFO', 'Backup database selesai: x', 'Asia/Jakarta');
    expect(line).toBe('[2025-11-15 02:00:00] [INFO] Backup database selesai: x');
    expect(LOG_LINE.test(line)).toBe(true);
  });

  it('switches to a new file at local midnight and scrubs secrets', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log-'));
    try {
      const clock = new FixedClock('2026-11-24T16:59:59Z'); // 23:59:59 in Jakarta
      const log = createLogger({
        timeZone: 'Asia/Jakarta',
        clock,
        redactor: new Redactor().add('s3cr3t-pass'),
        sinks: [new DailyFileSink(dir, 'Asia/Jakarta')],
      });
      log.info('before midnight with s3cr3t-pass');
      clock.advance(2000);
      log.warn('after midnight');
      log.debug('hidden at INFO');
      expect(fs.readdirSync(dir).sort()).toEqual(['2026-11-24.log', '2026-11-25.log']);
      const first = fs.readFileSync(path.join(dir, '2026-11-24.log'), 'utf8');
      expect(first).toBe('[2026-11-24 23:59:59] [INFO] before midnight with **redacted**\n');
      expect(fs.readFileSync(path.join(dir, '2026-11-25.log'), 'utf8')).toBe('[2026-11-25 00:00:01] [WARN] after midnight\n');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
