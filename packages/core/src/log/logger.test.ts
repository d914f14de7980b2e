import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redactor } from '../secret.js';
import { FixedClock } from '../time.js';
import { createLogger, DailyFileSink, formatLogLine, isJournalStream, LOG_LINE, StreamSink } from './logger.js';

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

describe('StreamSink under the systemd journal', () => {
  it("prefixes each line with its level's priority (<3> error, <4> warning, <6> info), and nothing otherwise", () => {
    const lines: string[] = [];
    const stream = { write: (s: string) => lines.push(s) } as unknown as NodeJS.WritableStream;
    const at = new Date('2026-12-01T10:00:00Z');
    const journal = new StreamSink(stream, { journal: true });
    const plain = new StreamSink(stream);
    for (const level of ['ERROR', 'WARN', 'INFO'] as const) journal.write(formatLogLine(at, level, 'x', 'UTC'));
    plain.write(formatLogLine(at, 'ERROR', 'x', 'UTC'));
    expect(lines).toEqual([
      '<3>[2026-12-01 10:00:00] [ERROR] x\n',
      '<4>[2026-12-01 10:00:00] [WARN] x\n',
      '<6>[2026-12-01 10:00:00] [INFO] x\n',
      '[2026-12-01 10:00:00] [ERROR] x\n',
    ]);
  });

  it('knows the journal stream by the device:inode JOURNAL_STREAM names', () => {
    const file = path.join(os.tmpdir(), `botctl-journal-${process.pid}`);
    const fd = fs.openSync(file, 'w');
    try {
      const st = fs.fstatSync(fd);
      expect(isJournalStream(fd, { JOURNAL_STREAM: `${st.dev}:${st.ino}` })).toBe(true);
      expect(isJournalStream(fd, { JOURNAL_STREAM: `${st.dev}:${st.ino + 1}` })).toBe(false);
      expect(isJournalStream(fd, {})).toBe(false);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
    }
  });
});
