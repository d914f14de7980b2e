#!/usr/bin/env bash
# Nightly backup of one tenant, for cron or a systemd timer:
#   0 2 * * *  /opt/botctl/scripts/cron_backup.sh /srv/toko1/.env
# Makes an encrypted backup and copies it offsite, then applies the retention policy
# (BACKUP_KEEP, BACKUP_KEEP_DAILY/WEEKLY/MONTHLY) to the local and offsite folders.
# botctl logs to logs/maintenance/ itself. Exit code: the backup's when it failed (prune is then
# skipped, so a bad night never thins out the good copies); otherwise prune's (docs/exit-codes.md).
# Never runs twice at once per tenant.
set -euo pipefail

env_file=${1:?usage: cron_backup.sh /path/to/tenant/.env}
[ -r "$env_file" ] || { echo "cron_backup: cannot read $env_file" >&2; exit 3; }
# shellcheck source-path=SCRIPTDIR source=lib/tenant.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/tenant.sh"

# One run per tenant: a second cron start while the first still runs exits at once with 4 (LOCKED).
if ! tenant_lock backup "$env_file"; then
  echo "cron_backup: a backup of $env_file is already running" >&2
  exit 4
fi

# 9>&- : botctl must not inherit the lock descriptor (a process it leaves behind would hold the lock).
"$botctl" --env-file "$env_file" backup create --scheduled --offsite 9>&-
"$botctl" --env-file "$env_file" backup prune --offsite 9>&-
