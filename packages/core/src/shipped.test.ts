import fs from 'node:fs';
import path from 'node:path';
import { isReleaseBuild, shippedPath, shippedVersion } from './shipped.js';

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../../..');

describe('shipped files', () => {
  it('are found in the checkout', () => {
    expect(isReleaseBuild()).toBe(false);
    for (const f of ['migrations', 'envExample', 'releaseNotes'] as const) expect([f, fs.existsSync(shippedPath(f))]).toEqual([f, true]);
    expect(shippedPath('cli')).toBe(path.join(ROOT, 'packages/maintenance-cli/dist/main.js'));
    expect(shippedVersion(new URL('../package.json', import.meta.url))).toMatch(/^\d+\.\d+\.\d+/);
    expect(shippedVersion(new URL('file:///nonexistent/package.json'))).toBe('0.0.0');
  });

  it('are located through shipped.ts only: in the release bundle every import.meta.url is the bundle’s', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && /import\.meta\.(url|dirname|filename)/.test(fs.readFileSync(p, 'utf8'))) {
          offenders.push(path.relative(ROOT, p));
        }
      }
    };
    for (const pkg of ['core', 'maintenance', 'maintenance-cli', 'bot']) walk(path.join(ROOT, 'packages', pkg, 'src'));
    // The two version lookups pass their package.json to shippedVersion, which ignores it in a release.
    expect(offenders.sort()).toEqual(['packages/bot/src/app.ts', 'packages/core/src/shipped.ts', 'packages/maintenance-cli/src/cli/version.ts']);
  });
});
