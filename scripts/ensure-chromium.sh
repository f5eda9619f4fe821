#!/bin/sh
# Makes sure Debian's Chromium is installed for the browser tests (test/browser/, driven by
# playwright-core, which never downloads a browser of its own). Idempotent and quiet when chromium
# is already there. Needs root (or sudo) only when installing.
set -eu

CHROMIUM=/usr/bin/chromium

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "ensure-chromium: need root to run: $*" >&2
    exit 1
  fi
}

if [ ! -x "$CHROMIUM" ]; then
  echo "ensure-chromium: installing chromium" >&2
  # Without recommends (no avahi or CUPS daemons); a font so that screenshots show text.
  install_pkg() {
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold chromium fonts-liberation \
      >/dev/null
  }
  # A fresh machine's package lists may be empty or stale: refresh them only when the install fails.
  if ! install_pkg; then
    as_root apt-get update -q >/dev/null
    install_pkg
  fi
  if [ ! -x "$CHROMIUM" ]; then
    echo "ensure-chromium: $CHROMIUM still missing after installing chromium" >&2
    exit 1
  fi
fi
