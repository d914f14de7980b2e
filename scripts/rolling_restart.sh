#!/usr/bin/env bash
# Rolling restart of every tenant after an image rebuild (plan section 3: "rolling restart tiap
# tenant"), one tenant at a time, stopping at the first tenant that does not come back:
#   docker build -t bot-auto-order:latest .
#   scripts/rolling_restart.sh /srv/botctl/toko1 /srv/botctl/toko2
#   BOTCTL_TENANTS_DIR=/srv/botctl scripts/rolling_restart.sh        # every <dir>/*/compose.yml
# For each tenant folder (compose.yml beside its .env): `docker compose pull` (skipped with
# --no-pull, for locally built images), `up -d`, then wait until the bot writes a fresh heartbeat
# (state/heartbeat-bot.json, newer than the restart) within RESTART_TIMEOUT seconds (default 120).
# Each restart is recorded in the tenant's logs/maintenance/ (botctl journal add --kind update).
# Exit: 0 all tenants back; 1 a tenant did not come back (the later ones were not touched);
# 2 usage; 3 a tenant folder without compose.yml.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib/tenant.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/tenant.sh"

pull=1
if [ "${1:-}" = "--no-pull" ]; then pull=0; shift; fi
timeout=${RESTART_TIMEOUT:-120}
docker=${DOCKER:-docker}

tenants=("$@")
if [ ${#tenants[@]} -eq 0 ]; then
  [ -n "${BOTCTL_TENANTS_DIR:-}" ] || { echo "usage: rolling_restart.sh [--no-pull] TENANT_DIR... (or set BOTCTL_TENANTS_DIR)" >&2; exit 2; }
  for f in "$BOTCTL_TENANTS_DIR"/*/compose.yml; do
    [ -e "$f" ] && tenants+=("$(dirname "$f")")
  done
  [ ${#tenants[@]} -gt 0 ] || { echo "rolling_restart: no */compose.yml in $BOTCTL_TENANTS_DIR" >&2; exit 2; }
fi

for dir in "${tenants[@]}"; do
  compose="$dir/compose.yml"
  [ -r "$compose" ] || { echo "rolling_restart: $compose not found" >&2; exit 3; }
  name=$(basename "$dir")
  heartbeat="$dir/state/heartbeat-bot.json"
  started=$(date +%s)
  echo "• $name: restarting"
  if [ "$pull" -eq 1 ]; then "$docker" compose -f "$compose" pull --quiet; fi
  "$docker" compose -f "$compose" up -d --remove-orphans
  deadline=$((started + timeout))
  until [ -f "$heartbeat" ] && [ "$(stat -c %Y "$heartbeat")" -ge "$started" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "rolling_restart: $name did not come back within ${timeout}s (no fresh heartbeat in $heartbeat); stopping here" >&2
      echo "hint: docker compose -f $compose logs --tail 50 bot" >&2
      "$botctl" --env-file "$dir/.env" journal add --kind rollback "rolling restart: $name did not come back within ${timeout}s; rollout stopped" >/dev/null 2>&1 || true
      exit 1
    fi
    sleep 1
  done
  echo "  $name is back ($(( $(date +%s) - started ))s)"
  "$botctl" --env-file "$dir/.env" journal add --kind update "rolling restart: $name restarted on the new image in $(( $(date +%s) - started ))s" >/dev/null 2>&1 ||
    echo "rolling_restart: warning: could not record the restart in $name's maintenance log" >&2
done
echo "All ${#tenants[@]} tenant(s) restarted."
