#!/usr/bin/env bash
# Installs botctl and the shop bot on a server, from the release tarball (`./install.sh` in the
# unpacked botctl-<version>-linux-x64/ folder) or from a built checkout (`scripts/install.sh`).
#
#   sudo ./install.sh                      # /opt/botctl, /usr/local/bin/botctl, the botctl user
#   sudo ./install.sh --tenant toko1       # and tenant toko1: settings, data folder, systemd units
#
# What it lays out (docs/operations.md, "Install on a server"):
#   PREFIX (/opt/botctl)                  the release tree, replaced as a whole on upgrade
#   BIN_DIR/botctl (/usr/local/bin)       a link to PREFIX/bin/botctl
#   /etc/botctl/tenants/NAME.env          a tenant's settings: 0640 root:botctl, never overwritten
#   /var/lib/botctl/NAME/                 its backups, logs and state: 0750 botctl:botctl
#   /etc/systemd/system/botctl-*@.*       the unit templates; a tenant's timers and bot enabled
#                                         once its settings pass `botctl config check`
#   man page and bash/zsh/fish completions under /usr/local/share
# Runtime packages only (apt): the PostgreSQL client tools of the server's major version, flock;
# rclone when a tenant sets BACKUP_OFFSITE_REMOTE; the age CLI only with --with-age (botctl
# encrypts and decrypts in-process; the CLI is for opening an archive by hand). Safe to run
# again: it changes only what differs, and never a tenant's settings or data.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: install.sh [options]
  --prefix DIR      where the release tree goes (default /opt/botctl)
  --bin-dir DIR     where the botctl link goes (default /usr/local/bin)
  --tenant NAME     also set up tenant NAME (repeatable)
  --user NAME       the system user botctl and the bot run as (default botctl)
  --pg-major N      PostgreSQL client tools of major version N (default: the local server's)
  --with-age        also install the age CLI (opening an archive by hand)
  --no-packages     install no OS packages (say what is missing instead)
  --no-systemd      install no systemd units
  --root DIR        install under DIR as if it were / (packaging, tests): no packages, no new
                    user, no systemctl
  -h, --help        this text
EOF
}

die() {
  printf 'install: error: %s\n' "$1" >&2
  [ -z "${2:-}" ] || printf 'hint: %s\n' "$2" >&2
  exit "${3:-1}"
}
say() { printf '== %s\n' "$*"; }

prefix=/opt/botctl
bin_dir=/usr/local/bin
user=botctl
root=""
pg_major=""
with_age=false
packages=true
systemd=true
tenants=()
while [ $# -gt 0 ]; do
  case $1 in
  --prefix) prefix=${2:?--prefix needs a folder}; shift 2 ;;
  --bin-dir) bin_dir=${2:?--bin-dir needs a folder}; shift 2 ;;
  --tenant) tenants+=("${2:?--tenant needs a name}"); shift 2 ;;
  --user) user=${2:?--user needs a name}; shift 2 ;;
  --pg-major) pg_major=${2:?--pg-major needs a number}; shift 2 ;;
  --with-age) with_age=true; shift ;;
  --no-packages) packages=false; shift ;;
  --no-systemd) systemd=false; shift ;;
  --root) root=${2:?--root needs a folder}; shift 2 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; die "unknown option $1" "see install.sh --help" 2 ;;
  esac
