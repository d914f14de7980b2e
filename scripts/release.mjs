#!/usr/bin/env node
// `pnpm release [--out DIR]`: builds release/botctl-<version>-linux-x64.tar.gz and its .sha256.
//
// The tree inside is self-contained and needs only Node.js >= 20.19 (no pnpm, no node_modules, no
// checkout): the CLI and the bot are bundled by esbuild into one JavaScript file each
// (lib/botctl.mjs, lib/bot.mjs, every dependency inlined, the lazily loaded commands too), beside
// bin/ (the two commands), share/ (migrations, man page, shell completions), scripts/ (the cron
// and systemd helpers), deploy/, docs/, .env.example, install.sh, README.md, LICENSE and
// THIRD_PARTY_LICENSES. Why JavaScript bundles and not a Node single executable application:
// see docs/operations.md ("Install on a server").
//
// Reproducible: files sorted, owner 0, mtimes from SOURCE_DATE_EPOCH (default: the last commit's
// time), gzip without a name or time, so the same commit gives the same .tar.gz.
// Needs `pnpm build` first (it bundles packages/*/dist); `pnpm release` does both.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({ options: { out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  process.stdout.write('usage: node scripts/release.mjs [--out DIR]   (default DIR: release/)\n');
  process.exit(0);
}
const outDir = path.resolve(values.out ?? path.join(ROOT, 'release'));
const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'packages/maintenance-cli/package.json'), 'utf8')).version;
const name = `botctl-${version}-linux-x64`;

const fail = (message, hint) => {
  process.stderr.write(`release: error: ${message}\n${hint ? `hint: ${hint}\n` : ''}`);
  process.exit(1);
};
for (const entry of ['packages/maintenance-cli/dist/main.js', 'packages/bot/dist/main.js']) {
  if (!fs.existsSync(path.join(ROOT, entry))) fail(`${entry} is missing`, 'run `pnpm release` (it builds first), or `pnpm build`');
}

