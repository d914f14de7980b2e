import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const FAULTS = path.join(ROOT, 'packages', 'maintenance-cli', 'test', 'faults');

describe('docs/reliability.md', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'reliability.md'), 'utf8');
  const cited = [...doc.matchAll(/`([a-z-]+) › ([^`]+)`/g)].map((m) => ({ file: m[1]!, name: m[2]! }));

  it('names only tests that exist in the fault suite', () => {
    expect(cited.length).toBeGreaterThan(40);
    const missing = cited.filter(({ file, name }) => {
      const f = path.join(FAULTS, `${file}.fault.test.ts`);
      if (!fs.existsSync(f)) return true;
      const text = fs.readFileSync(f, 'utf8');
      return !text.includes(name) && !text.includes(name.replace(/'/g, "\\'"));
    });
    expect(missing).toEqual([]);
  });

  it('cites every test of the fault suite', () => {
    const names = new Set(cited.map((c) => `${c.file} › ${c.name}`));
    const uncited: string[] = [];
    let found = 0;
    for (const f of fs.readdirSync(FAULTS).filter((x) => x.endsWith('.fault.test.ts'))) {
      const file = f.replace('.fault.test.ts', '');
      const text = fs.readFileSync(path.join(FAULTS, f), 'utf8');
      for (const m of text.matchAll(/^\s*(?:it|asRoot)\((['"])(.+?)\1,/gm)) {
        const name = m[2]!.replace(/\\'/g, "'");
        found++;
        if (!names.has(`${file} › ${name}`)) uncited.push(`${file} › ${name}`);
      }
    }
    expect(found).toBe(cited.length);
    expect(uncited).toEqual([]);
  });
});

describe('docs/06_risk_audit.md', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', '06_risk_audit.md'), 'utf8');
  const cited = [...doc.matchAll(/`(packages\/[^`]+\.test\.ts) › ([^`]+)`/g)].map((m) => ({ file: m[1]!, name: m[2]! }));

  it('names only tests that exist, in the files it names', () => {
    expect(cited.length).toBeGreaterThan(10);
    const missing = cited.filter(({ file, name }) => {
      const f = path.join(ROOT, file);
      if (!fs.existsSync(f)) return true;
      const text = fs.readFileSync(f, 'utf8');
      return !text.includes(`'${name.replace(/'/g, "\\'")}'`) && !text.includes(`"${name}"`);
    });
    expect(missing).toEqual([]);
  });
});
