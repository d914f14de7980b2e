#!/usr/bin/env bash
# Nightly backup of one tenant, for cron or a systemd timer:
#   0 2 * * *  /opt/botctl/scripts/cron_backup.sh /srv/toko1/.env
# Makes an encrypted backup and copies it offsite, then applies the retention policy
# (BACKUP_KEEP, BACKUP_KEEP_DAILY/WEEKLY/MONTHLY) to the local and offsite folders, then rotates
# the logs (daily files older than LOG_RETENTION_DAYS into encrypted monthly archives).
# botctl logs to logs/maintenance/ itself. Exit code: the first failing step's (docs/exit-codes.md);
# a failed backup skips the prune, so a bad night never thins out the good copies. Log rotation
# runs either way: it does not depend on tonight's backup.
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
rc=0
"$botctl" --env-file "$env_file" backup create --scheduled --offsite 9>&- || rc=$?
if [ "$rc" -eq 0 ]; then
  "$botctl" --env-file "$env_file" backup prune --offsite 9>&- || rc=$?
fi
"$botctl" --env-file "$env_file" logs rotate 9>&- || { r=$?; [ "$rc" -ne 0 ] || rc=$r; }
exit "$rc"