const epoch = Number(
  process.env.SOURCE_DATE_EPOCH ??
    (() => {
      try {
        return execFileSync('git', ['log', '-1', '--format=%ct'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      } catch {
        return String(Math.floor(Date.now() / 1000));
      }
    })(),
);

fs.mkdirSync(outDir, { recursive: true });
const stage = fs.mkdtempSync(path.join(outDir, '.stage-'));
const tree = path.join(stage, name);
try {
  fs.mkdirSync(path.join(tree, 'lib'), { recursive: true });

  // 1. The two bundles. ESM, so a CommonJS dependency's require() of a Node built-in needs a
  // require of its own; BOTCTL_RELEASE tells packages/core/src/shipped.ts where the files are.
  const licenses = new Map();
  for (const [entry, out] of [
    ['packages/maintenance-cli/dist/main.js', 'lib/botctl.mjs'],
    ['packages/bot/dist/main.js', 'lib/bot.mjs'],
  ]) {
    const result = await build({
      entryPoints: [path.join(ROOT, entry)],
      outfile: path.join(tree, out),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20.19',
      define: { BOTCTL_RELEASE: JSON.stringify({ version }) },
      banner: { js: "import { createRequire as __botctlRequire } from 'node:module';\nconst require = __botctlRequire(import.meta.url);" },
      legalComments: 'none',
      metafile: true,
      logLevel: 'warning',
    });
    for (const input of Object.keys(result.metafile.inputs)) {
      const m = /^(.*node_modules\/(?:\.pnpm\/[^/]+\/node_modules\/)?((?:@[^/]+\/)?[^/]+))\//.exec(input);
      if (m) licenses.set(m[2], path.resolve(ROOT, m[1]));
    }
    fs.chmodSync(path.join(tree, out), 0o755);
  }

  // 2. The commands: bin/botctl and bin/bot run the bundles (relative links, so the tree can live anywhere).
  fs.mkdirSync(path.join(tree, 'bin'));
  fs.symlinkSync('../lib/botctl.mjs', path.join(tree, 'bin', 'botctl'));
  fs.symlinkSync('../lib/bot.mjs', path.join(tree, 'bin', 'bot'));

  // 3. Files shipped beside the code (packages/core/src/shipped.ts says where each is looked for).
  const copy = (from, to = from) => fs.cpSync(path.join(ROOT, from), path.join(tree, to), { recursive: true, verbatimSymlinks: true });
  copy('packages/core/migrations', 'share/migrations');
  for (const f of ['deploy', 'docs', '.env.example', 'README.md', 'LICENSE']) copy(f);
  fs.mkdirSync(path.join(tree, 'scripts', 'lib'), { recursive: true });
  for (const f of ['cron_backup.sh', 'cron_healthcheck.sh', 'systemd_on_failure.sh', 'rolling_restart.sh', 'install.sh', 'lib/tenant.sh']) copy(`scripts/${f}`);
  fs.symlinkSync('scripts/install.sh', path.join(tree, 'install.sh'));
  fs.writeFileSync(
    path.join(tree, 'package.json'),
    `${JSON.stringify({ name: 'botctl', version, private: true, type: 'module', engines: { node: '>=20.19' }, bin: { botctl: 'lib/botctl.mjs', bot: 'lib/bot.mjs' } }, null, 2)}\n`,
  );

  // 4. The man page and completions, written by the bundle itself (which proves it runs).
  const botctl = (args) =>
    execFileSync(process.execPath, ['--', path.join(tree, 'lib/botctl.mjs'), ...args], { encoding: 'utf8', env: { PATH: process.env.PATH, NO_COLOR: '1' } });
  if (botctl(['--version']).trim() !== version) fail('the bundled botctl does not report its version');
  fs.mkdirSync(path.join(tree, 'share/man/man1'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'share/man/man1/botctl.1'), botctl(['man']));
  fs.mkdirSync(path.join(tree, 'share/completions'), { recursive: true });
  for (const [shell, file] of [
    ['bash', 'botctl.bash'],
    ['zsh', '_botctl'],
    ['fish', 'botctl.fish'],
  ])
    fs.writeFileSync(path.join(tree, 'share/completions', file), botctl(['completion', shell]));

  // 5. The licences of everything bundled.
  const texts = [...licenses.entries()]
    .filter(([pkg]) => !pkg.startsWith('@botctl/'))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([pkg, dir]) => {
      const meta = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
      const file = fs.readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.|$)/i.test(f));
      const text = file ? fs.readFileSync(path.join(dir, file), 'utf8').trim() : `License: ${meta.license ?? 'see the package'}`;
      return `${pkg}@${meta.version} (${meta.license ?? 'unknown'})\n\n${text}\n`;
    });
  fs.writeFileSync(path.join(tree, 'THIRD_PARTY_LICENSES'), `Bundled into lib/botctl.mjs and lib/bot.mjs:\n\n${texts.join(`\n${'-'.repeat(72)}\n\n`)}`);

  // 6. The tarball (GNU tar, reproducible), written under a temporary name and renamed.
  const tarball = path.join(outDir, `${name}.tar.gz`);
  const partial = path.join(stage, `${name}.tar.gz`);
  const tar = execFileSync(
    'tar',
    ['--sort=name', '--owner=0', '--group=0', '--numeric-owner', `--mtime=@${epoch}`, '--format=gnu', '-C', stage, '-cf', '-', name],
    { maxBuffer: 1 << 30 },
  );
  fs.writeFileSync(partial, execFileSync('gzip', ['-n', '-9'], { input: tar, maxBuffer: 1 << 30 }));
  const sha = crypto.createHash('sha256').update(fs.readFileSync(partial)).digest('hex');
  fs.renameSync(partial, tarball);
  fs.writeFileSync(`${tarball}.sha256`, `${sha}  ${path.basename(tarball)}\n`);
  process.stdout.write(`${path.relative(process.cwd(), tarball) || tarball}\n${sha}\n`);
} finally {
  fs.rmSync(stage, { recursive: true, force: true });
}
