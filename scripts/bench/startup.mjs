// How long botctl takes to start: `--version` and `--help` against a bare `node -e 0`, and a
// command's own --help (which loads that command's modules). Interleaved runs, medians, ratios.
// Usage: pnpm bench:startup [--runs 30]
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, option } from './common.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const BOTCTL = path.resolve(here, '../../bin/botctl');
const runs = option('runs', 30);
const cases = [
  ['node -e 0', ['-e', '0']],
  ['botctl --version', [BOTCTL, '--version']],
  ['botctl --help', [BOTCTL, '--help']],
  ['botctl backup --help', [BOTCTL, 'backup', '--help']],
];
const times = new Map(cases.map(([name]) => [name, []]));
for (let i = 0; i < runs; i++) {
  for (const [name, args] of cases) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    if (r.status !== 0) throw new Error(`${name} exited ${r.status}: ${r.stderr}`);
    times.get(name).push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
}
const base = median(times.get('node -e 0'));
console.log(`Node ${process.version}, ${runs} interleaved runs each, median wall time:`);
for (const [name] of cases) {
  const m = median(times.get(name));
  console.log(`  ${name.padEnd(22)} ${m.toFixed(0).padStart(5)} ms  ${(m / base).toFixed(2)}× node -e 0`);
}
