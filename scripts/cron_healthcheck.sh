#!/usr/bin/env bash
# Health check of one tenant, for cron or a systemd timer:
#   */5 * * * *  /opt/botctl/scripts/cron_healthcheck.sh /etc/botctl/tenants/toko1.env [--textfile DIR]
# botctl tells the owners on Telegram when a check starts failing, reminds them, and tells them
# when it recovers; it logs to logs/maintenance/. Extra arguments go to `botctl healthcheck`.
# Quiet when everything is ok (cron mails only problems). Exit code: botctl's, Nagios style
# (0 ok, 1 warning, 2 critical, 3 unknown). Never runs twice at once per tenant.
set -euo pipefail

env_file=${1:?usage: cron_healthcheck.sh /path/to/tenant/.env [healthcheck options]}
shift
[ -r "$env_file" ] || { echo "cron_healthcheck: cannot read $env_file" >&2; exit 3; }
# shellcheck source-path=SCRIPTDIR source=lib/tenant.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/tenant.sh"

# A run still going after 5 minutes (a hung mount?) makes the next one exit 3 (UNKNOWN) at once.
if ! tenant_lock health "$env_file"; then
  echo "cron_healthcheck: a health check of $env_file is still running" >&2
  exit 3
fi

rc=0
out=$("$botctl" --env-file "$env_file" healthcheck "$@" 9>&-) || rc=$?
if [ "$rc" -ne 0 ]; then
  printf '%s\n' "$out"
fi
exit "$rc"
