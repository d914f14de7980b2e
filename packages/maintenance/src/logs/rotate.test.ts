import { execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Config, FixedClock, IntegrityError, parseConfig, silentLogger } from '@botctl/core';
import { generateX25519Identity, identityToRecipient } from 'age-encryption';
import { createArchiveDecryption, createArchiveEncryption } from '../archive/encryption.js';
import { acquireLock } from '../lock/maintenance-lock.js';
import { LocalDirStorage } from '../storage/local-dir-storage.js';
import type { Storage } from '../storage/storage.js';
import { extractLogArchive, listLogArchives } from './archives.js';
import { addDays } from './log-files.js';
import { logArchiveStores, type LogRotateDeps, rotateLogs } from './rotate.js';

const SERVICES = ['bot-order', 'maintenance'];

/** A daily file per service for every day in [from, to]; returns name → content. */
function writeLogs(logDir: string, from: string, to: string): Map<string, string> {
  const written = new Map<string, string>();
  for (let d = from; d <= to; d = addDays(d, 1)) {
    for (const s of SERVICES) {
      const member = `${s}/${d}.log`;
      const text = `[${d} 10:00:00] [INFO] ${s} line one\n[${d} 23:59:59] [INFO] ${s} last line of ${d}\n`;
      fs.mkdirSync(path.join(logDir, s), { recursive: true });
      fs.writeFileSync(path.join(logDir, member), text);
      written.set(member, text);
    }
  }
  return written;
}

const remaining = (logDir: string) =>
  SERVICES.flatMap((s) => (fs.existsSync(path.join(logDir, s)) ? fs.readdirSync(path.join(logDir, s)).map((f) => `${s}/${f}`) : [])).sort();

/** What GNU tar lists inside an archive, decrypted by the real age CLI. */
const ageTarList = (file: string, identity: string) =>
  execSync(`age --decrypt -i "${identity}" "${file}" | tar -tz`, { encoding: 'utf8' }).trim().split('\n').sort();

