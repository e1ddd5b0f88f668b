#!/usr/bin/env bash
# Prove the plate reader on arm64 (Raspberry Pi 4 / Pi 5 class) from an x86-64
# Debian 12 host, under QEMU user-mode emulation: no chroot, no Pi, and the
# host's dpkg architectures are left alone.
#   deploy/arm64-check.sh [--photos N] [--cpu a72|a76|both] [--tests] [--env-only]
# Builds (once) an arm64 Python 3.11 from Debian bookworm's own arm64 packages
# plus the aarch64 wheels of deploy/constraints.txt, reads the same photos
# natively and emulated (deploy/arm64_reads.py) and compares the reads and the
# detector's probability maps pixel by pixel.
#   --photos N   the first N photos of endtoend/us (default 10)
#   --cpu        emulated CPU: a72 (Pi 4), a76 (Pi 5) or both (default both)
#   --detector   [reader] detector to read with: auto (default), int8, float
#   --tests      also run a few fast unit tests under emulation (ARM64_TESTS:
#                the test files, default four that need no broker)
#   --env-only   only build the arm64 environment
# ARM64_ROOT (default /var/tmp/edge-agent-arm64) holds the environment,
# ARM64_OUT (default $ARM64_ROOT/out) the results. Emulated runs need root:
# they bind-mount a fake ARM /proc/cpuinfo in a private mount namespace.
set -eEuo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="${ARM64_ROOT:-/var/tmp/edge-agent-arm64}"
OUT="${ARM64_OUT:-$ROOT/out}"
SYSROOT="$ROOT/sysroot" SITE="$ROOT/site" APTDIR="$ROOT/apt" LOGS="$ROOT/logs"
HOST_PY="${PYTHON:-$repo/.venv/bin/python}"; [ -x "$HOST_PY" ] || HOST_PY=python3

say() { echo "arm64-check: $*"; }
die() { echo "arm64-check: $*" >&2; exit 1; }
# An unexpected failure still ends in one line that names the command.
trap 'echo "arm64-check: failed (line $LINENO): $BASH_COMMAND" >&2' ERR

photos=10 cpus="a72 a76" tests=0 env_only=0 detector=auto
while [ $# -gt 0 ]; do
  case "$1" in
    --photos) [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "--photos needs a number"; photos="$2"; shift ;;
    --cpu) case "${2:-}" in a72|a76) cpus="$2" ;; both) cpus="a72 a76" ;;
             *) die "--cpu must be a72, a76 or both" ;; esac; shift ;;
    --detector) case "${2:-}" in auto|int8|float) detector="$2" ;;
                  *) die "--detector must be auto, int8 or float" ;; esac; shift ;;
    --tests) tests=1 ;;
    --env-only) env_only=1 ;;
    -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option: $1 (see --help)" ;;
  esac
  shift
done
sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
[ $env_only -eq 1 ] || [ -z "$sudo" ] ||
  die "not root: emulated runs bind-mount a fake /proc/cpuinfo in a private mount namespace; rerun with sudo (or use --env-only)"
mkdir -p "$ROOT" "$LOGS" "$OUT"
# Runs a noisy step with its output in a log; on failure, one line pointing at it.
logged() { local log="$LOGS/$1.log"; shift; "$@" >"$log" 2>&1 || die "${*:1:3} failed; see $log"; }

# --- 1. QEMU ----------------------------------------------------------------
if ! command -v qemu-aarch64-static >/dev/null; then
  say "installing qemu-user-static (host apt)"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -qq qemu-user-static >"$LOGS/qemu.log" 2>&1 ||
    { $sudo apt-get update -qq && $sudo apt-get install -y -qq qemu-user-static; } >>"$LOGS/qemu.log" 2>&1 ||
    die "apt-get install qemu-user-static failed; see $LOGS/qemu.log"
fi
qemu_cpus="$(qemu-aarch64-static -cpu help 2>&1 || true)"  # it exits 1 after listing
for c in $cpus; do
  grep -qw "cortex-$c" <<<"$qemu_cpus" || die "$(qemu-aarch64-static --version | head -1) has no cpu cortex-$c"
done

