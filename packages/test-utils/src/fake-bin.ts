import fs from 'node:fs';
import path from 'node:path';

/**
 * Writes an executable shell script `name` into `dir` (a folder to put first on PATH), the way
 * execa's own tests fake binaries: to make pg_dump fail half-way, write garbage, or hang.
 */
export function writeFakeBin(dir: string, name: string, script: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  fs.writeFileSync(file, `#!/bin/sh\n${script}\n`, { mode: 0o755 });
  return file;
}

/** PATH with `dir` first. */
export function pathWith(dir: string, base = process.env.PATH ?? ''): string {
  return `${dir}${path.delimiter}${base}`;
}
