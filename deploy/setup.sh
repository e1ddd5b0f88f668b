#!/usr/bin/env bash
# Install edge-agent into ./.venv on Debian 12 or Raspberry Pi OS (64-bit).
#   deploy/setup.sh          the agent and its demo
#   deploy/setup.sh --test   the same plus the test tools
# Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

extras=()
for arg in "$@"; do
  case "$arg" in
    --test) extras+=(test) ;;
    *) echo "setup.sh: unknown option: $arg (use --test)" >&2; exit 2 ;;
  esac
done

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "setup.sh: python3 is $(python3 -V 2>&1); edge-agent needs 3.11 or newer (Debian 12 / Pi OS bookworm)" >&2
  exit 2
}

# onnxruntime publishes no 32-bit ARM wheel: on 32-bit Raspberry Pi OS (a
# 64-bit kernel, so uname -m says aarch64) pip would fail late and vaguely.
python3 -c 'import struct, sys; sys.exit(struct.calcsize("P") != 8)' || {
  echo "setup.sh: python3 is a 32-bit build; edge-agent needs a 64-bit OS (Raspberry Pi OS 64-bit, Debian arm64 or amd64)" >&2
  exit 2
}

# System packages: venv support, and mosquitto, which the demo and the tests
# start privately on a loopback port (a unit itself needs no local broker).
apt_pkgs=()
python3 -c 'import ensurepip' 2>/dev/null || apt_pkgs+=(python3-venv)
command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ] || apt_pkgs+=(mosquitto)
# The tests score and verify the service unit with systemd-analyze (package systemd).
# Tests of rendered plates draw them in DejaVu fonts (package fonts-dejavu-core).
# The fault tests set a command's clock wrong with faketime (package faketime).
if [[ " ${extras[*]} " == *" test "* ]]; then
  command -v systemd-analyze >/dev/null || apt_pkgs+=(systemd)
  [ -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] || apt_pkgs+=(fonts-dejavu-core)
  command -v faketime >/dev/null || apt_pkgs+=(faketime)
fi
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "setup.sh: installing ${apt_pkgs[*]} with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_pkgs[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
spec="."
if [ ${#extras[@]} -gt 0 ]; then spec=".[$(IFS=,; echo "${extras[*]}")]"; fi
.venv/bin/pip install --quiet --disable-pip-version-check -c deploy/constraints.txt -e "$spec"
echo "setup.sh: ready: .venv/bin/edge-agent"