# --- 2. arm64 sysroot from Debian's packages --------------------------------
# apt runs on private state, cache and sources (APT_CONFIG), told that arm64 is
# the only architecture, so nothing of the host's dpkg or apt changes.
apt_setup() {
  mkdir -p "$APTDIR"/{etc/apt.conf.d,etc/preferences.d,etc/sources.list.d,state/lists/partial,cache/archives/partial,debs}
  cat >"$APTDIR/apt.conf" <<EOF
Dir::Etc "$APTDIR/etc";
Dir::State "$APTDIR/state";
Dir::State::status "$APTDIR/state/status";
Dir::Cache "$APTDIR/cache";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Install-Recommends "false";
Acquire::Languages "none";
Debug::NoLocking "true";
EOF
  cat >"$APTDIR/etc/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  : >>"$APTDIR/state/status"
}
xapt() { APT_CONFIG="$APTDIR/apt.conf" "$@"; }
# The interpreter, its standard library's extension modules, and the C/C++
# runtime the manylinux wheels link against (they bundle everything else).
roots="python3.11-minimal libpython3.11-stdlib libc6 libstdc++6 libgcc-s1 libgomp1"
if [ ! -x "$SYSROOT/usr/bin/python3.11" ] || [ "$(cat "$ROOT/.sysroot-done" 2>/dev/null)" != "$roots" ]; then
  say "building the arm64 sysroot in $SYSROOT (Debian bookworm arm64 packages)"
  apt_setup
  logged apt-update xapt apt-get update
  # Every real package the roots depend on, recursively (virtual names come
  # in <...>; recommends and suggests are not needed to run).
  xapt apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
      --no-replaces --no-enhances $roots 2>"$LOGS/depends.log" | grep -E '^[a-z0-9]' | sort -u >"$ROOT/packages.txt" ||
    die "apt-cache depends failed; see $LOGS/depends.log"
  rm -f "$APTDIR"/debs/*.deb; cd "$APTDIR/debs"; logged apt-download xapt apt-get download $(cat "$ROOT/packages.txt"); cd "$repo"
  rm -rf "$SYSROOT"; mkdir -p "$SYSROOT"
  for deb in "$APTDIR"/debs/*_arm64.deb "$APTDIR"/debs/*_all.deb; do
    if [ -e "$deb" ]; then dpkg-deb -x "$deb" "$SYSROOT"; fi
  done
  # Debian's site.py adds /usr/lib/python3/dist-packages: QEMU's -L falls back
  # to the host's path when the sysroot lacks one, so empty ones hide the host's.
  mkdir -p "$SYSROOT/usr/lib/python3/dist-packages" "$SYSROOT/usr/local/lib/python3.11/dist-packages"
  rm -f "$APTDIR"/debs/*.deb; xapt apt-get clean  # extracted; a rebuild fetches them again
  echo "$roots" >"$ROOT/.sysroot-done"
fi

# --- 3. aarch64 wheels --------------------------------------------------------
# Every manylinux tag bookworm's glibc (2.36) accepts, as pip on a Pi would.
plat=(--platform manylinux2014_aarch64)
for m in $(seq 17 36); do plat+=(--platform "manylinux_2_${m}_aarch64"); done
# The project's own requirements (runtime and test), pinned by constraints.txt.
mapfile -t reqs < <("$HOST_PY" -c 'import tomllib; p = tomllib.load(open("'"$repo"'/pyproject.toml", "rb"))["project"]
print(*p["dependencies"], *p["optional-dependencies"]["test"], sep="\n")')
stamp="$(cat "$repo/deploy/constraints.txt" "$repo/pyproject.toml" | sha256sum | cut -c1-16)"
if [ "$(cat "$SITE/.done" 2>/dev/null)" != "$stamp" ]; then
  say "installing aarch64 cp311 wheels into $SITE"
  rm -rf "$SITE"
  pipx() { "$HOST_PY" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "${plat[@]}" \
           --python-version 3.11 --implementation cp --abi cp311 --target "$SITE" -c "$repo/deploy/constraints.txt" "$@"; }
  # rapidocr only carries the model files (edge_agent/vision/onnx_models.py model_path), and
  # `import rapidocr` needs none of its own dependencies: no deps for it.
  logged pip-wheels pipx $(printf '%s\n' "${reqs[@]}" | grep -v '^rapidocr' | tr -d ' ')
  logged pip-rapidocr pipx --upgrade --no-deps "$(printf '%s\n' "${reqs[@]}" | grep '^rapidocr' | tr -d ' ')"
  echo "$stamp" >"$SITE/.done"
fi

# Every shared library a wheel or the interpreter asks for must be in the
# sysroot or bundled in a wheel (*.libs/): catches a missing Debian package.
missing="$({ find "$SITE" "$SYSROOT/usr/bin" "$SYSROOT/usr/lib/python3.11/lib-dynload" -type f \
  \( -name '*.so*' -o -name 'python3.11' \) -exec readelf -d {} + 2>/dev/null || true; } | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u |
  while read -r lib; do
    [ -e "$SYSROOT/lib/aarch64-linux-gnu/$lib" ] || [ -e "$SYSROOT/usr/lib/aarch64-linux-gnu/$lib" ] ||
      [ -e "$SYSROOT/lib/$lib" ] || [ -n "$(find "$SITE" -name "$lib" -print -quit)" ] || echo "$lib"
  done)"
[ -z "$missing" ] || die "shared libraries missing from the sysroot: $(echo $missing)"
say "environment ready: $(du -sh "$ROOT" --exclude=out | cut -f1) in $ROOT ($(qemu-aarch64-static --version | head -1))"
[ $env_only -eq 1 ] && exit 0

# --- 4. reads: native, then emulated ------------------------------------------
# QEMU 7.2 shows the guest the host's x86 /proc/cpuinfo, on which onnxruntime's
# cpuinfo library crashes at import. A Pi's own text for it, per CPU:
fake_cpuinfo() {  # $1: a72|a76
  local f="$ROOT/cpuinfo-$1" features part variant revision model
  if [ "$1" = a72 ]; then  # Pi 4: BCM2711, Cortex-A72 r0p3, no crypto extension
    features="fp asimd evtstrm crc32 cpuid" part=0xd08 variant=0x0 revision=3 model="Raspberry Pi 4 Model B Rev 1.5"
  else                     # Pi 5: BCM2712, Cortex-A76 r4p1
    features="fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp"
    part=0xd0b variant=0x4 revision=1 model="Raspberry Pi 5 Model B Rev 1.0"
  fi
  : >"$f"
  for i in 0 1 2 3; do
    printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: %s\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: %s\nCPU part\t: %s\nCPU revision\t: %s\n\n' \
      "$i" "$features" "$variant" "$part" "$revision" >>"$f"
  done
  printf 'Revision\t: 0\nSerial\t\t: 0000000000000000\nModel\t\t: %s\n' "$model" >>"$f"
  echo "$f"
}
# The arm64 python, as the given CPU, with the fake cpuinfo over /proc/cpuinfo
# in a mount namespace of its own (the host's stays as it is).
arm_python() {  # $1: a72|a76, then python's arguments
  local cpu="$1"; shift
  unshare -m sh -c 'mount --bind "$0" /proc/cpuinfo && exec "$@"' "$(fake_cpuinfo "$cpu")" \
    env QEMU_CPU="cortex-$cpu" PYTHONPATH="$SITE:$repo" PYTHONPYCACHEPREFIX="$ROOT/pycache" \
    qemu-aarch64-static -L "$SYSROOT" "$SYSROOT/usr/bin/python3.11" "$@"
}
arm_python "${cpus%% *}" -c 'import platform, onnxruntime, cv2, numpy; assert platform.machine() == "aarch64"' \
  >"$LOGS/smoke.log" 2>&1 || die "the emulated python cannot import onnxruntime/cv2/numpy; see $LOGS/smoke.log"

reads="$repo/deploy/arm64_reads.py"
say "reading $photos photo(s) natively (x86-64, $HOST_PY)"
"$HOST_PY" "$reads" --photos "$photos" --detector "$detector" --out "$OUT/x86.json" || die "native read failed"
status=0
for c in $cpus; do
  say "reading $photos photo(s) as aarch64 cortex-$c under QEMU (slow: emulated)"
  arm_python "$c" "$reads" --photos "$photos" --detector "$detector" --out "$OUT/$c.json" || die "emulated read (cortex-$c) failed"
done
for c in $cpus; do
  echo; say "x86-64 native vs aarch64 cortex-$c (QEMU):"
  "$HOST_PY" "$reads" --compare "$OUT/x86.json" "$OUT/$c.json" || status=1
done
echo; say "the detector's time, INT8 against float (interleaved, so the ratio holds on a loaded host):"
"$HOST_PY" "$reads" --photos 1 --time-detectors 5 || die "native detector timing failed"
for c in $cpus; do
  echo "  cortex-$c (QEMU):"
  arm_python "$c" "$reads" --photos 1 --time-detectors 3 || die "emulated detector timing (cortex-$c) failed"
done
echo; say "seconds on QEMU are emulation time on this host, not a Pi's"

if [ $tests -eq 1 ]; then
  # Fast tests (~3 s natively) of pure code plus the recognizer model; none
  # needs mosquitto, the network, or a subprocess (QEMU runs only this one:
  # -n 0, no test processes of pytest-xdist beside it).
  read -ra test_files <<<"${ARM64_TESTS:-tests/test_plate_formats.py tests/test_consensus.py tests/test_track.py tests/test_ctc.py}"
  for c in $cpus; do
    say "unit tests under emulation, cortex-$c: ${test_files[*]}"
    (cd "$repo" && arm_python "$c" -m pytest -q -p no:cacheprovider -n 0 "${test_files[@]}") ||
      { say "tests failed on cortex-$c"; status=1; }
  done
fi
[ $status -eq 0 ] || die "arm64 results differ from x86-64 or tests failed (see above)"
say "results in $OUT"
