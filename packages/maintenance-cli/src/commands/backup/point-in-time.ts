import type { PointInTimeDeps } from '@botctl/maintenance';
import type { CliContext } from '../../cli/context.js';
import { TOOL_VERSION } from '../../cli/version.js';

/** What `restore --to-time` and `drill --to-time` need: this tenant and its cluster (WAL_CLUSTER_ENV_FILE). */
export function pointInTimeDeps(ctx: CliContext): Promise<PointInTimeDeps> {
  return ctx.services.pointInTimeDeps(
    { ...ctx.backupDeps(), encryption: () => ctx.encryption(), toolVersion: TOOL_VERSION },
    { env: ctx.io.env, cwd: ctx.io.cwd },
  );
}
