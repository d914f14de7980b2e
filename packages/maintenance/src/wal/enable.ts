import fs from 'node:fs/promises';
import path from 'node:path';
import { type Config, ConfigError, createSql, DatabaseError, writeFileAtomic } from '@botctl/core';

// `botctl wal enable`: the settings PostgreSQL needs to archive WAL through `botctl wal push`,
// checked against the running cluster and written only with --yes. Where botctl runs on the
// cluster's host and its postgresql.conf includes a folder botctl may write (Debian's `conf.d`),
// they go into `<that folder>/botctl-wal.conf`, a file a sysadmin can read, diff and remove; a
// value postgresql.auto.conf sets for one of them (it would win, being read last) is reset so the
// file is what counts. Elsewhere (a server over the network, no include folder) ALTER SYSTEM
// writes them. Says which change needs a restart and which a reload.

const WAL_CONF_FILE = 'botctl-wal.conf';

interface WalSetting {
  name: 'wal_level' | 'archive_mode' | 'archive_timeout' | 'archive_command';
  current: string;
  wanted: string;
  change: boolean;
  /** Takes effect only after a restart of PostgreSQL (else a reload). */
  restart: boolean;
}

export interface WalEnableResult {
  applied: boolean;
  settings: WalSetting[];
  /** After --yes: a restart is needed for some change (wal_level, archive_mode). */
  restart_needed: boolean;
  reloaded: boolean;
  /** Where the settings are (would be) written: the include folder's file, or ALTER SYSTEM. */
  method: 'conf.d' | 'alter-system';
  /** The conf.d file, with method 'conf.d'. */
  file?: string;
  /** Settings postgresql.auto.conf also set, reset (with --yes) so that the file counts. */
  reset: string[];
}

const quoteValue = (v: string) => `'${v.replace(/'/g, "''")}'`;

/**
 * The include folder of the cluster's postgresql.conf that botctl can write: Debian's
 * `include_dir = 'conf.d'`. Undefined where the file is not readable here (a server on another
 * host, or not ours to read) or includes no folder botctl may write.
 */
async function includeFolder(configFile: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await fs.readFile(configFile, 'utf8');
  } catch {
    return undefined;
  }
  const dirs = [...text.matchAll(/^[ \t]*include_dir[ \t]*=?[ \t]*'((?:[^']|'')+)'/gm)].map((m) => m[1]!.replace(/''/g, "'"));
  for (const d of dirs.reverse()) {
    const dir = path.resolve(path.dirname(configFile), d);
    try {
      if ((await fs.stat(dir)).isDirectory()) {
        await fs.access(dir, fs.constants.W_OK);
        return dir;
      }
    } catch {
      // not there, or not ours to write: try the next one, else ALTER SYSTEM
    }
  }
  return undefined;
}

function confText(settings: WalSetting[]): string {
  return [
    '# Written by botctl wal enable: WAL archiving through botctl wal push (docs/runbooks/point-in-time.md).',
    '# wal_level and archive_mode take effect after a restart of PostgreSQL, the others after a reload.',
    ...settings.map((s) => `${s.name} = ${quoteValue(s.wanted)}`),
    '',
  ].join('\n');
}

