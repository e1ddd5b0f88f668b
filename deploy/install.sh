#!/usr/bin/env bash
# Install edge-agent as a system service on Raspberry Pi OS (64-bit) or Debian 12.
#   sudo deploy/install.sh              install or upgrade, enable the unit
#   sudo deploy/install.sh --uninstall  remove the unit, program, config and data
# Options:
#   --prefix DIR    install under DIR (DIR/etc, DIR/var/lib, DIR/opt) as a staging
#                   root: no user is created and systemd is not touched
#   --no-systemd    do not call systemctl (images built in a chroot, containers)
# Safe to run again: the program and unit are refreshed, the config, hot list,
# secrets and data are kept.
#
# Layout:
#   /etc/edge-agent/agent.toml          root:edge-agent 0640 (from deploy/agent.example.toml)
#   /etc/edge-agent/hotlist.csv         root:edge-agent 0640 (header only, until a list is loaded)
#   /etc/edge-agent/secrets/            root:root 0700; mqtt-password 0600, handed to the
#                                       service by systemd as a credential
#   /var/lib/edge-agent/                edge-agent 0700: the store and outbox
#   /opt/edge-agent/venv/               the program, in its own virtual environment
#   /etc/systemd/system/edge-agent.service
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"

prefix="" uninstall=0 use_systemd=1
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) [ $# -ge 2 ] || { echo "install.sh: --prefix needs a directory" >&2; exit 2; }
              prefix="${2%/}"; shift ;;
    --prefix=*) prefix="${1#--prefix=}"; prefix="${prefix%/}" ;;
    --uninstall) uninstall=1 ;;
    --no-systemd) use_systemd=0 ;;
    -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install.sh: unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

user=edge-agent
etc="$prefix/etc/edge-agent" data="$prefix/var/lib/edge-agent" opt="$prefix/opt/edge-agent"
unit="$prefix/etc/systemd/system/edge-agent.service"
is_root=0; [ "$(id -u)" -eq 0 ] && is_root=1
# A staging root is not the running system: its users and services are not ours to change.
system=0; [ -z "$prefix" ] && [ $is_root -eq 1 ] && system=1
[ $system -eq 1 ] && [ -d /run/systemd/system ] || use_systemd=0

if [ -z "$prefix" ] && [ $is_root -eq 0 ]; then
  echo "install.sh: run as root (sudo deploy/install.sh), or use --prefix DIR to stage" >&2
  exit 2
fi
say() { echo "install.sh: $*"; }

# Overwrite then unlink. On an SD card or SSD the controller remaps writes, so
# old blocks may survive an overwrite; the hit store's per-day keys
# (crypto-erase, issue 4) are what makes those remnants unreadable.
destroy() {
  [ -e "$1" ] || return 0
  find "$1" -type f -exec shred --force --zero --remove {} + 2>/dev/null || true
  rm -rf -- "$1"
}

if [ $uninstall -eq 1 ]; then
  if [ $use_systemd -eq 1 ]; then
    systemctl disable --now edge-agent.service 2>/dev/null || true
  fi
  rm -f -- "$unit"
  [ $use_systemd -eq 1 ] && systemctl daemon-reload
  destroy "$data"
  destroy "$etc"
  rm -rf -- "$opt"
  if [ $system -eq 1 ] && id "$user" >/dev/null 2>&1; then
    userdel "$user" 2>/dev/null || true
    getent group "$user" >/dev/null && groupdel "$user" 2>/dev/null || true
  fi
  say "removed the unit, /opt/edge-agent, /etc/edge-agent and /var/lib/edge-agent (data destroyed)"
  exit 0
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "install.sh: python3 is $(python3 -V 2>&1); edge-agent needs 3.11 or newer" >&2; exit 2; }
# onnxruntime publishes no 32-bit ARM wheel: on 32-bit Raspberry Pi OS (a
# 64-bit kernel, so uname -m says aarch64) pip would fail late and vaguely.
python3 -c 'import struct, sys; sys.exit(struct.calcsize("P") != 8)' || {
  echo "install.sh: python3 is a 32-bit build; edge-agent needs a 64-bit OS (Raspberry Pi OS 64-bit, Debian arm64 or amd64)" >&2
  exit 2
}
if ! python3 -c 'import ensurepip' 2>/dev/null; then
  [ $system -eq 1 ] || { echo "install.sh: python3-venv is missing (apt-get install python3-venv)" >&2; exit 2; }
  say "installing python3-venv"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi

# The service's own system user: no login, no home of its own beyond its data,
# in `video` for /dev/video* (the unit's DeviceAllow= lets only that class through).
owner="" group=""
if [ $system -eq 1 ]; then
  if ! id "$user" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/edge-agent --no-create-home \
            --shell /usr/sbin/nologin --comment "edge-agent plate reader" "$user"
    say "created system user $user"
  fi
  getent group video >/dev/null && usermod -a -G video "$user"
  owner="$user" group="$user"
fi

# $1 mode, $2 owner:group ("" keeps the installing user), $3.. paths
own() { local mode="$1" who="$2"; shift 2; chmod "$mode" "$@"; [ -z "$who" ] || chown "$who" "$@"; }

mkdir -p "$etc/secrets" "$data" "$opt" "$(dirname "$unit")"
own 0750 "${group:+root:$group}" "$etc"
own 0700 "${owner:+root:root}" "$etc/secrets"
own 0700 "${owner:+$owner:$group}" "$data"

# Config and hot list are the technician's: written once, never overwritten.
if [ ! -e "$etc/agent.toml" ]; then
  cp "$src/deploy/agent.example.toml" "$etc/agent.toml"
  say "wrote $etc/agent.toml from the example: edit it, then: systemctl restart edge-agent"
fi
[ -e "$etc/hotlist.csv" ] || echo "plate,state,category,ref,expires" > "$etc/hotlist.csv"
own 0640 "${group:+root:$group}" "$etc/agent.toml" "$etc/hotlist.csv"
# The unit loads this as a credential, so it must exist even when unused.
[ -e "$etc/secrets/mqtt-password" ] || : > "$etc/secrets/mqtt-password"
own 0600 "${owner:+root:root}" "$etc/secrets/mqtt-password"

# The program: a virtual environment of its own, refreshed on every run.
[ -x "$opt/venv/bin/python" ] || python3 -m venv "$opt/venv"
"$opt/venv/bin/pip" install --quiet --disable-pip-version-check -c "$src/deploy/constraints.txt" "$src"
cp "$src/README.md" "$opt/README.md"
chmod -R go-w "$opt"

install -m 0644 "$src/systemd/edge-agent.service" "$unit"
if [ $use_systemd -eq 1 ]; then
  systemctl daemon-reload
  systemctl enable edge-agent.service >/dev/null
  if "$opt/venv/bin/edge-agent" check-config "$etc/agent.toml" >/dev/null 2>&1; then
    systemctl restart edge-agent.service
    say "edge-agent enabled and (re)started; see: edge-agent status, journalctl -u edge-agent"
  else
    say "edge-agent enabled; fix the config first: $opt/venv/bin/edge-agent check-config $etc/agent.toml"
  fi
else
  say "installed under ${prefix:-/} (systemd not touched)"
fi
