// Writes .env.example: every setting of the config schema (packages/core), with the schema's
// default and the first sentence of its meaning from docs/configuration.md, grouped as there.
// The schema decides which settings exist and their defaults; the docs word them. Fails when the
// two disagree (a setting in one and not the other, or a documented default that is not the
// schema's). `--check` compares with the committed file instead of writing it.
// Usage: pnpm build && node scripts/gen-env-example.mjs [--check]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { envSchema, SECRET_SETTINGS } from '../packages/core/dist/config/schema.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const OUT = path.join(root, '.env.example');
const DOC = path.join(root, 'docs/configuration.md');

/** The schema's default of a setting, as an env file would write it ('' when there is none). */
function schemaDefault(type) {
  const r = type.safeParse(undefined);
  if (!r.success || r.data === undefined) return '';
  if (Array.isArray(r.data)) return r.data.join(',');
  return String(r.data);
}

/** The rows of the settings tables in docs/configuration.md, by section. */
function documented() {
  const groups = [];
  let current;
  for (const line of fs.readFileSync(DOC, 'utf8').split('\n')) {
    const h = /^## (.+)$/.exec(line);
    if (h) {
      current = { title: h[1], rows: [] };
      groups.push(current);
      continue;
    }
    const m = /^\| `([A-Z][A-Z0-9_]*)`( 🔒)?\s*\| ([^|]*)\| (.*)\|\s*$/.exec(line);
    if (m && current) current.rows.push({ key: m[1], secret: Boolean(m[2]), def: m[3].trim(), meaning: m[4].trim() });
  }
  return groups.filter((g) => g.rows.length > 0);
}

/** The first sentence, without markdown, for a one-line comment. */
function oneLine(meaning) {
  const plain = meaning
    .replace(/\*\*/g, '')
    .replace(/`([^`]*)`/g, '$1')
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1');
  const cut = plain.search(/\. (?=[A-Z`(])|: (?=[a-z].{60})/);
  return (cut > 0 ? plain.slice(0, cut) : plain).replace(/\.$/, '');
}

// '—' is no default; an _italic_ one is computed (e.g. _derived_): neither is written.
/**
 * What a running shop needs set: written as `KEY=` to fill in (`botctl init tenant` lists them);
 * every other setting is commented out, with its default when it has one.
 */
const NEEDED = [
  'DATABASE_URL',
  'TELEGRAM_BOT_TOKEN',
  'TELEGRAM_OWNER_IDS',
  'OWNER_BOT_TOKEN',
  'DATA_ENCRYPTION_KEY',
  'BACKUP_AGE_RECIPIENTS',
  'PAKASIR_PROJECT_SLUG',
  'PAKASIR_API_KEY',
];

const docDefault = (d) => (d === '—' || /^_.*_$/.test(d) ? '' : d.replace(/^`|`$/g, ''));

const keys = Object.keys(envSchema.shape);
const groups = documented();
const problems = [];
const seen = new Set();
for (const g of groups) {
  for (const r of g.rows) {
    seen.add(r.key);
    if (!keys.includes(r.key)) problems.push(`${r.key} is documented but not in the schema`);
    else if (docDefault(r.def) !== schemaDefault(envSchema.shape[r.key]))
      problems.push(`${r.key}: documented default "${docDefault(r.def)}", schema default "${schemaDefault(envSchema.shape[r.key])}"`);
    if (r.secret !== SECRET_SETTINGS.includes(r.key)) problems.push(`${r.key}: the 🔒 mark in the docs and SECRET_SETTINGS disagree`);
  }
}
for (const k of keys) if (!seen.has(k)) problems.push(`${k} is in the schema but not documented in docs/configuration.md`);
if (problems.length) {
  process.stderr.write(`gen-env-example: the schema and docs/configuration.md disagree:\n${problems.map((p) => `  - ${p}`).join('\n')}\n`);
  process.exit(1);
}

const out = [
  '# Every setting of botctl and the shop bot, with its default. Generated from the config schema',
  '# and docs/configuration.md by `node scripts/gen-env-example.mjs`; do not edit by hand.',
  '# Lines without # are what a shop needs: fill them in. A commented line shows the default (or',
  '# none); uncomment it to change it. An empty value means "not set".',
  '# Secrets (marked "secret") never go into a command line: keep this file 0600.',
];
for (const g of groups) {
  out.push('', `# ── ${g.title} ${'─'.repeat(Math.max(3, 92 - g.title.length))}`);
  for (const r of g.rows) {
    const def = schemaDefault(envSchema.shape[r.key]);
    out.push('', `# ${oneLine(r.meaning)}${r.secret ? ' (secret)' : ''}`);
    out.push(NEEDED.includes(r.key) ? `${r.key}=` : `#${r.key}=${/[\s#"'$]/.test(def) ? `"${def}"` : def}`);
  }
}
const text = `${out.join('\n')}\n`;
if (process.argv.includes('--check')) {
  const have = fs.existsSync(OUT) ? fs.readFileSync(OUT, 'utf8') : '';
  if (have !== text) {
    process.stderr.write('gen-env-example: .env.example is not what the schema and docs make; run `node scripts/gen-env-example.mjs`\n');
    process.exit(1);
  }
} else fs.writeFileSync(OUT, text);
