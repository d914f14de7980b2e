#!/usr/bin/env bash
# Prepares a fresh machine (Debian/Ubuntu with Node.js >= 20.19 and npm) for botctl:
# PostgreSQL server and client tools, the age and zstd CLIs (the tests read our archives with them),
# the shellcheck and systemd-analyze tools (the tests check the host wiring with them), the pnpm
# version pinned in package.json, the workspace dependencies, and the build.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '== %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "setup: need root (or sudo) for: $*" >&2
    return 1
  fi
}

# shellcheck disable=SC2016 # JavaScript, not shell, in single quotes
node -e 'const [a,b]=process.versions.node.split(".").map(Number); if (a<20||(a===20&&b<19)) { console.error(`setup: Node.js ${process.versions.node} is too old; botctl needs >= 20.19`); process.exit(1) }'

have_pg_server() { command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; }

missing=()
have_pg_server || missing+=(postgresql)
command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
command -v age >/dev/null 2>&1 || missing+=(age)
# BACKUP_COMPRESSION=auto (the default) compresses archives with the zstd program where it is installed; the tests read them back with it.
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
command -v ps >/dev/null 2>&1 || missing+=(procps)
command -v script >/dev/null 2>&1 || missing+=(bsdutils)
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
# The tests check the cron scripts with shellcheck and the systemd units with systemd-analyze.
command -v shellcheck >/dev/null 2>&1 || missing+=(shellcheck)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
python3 -c "import cryptography.fernet" >/dev/null 2>&1 || missing+=(python3-cryptography)
# Offsite on an rclone remote (BACKUP_OFFSITE_REMOTE); the tests run real rclone sftp/webdav servers.
command -v rclone >/dev/null 2>&1 || missing+=(rclone)
# The Prometheus alerting rules in deploy/prometheus are checked with the real promtool.
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
# botctl man is checked with groff.
command -v groff >/dev/null 2>&1 || missing+=(groff-base)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]} (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The first line of a command's output. Never `cmd | head -1` here: under pipefail, head closing
# the pipe early makes cmd die of SIGPIPE and the whole script exit 141 without a word.
first_line() {
  local out
  out=$("$@" 2>/dev/null) || true
  printf '%s\n' "${out%%$'\n'*}"
}

# botctl needs rclone >= 1.60 (Debian 12's) for BACKUP_OFFSITE_REMOTE.
rclone_version=$(first_line rclone version)
awk '{ v=$2; sub(/^v/, "", v); split(v, p, "."); if (p[1] < 1 || (p[1] == 1 && p[2] < 60)) { print "setup: " $0 " is older than 1.60; BACKUP_OFFSITE_REMOTE and its tests need 1.60+" > "/dev/stderr"; exit 1 } }' <<<"$rclone_version"

# The pnpm pinned in package.json. corepack works for users too; npm is used here because
# corepack cannot verify pnpm's signature against every registry mirror.
want=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$want" ]; then
  log "installing pnpm $want"
  if ! npm install -g --silent "pnpm@$want" >/dev/null 2>&1; then
    npm install -g --silent --prefix "$HOME/.local" "pnpm@$want" >/dev/null
    export PATH="$HOME/.local/bin:$PATH"
    echo "setup: pnpm installed in ~/.local/bin; add it to PATH" >&2
  fi
fi

log "pnpm install"
pnpm install --frozen-lockfile --reporter=silent
log "build"
pnpm build
log "ready: node $(node --version), pnpm $(pnpm --version), $(pg_dump --version), age $(age --version), $rclone_version"
