import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { LEVEL_STORED, LEVEL_TEXT, splitDumpParts, TarWriter } from './archive-writer.js';
import { readTar, unsafeMemberName } from './tar-reader.js';
import { prefetch } from '../util/async.js';

async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe('TarWriter', () => {
  it('writes a gzip tar that GNU tar lists and extracts, switching compression per member', async () => {
    const w = new TarWriter('gzip', LEVEL_STORED);
    const out = collect(w.output);
    const random = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7919) % 251));
    await w.addEntry('database.dump.0000', random.length, [random.subarray(0, 40_000), random.subarray(40_000)]);
    await w.setLevel(LEVEL_TEXT);
    const long = `logs/${'very-long-folder-name/'.repeat(6)}2026-11-24.log`;
    await w.addEntry(long, 11, [Buffer.from('hello world')]);
    await w.addEntry('manifest.json', 2, [Buffer.from('{}')]);
    await w.finish();
    const gz = await out;

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tar-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.tar.gz'), gz);
      const listing = execFileSync('tar', ['-tzf', path.join(dir, 'a.tar.gz')])
        .toString()
        .trim()
        .split('\n');
      expect(listing).toEqual(['database.dump.0000', long, 'manifest.json']);
      execFileSync('tar', ['-xzf', 'a.tar.gz'], { cwd: dir });
      expect(fs.readFileSync(path.join(dir, 'database.dump.0000')).equals(random)).toBe(true);
      expect(fs.readFileSync(path.join(dir, long), 'utf8')).toBe('hello world');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes one zstd frame that zstd -d | tar reads, the members at one level', async () => {
    const w = new TarWriter('zstd', 3);
    const out = collect(w.output);
    const text = Buffer.from('order 1 paid\n'.repeat(20_000));
    await w.addEntry('database.dump.0000', text.length, [text]);
    await w.setLevel(LEVEL_TEXT); // no-op with zstd
    await w.addEntry('manifest.json', 2, [Buffer.from('{}')]);
    await w.finish();
    const zst = await out;
    expect(zst.subarray(0, 4).toString('hex')).toBe('28b52ffd');
    expect(zst.length).toBeLessThan(text.length / 20);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tar-'));
    try {
      fs.writeFileSync(path.join(dir, 'a.tar.zst'), zst);
      const tarBytes = execFileSync('zstd', ['-d', '-c', path.join(dir, 'a.tar.zst')]);
      fs.writeFileSync(path.join(dir, 'a.tar'), tarBytes);
      expect(
        execFileSync('tar', ['-tf', path.join(dir, 'a.tar')])
          .toString()
          .trim()
          .split('\n'),
      ).toEqual(['database.dump.0000', 'manifest.json']);
      execFileSync('tar', ['-xf', 'a.tar'], { cwd: dir });
      expect(fs.readFileSync(path.join(dir, 'database.dump.0000')).equals(text)).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ends a zstd output with an error, never a clean end, when the compressor is stopped', async () => {
    const w = new TarWriter('zstd', 3);
    const out = collect(w.output);
    await w.addEntry('a', 3, [Buffer.from('abc')]);
    w.destroy(new Error('pg_dump failed'));
    await expect(out).rejects.toThrow(/pg_dump failed/);
  });

  it('refuses data beyond the declared size and pads a short member', async () => {
    const w = new TarWriter();
    collect(w.output).catch(() => undefined);
    const short = await w.addEntry('a', 10, [Buffer.from('abc')]);
    expect(short.short).toBe(7);
    expect(short.sha256).toBe(
      createHash('sha256')
        .update(Buffer.concat([Buffer.from('abc'), Buffer.alloc(7)]))
        .digest('hex'),
    );
    await expect(w.addEntry('b', 2, [Buffer.from('abc')])).rejects.toThrow(/grew beyond/);
  });
});

describe('readTar', () => {
  it('reads back what the writer wrote, member by member', async () => {
    const w = new TarWriter();
    const gz = collect(w.output);
    await w.addEntry('one', 3, [Buffer.from('abc')]);
    await w.addEntry(`config/${'x'.repeat(150)}`, 0, []);
    await w.addEntry('two', 600, [Buffer.alloc(600, 9)]);
    await w.finish();
    const tarStream = Readable.from([zlib.gunzipSync(await gz)]);
    const seen: [string, number][] = [];
    for await (const e of readTar(tarStream)) {
      if (e.name === 'two') {
        let n = 0;
        for await (const c of e.body) n += c.length;
        seen.push([e.name, n]);
      } else seen.push([e.name, e.size]); // body left unread: skipped by the reader
    }
    expect(seen).toEqual([
      ['one', 3],
      [`config/${'x'.repeat(150)}`, 0],
      ['two', 600],
    ]);
  });

  it('reports a stream without the end-of-archive marker as truncated', async () => {
    const w = new TarWriter();
    const gz = collect(w.output);
    await w.addEntry('one', 3, [Buffer.from('abc')]);
    await w.finish();
    const tar = zlib.gunzipSync(await gz);
    const cut = tar.subarray(0, 1024);
    await expect(async () => {
      for await (const _ of readTar(Readable.from([cut]))) {
        // walk
      }
    }).rejects.toThrow(/truncated|end-of-archive/);
  });

  it.each([
    ['/etc/passwd', 'absolute path'],
    ['../../root/.ssh/authorized_keys', "'..' in path"],
    ['config/../../x', "'..' in path"],
    ['a\\b', 'backslash in name'],
  ])('calls %s unsafe (%s)', (name, why) => {
    expect(unsafeMemberName(name)).toBe(why);
  });

  it('accepts ordinary member names', () => {
    expect(unsafeMemberName('logs/bot-order/2026-11-24.log')).toBeUndefined();
  });
});

describe('splitDumpParts', () => {
  async function* chunks(...bufs: Buffer[]) {
    for (const b of bufs) yield b;
  }

  it('cuts the dump into fixed-size parts, the last one shorter', async () => {
    const data = Buffer.concat([Buffer.from('PGDMP'), Buffer.alloc(25, 1)]);
    const parts = [];
    for await (const p of splitDumpParts(chunks(data.subarray(0, 7), data.subarray(7)), 10)) parts.push(p.data);
    expect(parts.map((p) => p.length)).toEqual([10, 10, 10]);
    expect(Buffer.concat(parts).equals(data)).toBe(true);
  });

  it('refuses output that is not a custom-format dump', async () => {
    await expect(async () => {
      for await (const _ of splitDumpParts(chunks(Buffer.from('garbage garbage')), 10)) {
        // consume
      }
    }).rejects.toThrow(/not a custom-format dump/);
  });

  it('refuses empty output', async () => {
    await expect(async () => {
      for await (const _ of splitDumpParts(chunks(), 10)) {
        // consume
      }
    }).rejects.toThrow(/without writing anything/);
  });
});

describe('prefetch', () => {
  it('keeps order and runs the producer ahead by a bounded number of items', async () => {
    let produced = 0;
    async function* source() {
      for (let i = 0; i < 5; i++) {
        produced++;
        yield i;
      }
    }
    const seen: number[] = [];
    for await (const v of prefetch(source(), 2)) {
      await new Promise((r) => setTimeout(r, 5));
      expect(produced - v).toBeLessThanOrEqual(3);
      seen.push(v);
    }
    expect(seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('passes the producer error to the consumer', async () => {
    async function* source() {
      yield 1;
      throw new Error('producer failed');
    }
    await expect(async () => {
      for await (const _ of prefetch(source(), 2)) {
        // consume
      }
    }).rejects.toThrow('producer failed');
  });
});
