# Sourced by the cron scripts: botctl's location and a per-tenant run lock.
# shellcheck shell=bash

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
botctl=${BOTCTL:-$root/bin/botctl}

# tenant_lock KIND ENV_FILE: takes an exclusive lock on descriptor 9 for this tenant and kind, or
# returns 1 at once when another run holds it. The lock lives as long as the calling shell; run
# botctl with `9>&-` so that nothing it leaves behind keeps holding it.
#
# The lock file's place does not depend on who runs the script (root from a terminal, the botctl
# user from cron or systemd): BOTCTL_LOCK_DIR, else /run/lock, else /tmp. It is opened read-only,
# which is all flock needs, so a file that root created (0644) is still usable by the tenant's
# user, and a run as root never leaves a lock that the next scheduled run cannot take.
tenant_lock() {
  local kind=$1 env_file=$2 lock_dir lock
  lock_dir=${BOTCTL_LOCK_DIR:-}
  if [ -z "$lock_dir" ]; then
    if [ -d /run/lock ] && [ -w /run/lock ]; then lock_dir=/run/lock; else lock_dir=/tmp; fi
  fi
  lock="$lock_dir/botctl-$kind-$(printf '%s' "$(realpath "$env_file")" | sha256sum | cut -c1-16).lock"
  if [ ! -e "$lock" ]; then
    (umask 022 && : >>"$lock") 2>/dev/null || true
  fi
  exec 9<"$lock" || return 1
  flock -n 9
}
