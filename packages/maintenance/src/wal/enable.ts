import { type Config, ConfigError, createSql, DatabaseError } from '@botctl/core';

// `botctl wal enable`: the settings PostgreSQL needs to archive WAL through `botctl wal push`,
// checked against the running cluster and written with ALTER SYSTEM (postgresql.auto.conf, which
// PostgreSQL reads after every other file, on Debian and elsewhere, locally or over the network)
// only with --yes. Says which change needs a restart and which a reload.

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
    if (!opts.yes || !settings.some((s) => s.change)) return { applied: false, settings, restart_needed: false, reloaded: false };
    const superuser = await sql<{ ok: boolean }[]>`SELECT rolsuper AS ok FROM pg_roles WHERE rolname = current_user`;
    if (!superuser[0]?.ok) {
      throw new DatabaseError('wal enable needs a superuser (ALTER SYSTEM): the role in DATABASE_URL is not one', {
        hint: 'run it with the cluster env file whose DATABASE_URL is the postgres superuser, or set the four settings by hand (docs/runbooks/point-in-time.md)',
      });
    }
    for (const s of settings.filter((x) => x.change)) {
      // ALTER SYSTEM takes no parameters: the name is ours, the value a quoted literal.
      await sql.unsafe(`ALTER SYSTEM SET ${s.name} = '${s.wanted.replace(/'/g, "''")}'`);
    }
    await sql`SELECT pg_reload_conf()`;
    return { applied: true, settings, restart_needed: settings.some((s) => s.change && s.restart), reloaded: true };
  } finally {
    await sql.end({ timeout: 5 }).catch(() => undefined);
  }
}
