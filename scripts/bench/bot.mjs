#!/usr/bin/env node
// pnpm bench:bot [--size-mb 1024] [--rounds 2] [--interval-ms 100] [--idle-seconds 20] [--nice 19,0]
//
// The shop's reply time while a backup runs. On the benchmark shop database, the real bot talks
// to the local Bot API fake; the script sends `/start` from a new buyer every --interval-ms and
// times each until the bot's sendMessage reaches the fake (both clocks in this process). In each
// round, in turn: idle for --idle-seconds; during `botctl backup create` with each BACKUP_NICE of
// --nice (default: 19, the default, then 0, all at normal priority), all with
// BACKUP_COMPRESSION as --compression says (default zstd). Prints p50/p99/max per phase and the
// ratio of the p99s to idle. A benchmark prints figures; it asserts nothing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FieldCipher } from '../../packages/core/dist/index.js';
import { FAKE_OWNER_TOKEN, FAKE_SHOP_TOKEN, startBotProcess, startFakeBotApi, startFakeGateway } from '../../packages/test-utils/dist/index.js';
import { benchSetup, machine, MAIN, option } from './common.mjs';

const sizeMb = option('size-mb', 1024);
const rounds = Math.max(1, option('rounds', 2));
const intervalMs = option('interval-ms', 100);
const idleSeconds = option('idle-seconds', 20);
const compressionArg = process.argv.indexOf('--compression');
const compression = compressionArg >= 0 ? process.argv[compressionArg + 1] : 'zstd';
const niceArg = process.argv.indexOf('--nice');
const nices = (niceArg >= 0 ? process.argv[niceArg + 1] : '19,0').split(',').map(Number);

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

const bench = await benchSetup(sizeMb);
const api = await startFakeBotApi({ tokens: [FAKE_SHOP_TOKEN, FAKE_OWNER_TOKEN] });
const gw = await startFakeGateway();
let bot;
try {
  fs.appendFileSync(
    bench.envFile,
    [
      `TELEGRAM_BOT_TOKEN=${FAKE_SHOP_TOKEN}`,
      `OWNER_BOT_TOKEN=${FAKE_OWNER_TOKEN}`,
      'TELEGRAM_OWNER_IDS=7100',
      `TELEGRAM_API_ROOT=${api.url}`,
      `PAKASIR_BASE_URL=${gw.url}`,
      `PAKASIR_PROJECT_SLUG=${gw.project}`,
      `PAKASIR_API_KEY=${gw.apiKey}`,
      `DATA_ENCRYPTION_KEY=${FieldCipher.generateKey()}`,
      'BOT_HTTP_PORT=0',
      'ENABLE_AUTO_HEALTHCHECK=false',
      'ENABLE_AUTO_BACKUP=false',
      `BACKUP_COMPRESSION=${compression}`,
      '',
    ].join('\n'),
  );
  bot = await startBotProcess({ envFile: bench.envFile, cwd: bench.tenant, startTimeoutMs: 60_000 });

  let nextBuyer = 900_000;
  let nextMessage = 1;
  /** One /start from a new buyer; resolves with the ms until the bot's reply reached the fake. */
  const ask = async () => {
    const chat = nextBuyer++;
    const t0 = Date.now();
    api.pushUpdate({
      message: {
        message_id: nextMessage++,
        date: Math.floor(t0 / 1000),
        chat: { id: chat, type: 'private' },
        from: { id: chat, is_bot: false, first_name: `Pembeli${chat}` },
        text: '/start',
        entities: [{ type: 'bot_command', offset: 0, length: 6 }],
      },
    });
    const reply = await api.waitForCall((c) => c.method === 'sendMessage' && Number(c.params.chat_id) === chat, 60_000);
    return reply.at - t0;
  };
  /** Sends /start every intervalMs until `until` resolves (or for `seconds`), one at a time. */
  const sample = async (until) => {
    const times = [];
    let done = false;
    until.then(
      () => (done = true),
      () => (done = true),
    );
    while (!done) {
      const started = Date.now();
      times.push(await ask());
      const rest = intervalMs - (Date.now() - started);
      if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    }
    return times;
  };
  const backup = (nice) =>
    new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--', MAIN, '--env-file', bench.envFile, 'backup', 'create', '--no-logs', '--json'], {
        env: { ...process.env, BACKUP_NICE: String(nice) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const t0 = Date.now();
      let err = '';
      child.stderr.on('data', (d) => (err += d));
      child.stdout.resume();
      child.on('close', (code) => {
        fs.rmSync(path.join(bench.tenant, 'backups'), { recursive: true, force: true });
        if (code === 0) resolve((Date.now() - t0) / 1000);
        else reject(new Error(`backup create exited ${code}: ${err}`));
      });
    });

  // Warm-up: the bot's first replies (connections, JIT) are not a figure.
  for (let i = 0; i < 20; i++) await ask();

  const phases = { idle: [], ...Object.fromEntries(nices.map((n) => [`backup, BACKUP_NICE=${n}`, []])) };
  const durations = Object.fromEntries(nices.map((n) => [`backup, BACKUP_NICE=${n}`, []]));
  for (let r = 1; r <= rounds; r++) {
    phases.idle.push(...(await sample(new Promise((res) => setTimeout(res, idleSeconds * 1000)))));
    for (const nice of nices) {
      const key = `backup, BACKUP_NICE=${nice}`;
      const run = backup(nice);
      phases[key].push(...(await sample(run)));
      durations[key].push(await run);
    }
    console.log(`round ${r}: done`);
  }

  console.log(`\nResults (/start every ${intervalMs} ms; database ${sizeMb} MiB asked, BACKUP_COMPRESSION=${compression}; ${machine()})`);
  console.log('  phase                      replies  p50      p99      max      p99 × idle  backup');
  const idleP99 = quantile(phases.idle, 0.99);
  for (const [name, xs] of Object.entries(phases)) {
    const d = durations[name];
    console.log(
      `  ${name.padEnd(26)} ${String(xs.length).padEnd(8)} ${`${quantile(xs, 0.5)} ms`.padEnd(8)} ${`${quantile(xs, 0.99)} ms`.padEnd(8)} ${`${Math.max(...xs)} ms`.padEnd(8)} ${(quantile(xs, 0.99) / idleP99).toFixed(2).padEnd(11)} ${d ? `${d.map((s) => s.toFixed(1)).join(', ')} s` : ''}`,
    );
  }
  console.log('  target: p99 during a backup ≤ 2× idle');
} finally {
  await bot?.stop('SIGTERM');
  await api.close();
  await gw.close();
  await bench.destroy();
}
