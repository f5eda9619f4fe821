#!/bin/sh
# Installs Debian packages when a program the tests need is missing:
#   ensure-package.sh PROGRAM PACKAGE...
# Idempotent and quiet when PROGRAM is already there. Needs root (or sudo) only when installing.
# Packages come without recommends (no daemons the tests do not use), and no system service is
# started or enabled: the tests run their own instances.
set -eu

program=$1
shift
name=$(basename "$0" .sh)

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "$name: need root to run: $*" >&2
    exit 1
  fi
}

[ -x "$program" ] && exit 0
echo "$name: installing $*" >&2
install_pkg() {
  as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >/dev/null
}
# A fresh machine's package lists may be empty or stale: refresh them only when the install fails.
if ! install_pkg "$@"; then
  as_root apt-get update -q >/dev/null
  install_pkg "$@"
fi
if [ ! -x "$program" ]; then
  echo "$name: $program still missing after installing $*" >&2
  exit 1
fi