done
case $prefix in /*) ;; *) die "--prefix must be an absolute path, not $prefix" "" 2 ;; esac
case $bin_dir in /*) ;; *) die "--bin-dir must be an absolute path, not $bin_dir" "" 2 ;; esac
for t in "${tenants[@]}"; do
  [[ $t =~ ^[a-z0-9][a-z0-9_-]{0,62}$ ]] || die "\"$t\" is not a tenant name" "use lower-case letters, digits, - and _ (e.g. toko1), at most 63" 2
done
if [ -n "$root" ]; then
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
  packages=false
fi
is_root=false
[ "$(id -u)" -eq 0 ] && is_root=true
if [ -z "$root" ] && ! $is_root; then die "installing into / needs root" "run it with sudo, or use --root DIR" 5; fi

# Node.js >= 20.19 is the one thing botctl needs that this script does not install.
command -v node >/dev/null 2>&1 || die "node is not installed" "install Node.js 20.19 or newer (https://nodejs.org, or your distribution's nodejs package)"
# shellcheck disable=SC2016 # JavaScript, not shell, in single quotes
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' ||
  die "Node.js $(node --version) is too old" "botctl needs Node.js 20.19 or newer"

# The release tree to install: this one, or one built from this checkout.
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
src=""
for d in "$here" "$here/.."; do
  if [ -f "$d/lib/botctl.mjs" ]; then src=$(cd "$d" && pwd); fi
done
cleanup=""
trap '[ -z "$cleanup" ] || rm -rf "$cleanup"' EXIT
if [ -z "$src" ]; then
  checkout=$(cd "$here/.." && pwd)
  [ -f "$checkout/scripts/release.mjs" ] || die "no release tree here (lib/botctl.mjs) and no checkout to build one from"
  [ -f "$checkout/packages/maintenance-cli/dist/main.js" ] || die "this checkout is not built" "run scripts/setup.sh (or pnpm install && pnpm build) first"
  cleanup=$(mktemp -d)
  say "building the release tree from $checkout"
  node "$checkout/scripts/release.mjs" --out "$cleanup" >/dev/null
  tar -xzf "$cleanup"/botctl-*-linux-x64.tar.gz -C "$cleanup"
  src=$(echo "$cleanup"/botctl-*-linux-x64)
fi
version=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).version)' "$src/package.json")

etc=$root/etc/botctl
var=$root/var/lib/botctl
dest=$root$prefix

# 1. Runtime packages (apt). The client tools must be at least the server's major version.
if [ -z "$pg_major" ]; then
  for d in /usr/lib/postgresql/*/bin/postgres; do
    [ -x "$d" ] || continue
    v=${d#/usr/lib/postgresql/}
    v=${v%%/*}
    if [ -z "$pg_major" ] || [ "$v" -gt "$pg_major" ]; then pg_major=$v; fi
  done
fi
wants_rclone=false
for f in "$etc"/tenants/*.env; do
  [ -f "$f" ] || continue
  if grep -Eq '^[[:space:]]*BACKUP_OFFSITE_REMOTE[[:space:]]*=[[:space:]]*[^[:space:]#]' "$f"; then wants_rclone=true; fi
done
missing=()
if [ -n "$pg_major" ]; then
  [ -x "/usr/lib/postgresql/$pg_major/bin/pg_dump" ] || missing+=("postgresql-client-$pg_major")
else
  command -v pg_dump >/dev/null 2>&1 || missing+=(postgresql-client)
fi
command -v flock >/dev/null 2>&1 || missing+=(util-linux)
if $wants_rclone; then command -v rclone >/dev/null 2>&1 || missing+=(rclone); fi
if $with_age; then command -v age >/dev/null 2>&1 || missing+=(age); fi
if [ "${#missing[@]}" -gt 0 ]; then
  if $packages && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]} (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
      die "apt could not install ${missing[*]}" "for another PostgreSQL major version add the PGDG repository (https://wiki.postgresql.org/wiki/Apt), or pass --pg-major"
  else
    printf 'install: warning: not installed here, botctl needs: %s\n' "${missing[*]}" >&2
  fi
fi

# 2. The system user (only created on the real system; it must exist under --root to be used).
if id -u "$user" >/dev/null 2>&1; then
  :
elif [ -z "$root" ]; then
  say "creating the system user $user"
  useradd --system --user-group --home-dir /var/lib/botctl --no-create-home --shell /usr/sbin/nologin "$user"
else
  die "user $user does not exist" "with --root, pass an existing --user"
fi
group=$(id -gn "$user")

# owned MODE OWNER PATH: mode always; owner when we may change it.
owned() {
  chmod "$1" "$3"
  if $is_root; then chown "$2" "$3"; fi
}

# 3. The release tree, replaced as a whole (a running bot keeps the files it has open).
if [ "$src" != "$dest" ]; then
  say "installing botctl $version into $dest"
  mkdir -p "$(dirname "$dest")"
  staging="$dest.new.$$"
  rm -rf "$staging"
  cp -a "$src" "$staging"
  if $is_root; then chown -R root:root "$staging"; fi
  chmod -R go-w "$staging"
  if [ -e "$dest" ]; then
    mv "$dest" "$dest.old.$$"
    mv "$staging" "$dest"
    rm -rf "$dest.old.$$"
  else
    mv "$staging" "$dest"
  fi
fi
mkdir -p "$root$bin_dir"
ln -sfn "$prefix/bin/botctl" "$root$bin_dir/botctl"

# 4. Man page and completions.
mkdir -p "$root/usr/local/share/man/man1" "$root/usr/local/share/bash-completion/completions" \
  "$root/usr/local/share/zsh/site-functions" "$root/usr/local/share/fish/vendor_completions.d"
install -m 0644 "$dest/share/man/man1/botctl.1" "$root/usr/local/share/man/man1/botctl.1"
install -m 0644 "$dest/share/completions/botctl.bash" "$root/usr/local/share/bash-completion/completions/botctl"
install -m 0644 "$dest/share/completions/_botctl" "$root/usr/local/share/zsh/site-functions/_botctl"
install -m 0644 "$dest/share/completions/botctl.fish" "$root/usr/local/share/fish/vendor_completions.d/botctl.fish"

# 5. Settings and data roots.
mkdir -p "$etc/tenants" "$var"
owned 0755 root:root "$etc"
owned 0750 "root:$group" "$etc/tenants"
owned 0750 "$user:$group" "$var"

# 6. systemd unit templates, pointed at this prefix.
units=$root/etc/systemd/system
if $systemd; then
  mkdir -p "$units"
  for f in "$dest"/deploy/systemd/*; do
    sed -e "s#/opt/botctl#$prefix#g" -e "s#^User=botctl\$#User=$user#" -e "s#^Group=botctl\$#Group=$group#" "$f" >"$units/$(basename "$f").tmp"
    chmod 0644 "$units/$(basename "$f").tmp"
    mv "$units/$(basename "$f").tmp" "$units/$(basename "$f")"
  done
fi
can_systemctl=false
if $systemd && [ -z "$root" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  can_systemctl=true
  systemctl daemon-reload
fi

# 7. Tenants: settings from the template (keys made by `botctl init tenant`), data folder, units.
botctl=("$dest/bin/botctl")
export BOTCTL_ETC_DIR=$etc BOTCTL_VAR_DIR=$var
for t in "${tenants[@]}"; do
  env_file=$etc/tenants/$t.env
  data=$var/$t
  if [ -e "$env_file" ]; then
    say "tenant $t: keeping $env_file"
  else
    say "tenant $t: writing $env_file"
    "${botctl[@]}" --quiet init tenant "$t" --out "$env_file" >/dev/null
  fi
  mkdir -p "$data"
  owned 0640 "root:$group" "$env_file"
  owned 0750 "$user:$group" "$data"
  if $is_root; then chown -R "$user:$group" "$data"; fi
  enable=(botctl-backup@"$t".timer botctl-healthcheck@"$t".timer botctl-verify@"$t".timer botctl-drill@"$t".timer botctl-bot@"$t".service)
  if ! "${botctl[@]}" --env-file "$env_file" --quiet config check --ready >/dev/null 2>&1; then
    printf 'install: tenant %s: fill in %s (what is missing: botctl --env-file %s config check --ready), then:\n  systemctl enable --now %s\n' \
      "$t" "${env_file#"$root"}" "${env_file#"$root"}" "${enable[*]}"
  elif $can_systemctl; then
    say "tenant $t: enabling ${enable[*]}"
    systemctl enable --now "${enable[@]}"
  elif $systemd; then
    printf 'install: tenant %s: start it with\n  systemctl enable --now %s\n' "$t" "${enable[*]}"
  fi
done
say "botctl $version installed: $(node "$dest/lib/botctl.mjs" --version) at $root$bin_dir/botctl"
