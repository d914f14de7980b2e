import { ConfigError, loadConfig } from '@botctl/core';
import { shippedPath } from '@botctl/core/shipped';
import { createArchiveDecryption, createServices, type PointInTimeDeps } from '@botctl/maintenance';
import type { CliContext } from '../../cli/context.js';
import { TOOL_VERSION } from '../../cli/version.js';

/** What `restore --to-time` and `drill --to-time` need: this tenant and its cluster (WAL_CLUSTER_ENV_FILE). */
export async function pointInTimeDeps(ctx: CliContext): Promise<PointInTimeDeps> {
  const c = ctx.config;
  if (!c.walClusterEnvFile) {
    throw new ConfigError(['WAL_CLUSTER_ENV_FILE is not set: the env file of the cluster whose WAL archive and base backups hold this database'], {
      hint: 'see docs/runbooks/point-in-time.md',
    });
  }
  const cluster = loadConfig({ envFile: c.walClusterEnvFile, env: ctx.io.env, cwd: ctx.io.cwd }).config;
  const clusterServices = createServices(cluster, { redactor: ctx.redactor, log: ctx.log, clock: ctx.clock });
  return {
    cluster: { config: cluster, base: clusterServices.baseStores(), wal: clusterServices.walStores(), decryption: await createArchiveDecryption(cluster) },
    restore: { ...ctx.backupDeps(), encryption: () => ctx.encryption(), toolVersion: TOOL_VERSION },
    encryption: ctx.encryption(),
    dumperFor: ctx.dumper,
    // PostgreSQL's recovery runs this botctl for restore_command.
    botctl: [process.execPath, '--', shippedPath('cli')],
  };
}
