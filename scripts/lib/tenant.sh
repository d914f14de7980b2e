# Sourced by the cron scripts: botctl's location and a per-tenant run lock.
# shellcheck shell=bash

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC2034 # used by the scripts that source this file
botctl=${BOTCTL:-$root/bin/botctl}

# tenant_lock KIND ENV_FILE: takes an exclusive lock on descriptor 9 for this tenant and kind, or
# returns 1 at once when another run holds it. The lock lives as long as the calling shell; run
# botctl with `9>&-` so that nothing it leaves behind keeps holding it.
tenant_lock() {
  local kind=$1 env_file=$2 lock_dir lock
  lock_dir=${XDG_RUNTIME_DIR:-/tmp}
  lock="$lock_dir/botctl-$kind-$(printf '%s' "$(realpath "$env_file")" | sha256sum | cut -c1-16).lock"
  exec 9>"$lock"
  flock -n 9
}
