import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { openBlockPipe } from './pipe-reader.js';

// The built module (pnpm test builds first): the probe below runs in a plain Node process.
const dist = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist');

/** Runs `sh -c script` with its stdout on the pipe's write end. */
function writer(writeFd: number, script: string, env: NodeJS.ProcessEnv = {}) {
  const child = spawn('sh', ['-c', script], { stdio: ['ignore', writeFd, 'inherit'], env: { ...process.env, ...env } });
  return new Promise<number | string | null>((resolve) => child.once('close', (code, signal) => resolve(signal ?? code)));
}

describe('openBlockPipe (how pg_dump output is read)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pipe-reader-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('yields whole blocks and a short last one, byte for byte what the writer wrote, and reuses released blocks', async () => {
    const data = randomBytes(5 * 65536 + 1234);
    const file = path.join(dir, 'data.bin');
    fs.writeFileSync(file, data);
    const pipe = await openBlockPipe({ blockSize: 65536, ahead: 2 });
    // Small writes, as pg_dump makes them.
    const done = writer(pipe.writeFd, `dd if="${file}" bs=4000 status=none`);
    pipe.closeWriteEnd();
    const sizes: number[] = [];
    const hash = createHash('sha256');
    const seen = new Set<Buffer>();
    let reused = 0;
    for await (const block of pipe.blocks) {
      sizes.push(block.length);
      hash.update(block);
      if (seen.has(block)) reused++;
      seen.add(block);
      pipe.release(block);
    }
    expect(await done).toBe(0);
    expect(sizes).toEqual([65536, 65536, 65536, 65536, 65536, 1234]);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    expect(reused).toBeGreaterThan(0);
  });

  it('a block kept by the consumer is never written over', async () => {
    const pipe = await openBlockPipe({ blockSize: 4096, ahead: 1 });
    const done = writer(pipe.writeFd, 'for i in 1 2 3 4 5 6 7 8; do head -c 4096 /dev/zero | tr "\\0" "$i"; done');
    pipe.closeWriteEnd();
    const kept: Buffer[] = [];
    for await (const block of pipe.blocks) kept.push(block); // never released
    expect(await done).toBe(0);
    expect(kept.map((b) => b.toString('latin1', 0, 1) + b.toString('latin1', 4095))).toEqual(['11', '22', '33', '44', '55', '66', '77', '88']);
  });

  it('hands over what a slow writer wrote within flushMs, so a stall watchdog sees it alive', async () => {
    const pipe = await openBlockPipe({ blockSize: 1 << 20, flushMs: 100 });
    const done = writer(pipe.writeFd, 'printf first; sleep 1; printf second');
    pipe.closeWriteEnd();
    const t0 = Date.now();
    const got: { text: string; at: number }[] = [];
    for await (const block of pipe.blocks) got.push({ text: block.toString(), at: Date.now() - t0 });
    expect(await done).toBe(0);
    expect(got.map((g) => g.text).join('')).toBe('firstsecond');
    expect(got[0]!.text).toBe('first');
    expect(got[0]!.at).toBeLessThan(800);
  });

  it('destroyed before the writer finished: reading fails, it never looks like a clean end', async () => {
    const pipe = await openBlockPipe({ blockSize: 1 << 20, flushMs: 50 });
    const done = writer(pipe.writeFd, 'printf partial; sleep 1; printf more');
    pipe.closeWriteEnd();
    const read = (async () => {
      for await (const _ of pipe.blocks) pipe.destroy();
    })();
    await expect(read).rejects.toThrow(/closed before its writer finished/);
    // The writer is not left blocked: it got EPIPE (SIGPIPE) writing the rest.
    expect(await done).toBe('SIGPIPE');
  });

  it('leaves module resolution through symlinks intact (nodejs/node#51142: a stat of the FIFO broke it)', () => {
    // In a fresh process, as botctl runs: open a pipe, then load a package through pnpm's
    // symlinked node_modules, whose own dependencies resolve only via the real path.
    const script = `
      const { openBlockPipe } = await import(${JSON.stringify(path.join(dist, 'util', 'pipe-reader.js'))});
      const pipe = await openBlockPipe({ blockSize: 4096 });
      await import('age-encryption');
      pipe.destroy();
      console.log('loaded');
    `;
    const probe = path.join(dist, `pipe-probe-${process.pid}.mjs`);
    fs.writeFileSync(probe, script);
    try {
      expect(execFileSync(process.execPath, [probe], { encoding: 'utf8' }).trim()).toBe('loaded');
    } finally {
      fs.rmSync(probe, { force: true });
    }
  });
});