/** How PostgreSQL's archiver runs botctl: the command line, quoted for /bin/sh. */
function archiveCommand(botctl: string[], envFile: string): string {
  const q = (v: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'"'"'`)}'`);
  return `${[...botctl, '--env-file', envFile].map(q).join(' ')} --quiet wal push %p`;
}

export async function enableWalArchiving(
  config: Config,
  opts: { botctl: string[]; envFile: string; timeoutSeconds: number; yes: boolean },
): Promise<WalEnableResult> {
  if (!config.databaseUrl) {
    throw new ConfigError(['wal enable needs DATABASE_URL in the cluster env file: a superuser of the cluster (ALTER SYSTEM)']);
  }
  const sql = createSql(config.databaseUrl, { max: 1 });
  try {
    const rows = await sql<{ name: string; setting: string; unit: string | null }[]>`
      SELECT name, setting, unit FROM pg_settings WHERE name IN ('wal_level', 'archive_mode', 'archive_timeout', 'archive_command')`;
    const now = new Map(rows.map((r) => [r.name, r.setting]));
    const level = now.get('wal_level') ?? 'minimal';
    const wanted: [WalSetting['name'], string, boolean][] = [
      // logical includes replica: keep it.
      ['wal_level', level === 'logical' ? 'logical' : 'replica', true],
      ['archive_mode', now.get('archive_mode') === 'always' ? 'always' : 'on', true],
      ['archive_timeout', String(opts.timeoutSeconds), false],
      ['archive_command', archiveCommand(opts.botctl, opts.envFile), false],
    ];
    const settings = wanted.map(([name, want, restart]) => {
      const current = now.get(name) ?? '';
      return { name, current, wanted: want, change: current !== want, restart };
    });
    const superuser = (await sql<{ ok: boolean }[]>`SELECT rolsuper AS ok FROM pg_roles WHERE rolname = current_user`)[0]?.ok === true;
    // config_file is shown to superusers (and pg_read_all_settings) only.
    const configFile = superuser ? (await sql<{ f: string }[]>`SELECT current_setting('config_file') AS f`)[0]?.f : undefined;
    const folder = configFile ? await includeFolder(configFile) : undefined;
    const where = folder ? { method: 'conf.d' as const, file: path.join(folder, WAL_CONF_FILE) } : { method: 'alter-system' as const };
    if (!opts.yes || !settings.some((s) => s.change)) return { applied: false, settings, restart_needed: false, reloaded: false, ...where, reset: [] };
    if (!superuser) {
      throw new DatabaseError('wal enable needs a superuser (ALTER SYSTEM, pg_reload_conf): the role in DATABASE_URL is not one', {
        hint: 'run it with the cluster env file whose DATABASE_URL is the postgres superuser, or set the four settings by hand (docs/runbooks/point-in-time.md)',
      });
    }
    const reset: string[] = [];
    if (where.method === 'conf.d') {
      const before = await fs.readFile(where.file).catch(() => undefined);
      await writeFileAtomic(where.file, confText(settings), 0o644);
      try {
        // The server reads the folder as its own user: give the file the folder's owner.
        if (process.getuid?.() === 0) {
          const st = await fs.stat(folder!);
          await fs.chown(where.file, st.uid, st.gid);
        }
        // pg_file_settings reads the files as they are now: is ours what counts, or does a file
        // read after it (postgresql.auto.conf, a later conf.d file) set the same name?
        // The last line for a name (in the order PostgreSQL reads them) is the one that counts;
        // wal_level and archive_mode changed show 'setting could not be applied' until the restart.
        const rows = await sql<{ name: string | null; sourcefile: string | null; error: string | null }[]>`
        SELECT name, sourcefile, error FROM pg_file_settings ORDER BY seqno`;
        const bad = rows.find((r) => r.sourcefile === where.file && r.error && r.error !== 'setting could not be applied');
        if (bad) throw new ConfigError([`${where.file}: PostgreSQL cannot read it (${bad.error})`]);
        if (!rows.some((r) => r.sourcefile === where.file)) {
          throw new ConfigError([`PostgreSQL does not read ${where.file}: its include_dir line is not in effect`], {
            hint: 'check the include_dir line of postgresql.conf, or set the four settings by hand (docs/runbooks/point-in-time.md)',
          });
        }
        for (const s of settings) {
          const lines = rows.filter((r) => r.name === s.name);
          const later = lines.slice(lines.findIndex((r) => r.sourcefile === where.file) + 1);
          const other = later.find((r) => path.basename(r.sourcefile ?? '') !== 'postgresql.auto.conf');
          if (other) {
            throw new ConfigError([`${s.name} is set again in ${other.sourcefile}, read after ${where.file}: that value would count`], {
              hint: `remove ${s.name} from ${other.sourcefile}, then run wal enable --yes again`,
            });
          }
          if (later.length > 0) reset.push(s.name);
        }
        for (const name of reset) await sql.unsafe(`ALTER SYSTEM RESET ${name}`);
      } catch (error) {
        // Refused: the folder as it was (the old file back, or none).
        await (before ? writeFileAtomic(where.file, before, 0o644) : fs.rm(where.file, { force: true }));
        throw error;
      }
    } else {
      for (const s of settings.filter((x) => x.change)) {
        // ALTER SYSTEM takes no parameters: the name is ours, the value a quoted literal.
        await sql.unsafe(`ALTER SYSTEM SET ${s.name} = ${quoteValue(s.wanted)}`);
      }
    }
    await sql`SELECT pg_reload_conf()`;
    return { applied: true, settings, restart_needed: settings.some((s) => s.change && s.restart), reloaded: true, ...where, reset };
  } finally {
    await sql.end({ timeout: 5 }).catch(() => undefined);
  }
}
