import path from 'node:path';

/** A tenant name: a file name, a folder name and a systemd instance at once. */
export const TENANT_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** The installed layout's roots (install.sh): settings under /etc, data under /var/lib. */
export function installedLayout(env: Record<string, string | undefined> = process.env): { etcDir: string; varDir: string } {
  return {
    etcDir: path.resolve(env.BOTCTL_ETC_DIR || '/etc/botctl'),
    varDir: path.resolve(env.BOTCTL_VAR_DIR || '/var/lib/botctl'),
  };
}

/**
 * The folder relative paths in a tenant's settings are resolved against (backups, logs, state):
 * the env file's own folder, except for an installed tenant, whose settings are
 * `/etc/botctl/tenants/NAME.env` and whose data is in `/var/lib/botctl/NAME/` (BOTCTL_ETC_DIR and
 * BOTCTL_VAR_DIR move both roots). The rule looks only at where the file is, so it holds when the
 * file is missing too (recover, the bot waiting behind the maintenance fence).
 */
export function tenantBaseDir(envFile: string, env: Record<string, string | undefined> = process.env): string {
  const file = path.resolve(envFile);
  const { etcDir, varDir } = installedLayout(env);
  const name = path.basename(file, '.env');
  if (path.dirname(file) === path.join(etcDir, 'tenants') && file.endsWith('.env') && TENANT_NAME.test(name)) return path.join(varDir, name);
  return path.dirname(file);
}
