#!/usr/bin/env bash
# OnFailure= hook of the botctl systemd units (deploy/systemd/botctl-failure@.service):
#   systemd_on_failure.sh botctl-backup@toko1.service
# Tells the tenant's owners that the unit failed, with the last lines of its journal, through
# the notification bot. botctl reports its own failures; this catches what it cannot (killed,
# out of memory, timed out). The tenant's env file: /etc/botctl/tenants/<tenant>.env (install.sh;
# BOTCTL_ETC_DIR moves /etc/botctl), else $BOTCTL_TENANTS_DIR/<tenant>/.env (/srv/botctl, the
# tenant-folder layout).
set -euo pipefail

unit=${1:?usage: systemd_on_failure.sh <failed unit>}
tenant=${unit#*@}
tenant=${tenant%.service}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
botctl=${BOTCTL:-$root/bin/botctl}
env_file="${BOTCTL_ETC_DIR:-/etc/botctl}/tenants/$tenant.env"
[ -e "$env_file" ] || env_file="${BOTCTL_TENANTS_DIR:-/srv/botctl}/$tenant/.env"
[ -r "$env_file" ] || { echo "systemd_on_failure: cannot read $env_file" >&2; exit 3; }

journal=""
if command -v journalctl >/dev/null 2>&1; then
  journal=$(journalctl -u "$unit" -n 8 --no-pager -o cat 2>/dev/null || true)
fi
message="❌ Tugas terjadwal $unit GAGAL di $(hostname)."
if [ -n "$journal" ]; then
  message="$message
Log terakhir:
$journal"
fi
exec "$botctl" --env-file "$env_file" alert send "$message"
