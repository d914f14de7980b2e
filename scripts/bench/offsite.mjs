#!/usr/bin/env node
// pnpm bench:offsite [--size-mb 200] [--runs 3]
//
// Offsite copy to an rclone remote, on real `rclone serve sftp` and `rclone serve webdav` servers on
// 127.0.0.1: a bare `rclone copyto` of a file against what `backup create --offsite` does with it
// (RcloneStorage.put: stream into `rclone rcat` under a temporary name, size check, `moveto`; then
// read back through `rclone cat` and hash). Medians and the Node process's peak RSS. Prints
// figures; asserts nothing. Loopback only: a real uplink is the limit in production.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashObject, RcloneStorage } from '../../packages/maintenance/dist/index.js';
import { startRcloneServer } from '../../packages/test-utils/dist/index.js';
import { machine, median, option } from './common.mjs';

const sizeMb = option('size-mb', 200);
const runs = Math.max(1, option('runs', 3));
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-offsite-'));
const file = path.join(root, 'archive.bin');
const fd = fs.openSync(file, 'w');
for (let i = 0; i < sizeMb; i++) fs.writeSync(fd, randomBytes(1 << 20)); // like an encrypted archive: incompressible
fs.closeSync(fd);

const secs = (t0) => (performance.now() - t0) / 1000;
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);

console.log(`offsite copy of ${sizeMb} MiB, ${runs} runs each, ${machine()}, ${execFileSync('rclone', ['version']).toString().split('\n')[0]}\n`);
try {
  for (const protocol of ['sftp', 'webdav']) {
    const srv = await startRcloneServer({ protocol, dir: path.join(root, protocol), stateDir: path.join(root, `${protocol}-state`) });
    const env = { ...process.env, ...srv.env, RCLONE_LOG_LEVEL: 'ERROR' };
    const bare = [];
    const put = [];
    const back = [];
    try {
      for (let i = 0; i < runs; i++) {
        let t0 = performance.now();
        execFileSync('rclone', ['copyto', file, `${srv.remoteName}:bare/archive-${i}.bin`], { env });
        bare.push(secs(t0));
        const s = new RcloneStorage({ remote: `${srv.remoteName}:ours`, env: srv.env });
        t0 = performance.now();
        await s.put(`archive-${i}.bin`, fs.createReadStream(file, { highWaterMark: 1 << 20 }));
        put.push(secs(t0));
        t0 = performance.now();
        await hashObject(s, `archive-${i}.bin`);
        back.push(secs(t0));
      }
    } finally {
      await srv.stop();
    }
    const rate = (s) => `${(sizeMb / s).toFixed(0)} MiB/s`;
    console.log(`${protocol.padEnd(6)} bare rclone copyto ${median(bare).toFixed(2)} s (${rate(median(bare))})`);
    console.log(`${''.padEnd(6)} botctl put         ${median(put).toFixed(2)} s (${rate(median(put))}), runs ${put.map((x) => x.toFixed(2)).join(' / ')}`);
    console.log(`${''.padEnd(6)} read back + hash   ${median(back).toFixed(2)} s (${rate(median(back))})\n`);
  }
  console.log(`node peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB (the archive is streamed, never held)`);
} finally {
  clearInterval(sampler);
  fs.rmSync(root, { recursive: true, force: true });
}