describe('logs rotate (fake clock, real age and tar)', () => {
  let dir: string;
  let identityFile: string;
  let recipient: string;

  beforeAll(async () => {
    const id = await generateX25519Identity();
    recipient = await identityToRecipient(id);
    identityFile = path.join(os.tmpdir(), `rotate-id-${process.pid}.txt`);
    fs.writeFileSync(identityFile, `${id}\n`, { mode: 0o600 });
  });
  afterAll(() => fs.rmSync(identityFile, { force: true }));
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rotate-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function config(env: Record<string, string> = {}): Config {
    const r = parseConfig({ BOT_TIMEZONE: 'Asia/Jakarta', BACKUP_AGE_RECIPIENTS: recipient, BACKUP_AGE_IDENTITY_FILE: identityFile, ...env }, { baseDir: dir });
    if (!r.ok) throw new Error(r.problems.join('; '));
    return r.config;
  }

  function deps(c: Config, clock: FixedClock, over: Partial<LogRotateDeps> = {}): LogRotateDeps {
    return {
      config: c,
      ...logArchiveStores(c),
      log: silentLogger,
      clock,
      encryption: () => createArchiveEncryption(c),
      decryption: () => createArchiveDecryption(c),
      lock: (cmd) => acquireLock(c.logs.archiveDir, cmd, clock),
      ...over,
    };
  }

  it("refuses a retention below the plan's 90 days", () => {
    const r = parseConfig({ LOG_RETENTION_DAYS: '30' }, { baseDir: dir });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problems[0]).toMatch(/LOG_RETENTION_DAYS must be at least 90/);
    expect(parseConfig({ LOG_RETENTION_DAYS: '120' }, { baseDir: dir }).ok).toBe(true);
  });

  it('archives only files older than the retention, month by month, across month ends; archives are verifiable and extractable', async () => {
    const c = config();
    const logDir = c.logPath;
    const original = writeLogs(logDir, '2026-06-25', '2026-11-01');
    // 2026-10-01 03:00 in Jakarta is still 2026-09-30 in UTC: the day is BOT_TIMEZONE's.
    const clock = new FixedClock('2026-09-30T20:00:00Z');

    const dry = await rotateLogs(deps(c, clock), { dryRun: true });
    expect(dry.archive_before).toBe('2026-07-03');
    expect(dry.plan).toEqual([
      { month: '2026-06', name: 'logs-2026-06.tar.gz.enc', mode: 'new', files: 12 },
      { month: '2026-07', name: 'logs-2026-07.tar.gz.enc', mode: 'new', files: 4 },
    ]);
    expect(remaining(logDir)).toHaveLength(original.size);

    const first = await rotateLogs(deps(c, clock));
    expect(first.ok).toBe(true);
    expect(first.archives.map((a) => [a.name, a.files_total, a.removed, a.verified, a.offsite])).toEqual([
      ['logs-2026-06.tar.gz.enc', 12, 12, 'decrypted', 'copied'],
      ['logs-2026-07.tar.gz.enc', 4, 4, 'decrypted', 'copied'],
    ]);
    const left = remaining(logDir);
    expect(left[0]).toBe('bot-order/2026-07-03.log');
    // Nothing younger than the retention was removed: every file from 2026-07-03 on is there.
    for (const m of original.keys()) if (m.slice(-14, -4) >= '2026-07-03') expect(left).toContain(m);

    // Read back with the real age CLI and GNU tar, local and offsite copies alike.
    const july = path.join(c.logs.archiveDir, 'logs-2026-07.tar.gz.enc');
    expect(ageTarList(july, identityFile)).toEqual(
      ['bot-order/2026-07-01.log', 'bot-order/2026-07-02.log', 'maintenance/2026-07-01.log', 'maintenance/2026-07-02.log', 'manifest.json'].sort(),
    );
    expect(fs.readFileSync(path.join(c.backup.offsiteDir, c.storeId, 'logs', 'logs-2026-07.tar.gz.enc')).equals(fs.readFileSync(july))).toBe(true);
    expect(execSync(`age --decrypt -i "${identityFile}" "${july}" | tar -xzO bot-order/2026-07-02.log`, { encoding: 'utf8' })).toBe(
      original.get('bot-order/2026-07-02.log'),
    );

    // Next day: one more July day per service is merged into the same monthly archive.
    clock.set('2026-10-01T20:00:00Z');
    const second = await rotateLogs(deps(c, clock));
    expect(second.archives.map((a) => [a.name, a.mode, a.files_added.length, a.files_total])).toEqual([['logs-2026-07.tar.gz.enc', 'merged', 2, 6]]);
    expect(ageTarList(july, identityFile)).toHaveLength(7);

    // A month later, across the month end: the rest of July, then August starts.
    clock.set('2026-11-01T01:00:00Z'); // 2026-11-01 08:00 WIB
    const third = await rotateLogs(deps(c, clock));
    expect(third.archive_before).toBe('2026-08-03');
    expect(third.archives.map((a) => [a.name, a.files_total])).toEqual([
      ['logs-2026-07.tar.gz.enc', 62],
      ['logs-2026-08.tar.gz.enc', 4],
    ]);
    expect(remaining(logDir)[0]).toBe('bot-order/2026-08-03.log');
    expect(remaining(logDir)).toContain('bot-order/2026-11-01.log');

    // Listed with their days, present here and offsite with the same hash.
    const { archives } = await listLogArchives(logArchiveStores(c));
    expect(archives.map((a) => [a.name, a.files, a.first_day, a.last_day, a.local, a.offsite, a.offsite_matches])).toEqual([
      ['logs-2026-08.tar.gz.enc', 4, '2026-08-01', '2026-08-02', true, true, true],
      ['logs-2026-07.tar.gz.enc', 62, '2026-07-01', '2026-07-31', true, true, true],
      ['logs-2026-06.tar.gz.enc', 12, '2026-06-25', '2026-06-30', true, true, true],
    ]);

    // Extract a month: every file comes back byte for byte; extracting again refuses to overwrite.
    const out = path.join(dir, 'restored');
    const extracted = await extractLogArchive(logArchiveStores(c), await createArchiveDecryption(c), '2026-07', out);
    expect(extracted[0]!.files).toHaveLength(62);
    for (const f of extracted[0]!.files) expect(fs.readFileSync(f.path, 'utf8')).toBe(original.get(f.name));
    await expect(extractLogArchive(logArchiveStores(c), await createArchiveDecryption(c), '2026-07', out)).rejects.toMatchObject({ code: 'REFUSED' });

    // Offsite only (the server was lost): still extractable.
    fs.rmSync(c.logs.archiveDir, { recursive: true });
    const out2 = path.join(dir, 'restored2');
    const fromOffsite = await extractLogArchive(
      logArchiveStores(c),
      await createArchiveDecryption(c),
      'logs-2026-06.tar.gz.enc',
      out2,
      (n) => n === 'maintenance/2026-06-30.log',
    );
    expect(fromOffsite[0]!.from).toBe('offsite');
    expect(fs.readFileSync(path.join(out2, 'maintenance/2026-06-30.log'), 'utf8')).toBe(original.get('maintenance/2026-06-30.log'));
  });

  it("never touches today's file, whatever its name says", async () => {
    const c = config();
    const original = writeLogs(c.logPath, '2026-11-24', '2026-11-24');
    const r = await rotateLogs(deps(c, new FixedClock('2026-11-24T03:00:00Z')));
    expect(r.eligible).toEqual([]);
    expect(remaining(c.logPath)).toEqual([...original.keys()].sort());
  });

  it('keeps every file when the archive does not read back right, and the month archive stays as it was', async () => {
    const c = config();
    writeLogs(c.logPath, '2026-07-01', '2026-07-10');
    const clock = new FixedClock('2026-10-05T03:00:00Z'); // archive before 2026-07-07
    await rotateLogs(deps(c, clock));
    const july = path.join(c.logs.archiveDir, 'logs-2026-07.tar.gz.enc');
    const before = fs.readFileSync(july);
    const left = remaining(c.logPath);

    // A disk that returns different bytes than were written (the new archive, read back).
    const real = new LocalDirStorage(c.logs.archiveDir, 'local');
    const flaky: Storage = {
      kind: real.kind,
      description: real.description,
      list: () => real.list(),
      stat: (n) => real.stat(n),
      put: (n, src, o) => real.put(n, src, o),
      writeSmall: (n, d) => real.writeSmall(n, d),
      readSmall: (n) => real.readSmall(n),
      rename: (a, b) => real.rename(a, b),
      remove: (n) => real.remove(n),
      read: async (name: string) => {
        const s = await real.read(name);
        if (!name.endsWith('.new')) return s;
        const { Readable } = await import('node:stream');
        const chunks: Buffer[] = [];
        for await (const ch of s) chunks.push(ch as Buffer);
        const data = Buffer.concat(chunks);
        data[data.length - 40] = (data[data.length - 40] ?? 0) ^ 0xff;
        return Readable.from([data]);
      },
    };
    clock.set('2026-10-09T03:00:00Z');
    await expect(rotateLogs(deps(c, clock, { local: flaky }))).rejects.toBeInstanceOf(IntegrityError);
    expect(remaining(c.logPath)).toEqual(left);
    expect(fs.readFileSync(july).equals(before)).toBe(true);
    expect(fs.readdirSync(c.logs.archiveDir).filter((n) => n.includes('.new'))).toEqual([]);
  });

  it('keeps the files when the offsite copy fails, and says so', async () => {
    const c = config({ BACKUP_OFFSITE_DIR: 'offsite-is-a-file' });
    fs.writeFileSync(path.join(dir, 'offsite-is-a-file'), 'not a folder');
    writeLogs(c.logPath, '2026-07-01', '2026-07-03');
    const r = await rotateLogs(deps(c, new FixedClock('2026-11-24T03:00:00Z')));
    expect(r.ok).toBe(false);
    expect(r.archives[0]).toMatchObject({ offsite: 'failed', removed: 0 });
    expect(remaining(c.logPath)).toHaveLength(6);
    expect(fs.existsSync(path.join(c.logs.archiveDir, 'logs-2026-07.tar.gz.enc'))).toBe(true);
  });

  it('without a key on the host (recipients only), adds a part instead of rewriting the month', async () => {
    const c = config({ BACKUP_AGE_IDENTITY_FILE: '' });
    writeLogs(c.logPath, '2026-07-01', '2026-07-10');
    const clock = new FixedClock('2026-10-05T03:00:00Z');
    const a = await rotateLogs(deps(c, clock));
    expect(a.archives.map((x) => [x.name, x.verified])).toEqual([['logs-2026-07.tar.gz.enc', 'hash']]);
    clock.set('2026-10-08T03:00:00Z');
    const b = await rotateLogs(deps(c, clock));
    expect(b.archives.map((x) => [x.name, x.mode, x.files_total])).toEqual([['logs-2026-07.2.tar.gz.enc', 'part', 6]]);
    expect(ageTarList(path.join(c.logs.archiveDir, 'logs-2026-07.2.tar.gz.enc'), identityFile)).toEqual([
      'bot-order/2026-07-07.log',
      'bot-order/2026-07-08.log',
      'bot-order/2026-07-09.log',
      'maintenance/2026-07-07.log',
      'maintenance/2026-07-08.log',
      'maintenance/2026-07-09.log',
      'manifest.json',
    ]);
    // With the key, a month extracts all its parts.
    const withKey = config();
    const out = await extractLogArchive(logArchiveStores(withKey), await createArchiveDecryption(withKey), '2026-07', path.join(dir, 'x'));
    expect(out.map((r) => [r.archive, r.files.length])).toEqual([
      ['logs-2026-07.tar.gz.enc', 12],
      ['logs-2026-07.2.tar.gz.enc', 6],
    ]);
  });
});
