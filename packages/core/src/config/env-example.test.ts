import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseEnvFile } from './env-file.js';
import { envSchema, parseConfig } from './schema.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const example = fs.readFileSync(`${ROOT}.env.example`, 'utf8');

describe('.env.example', () => {
  it('is what the schema and docs/configuration.md make (the generator checks they agree)', () => {
    // Throws (exit 1, with the reason on stderr) when the file or the docs drifted from the schema.
    execFileSync(process.execPath, [`${ROOT}scripts/gen-env-example.mjs`, '--check'], { stdio: 'pipe' });
  });

  it('names every setting once', () => {
    const named = [...example.matchAll(/^#?([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]);
    expect(named.sort()).toEqual(Object.keys(envSchema.shape).sort());
  });

  it('with every default uncommented, reads as the same configuration as an empty file', () => {
    const uncommented = example.replace(/^#([A-Z][A-Z0-9_]*=)/gm, '$1');
    const parsed = parseEnvFile(uncommented, '.env.example');
    expect(parsed.problems).toEqual([]);
    const a = parseConfig(parsed.values, { baseDir: '/srv/t' });
    const b = parseConfig({}, { baseDir: '/srv/t' });
    if (!a.ok || !b.ok) throw new Error(`${a.ok ? '' : a.problems.join('; ')} ${b.ok ? '' : b.problems.join('; ')}`);
    expect(JSON.stringify(a.config)).toBe(JSON.stringify(b.config));
  });
});
