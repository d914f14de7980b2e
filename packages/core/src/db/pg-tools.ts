import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { BotctlError, ExitCode } from '../errors.js';

export type PgTool = 'pg_dump' | 'pg_restore' | 'psql' | 'initdb' | 'pg_ctl' | 'postgres' | 'createdb' | 'pg_basebackup' | 'pg_waldump';

function onPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return candidate;
    } catch {
      // keep looking
    }
  }
  return undefined;
}

/** Debian keeps server binaries (initdb, pg_ctl, postgres) under /usr/lib/postgresql/<major>/bin only. */
function debianVersionDirs(): string[] {
  const root = '/usr/lib/postgresql';
  try {
    return fs
      .readdirSync(root)
      .filter((d) => /^\d+$/.test(d))
      .sort((a, b) => Number(b) - Number(a))
      .map((d) => path.join(root, d, 'bin'));
  } catch {
    return [];
  }
}

/**
 * Finds a PostgreSQL program: `PG_BIN_DIR` when set, then PATH, then Debian's versioned
 * directories (newest first). Tests put fake binaries first on PATH.
 */
export function findPgTool(tool: PgTool, opts: { binDir?: string | undefined; envPath?: string } = {}): string {
  if (opts.binDir) {
    const p = path.join(opts.binDir, tool);
    if (fs.existsSync(p)) return p;
  }
  const found = onPath(tool, opts.envPath);
  if (found) return found;
  for (const dir of debianVersionDirs()) {
    const p = path.join(dir, tool);
    if (fs.existsSync(p)) return p;
  }
  throw new BotctlError('MISSING_TOOL', ExitCode.FAILURE, `${tool} was not found`, {
    hint: 'install the PostgreSQL client tools (Debian: apt-get install postgresql-client) or set PG_BIN_DIR',
  });
}

export interface PgVersion {
  major: number;
  minor: number;
  text: string;
}

/** Parses `pg_dump (PostgreSQL) 15.18 (Debian ...)` or a server's `15.18 (Debian ...)`. */
export function parsePgVersion(text: string): PgVersion | undefined {
  const m = /(\d+)(?:\.(\d+))?/.exec(text.replace(/^[^0-9]*\)\s*/, '').trim()) ?? /(\d+)(?:\.(\d+))?/.exec(text);
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = m[2] === undefined ? 0 : Number(m[2]);
  return { major, minor, text: m[2] === undefined ? `${major}` : `${major}.${minor}` };
}

/** From `SHOW server_version_num` (150018 → 15.18). */
export function pgVersionFromNum(num: number): PgVersion {
  const major = Math.floor(num / 10_000);
  const minor = num % 10_000;
  return { major, minor, text: `${major}.${minor}` };
}

export async function toolVersion(binary: string): Promise<PgVersion> {
  const { stdout } = await execa(binary, ['--version'], { timeout: 15_000 });
  const v = parsePgVersion(stdout);
  if (!v) {
    throw new BotctlError('MISSING_TOOL', ExitCode.FAILURE, `cannot read the version of ${binary}`, {
      hint: 'check that it is a working PostgreSQL program',
    });
  }
  return v;
}
