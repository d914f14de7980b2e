#!/usr/bin/env bash
# Nightly backup of one tenant, for cron or a systemd timer:
#   0 2 * * *  /opt/botctl/scripts/cron_backup.sh /etc/botctl/tenants/toko1.env
# Makes an encrypted backup (copied offsite when BACKUP_AUTOMATIC_OFFSITE=true, the default),
# then applies the retention policy (BACKUP_KEEP, BACKUP_KEEP_DAILY/WEEKLY/MONTHLY/YEARLY) to the
# local folder and, likewise, offsite, then rotates the logs (daily files older than
# LOG_RETENTION_DAYS into encrypted monthly archives). botctl logs to logs/maintenance/ itself.
# Silent when every step succeeds (cron mails only problems); otherwise it prints what the failing
# steps said. Exit code: the first failing step's (docs/exit-codes.md); a failed backup skips the
# prune, so a bad night never thins out the good copies. Log rotation runs either way.
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

out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Under systemd (stderr is the journal stream JOURNAL_STREAM names), failure lines are priority 3.
pri=""
if [ -n "${JOURNAL_STREAM:-}" ] && [ "$(stat -L -c '%d:%i' "/proc/$$/fd/2" 2>/dev/null)" = "$JOURNAL_STREAM" ]; then
  pri="<3>"
fi

# step ARGS...: runs botctl for this tenant, its output kept; on failure, prints what it said
# (the progress lines left out) and returns its exit code.
# 9>&- : botctl must not inherit the lock descriptor (a process it leaves behind would hold the lock).
step() {
  local r=0
  "$botctl" --env-file "$env_file" --quiet "$@" >"$out" 2>&1 9>&- || r=$?
  if [ "$r" -ne 0 ]; then
    echo "${pri}cron_backup: botctl $* failed (exit $r):" >&2
    grep -v '^• ' "$out" | sed "s/^/${pri}/" >&2 || true
  fi
  return "$r"
}

rc=0
step backup create --scheduled || rc=$?
if [ "$rc" -eq 0 ]; then
  step backup prune --scheduled || rc=$?
fi
step logs rotate --scheduled || { r=$?; [ "$rc" -ne 0 ] || rc=$r; }
exit "$rc"
