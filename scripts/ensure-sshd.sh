#!/bin/sh
# Makes sure Debian's OpenSSH server is installed for the SFTP tests (test/support/sshd.ts starts
# its own sshd on 127.0.0.1 with a private config; nothing here enables or starts a system service).
# Idempotent and quiet when sshd is already there. Needs root (or sudo) only when installing.
set -eu

SSHD=/usr/sbin/sshd

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    echo "ensure-sshd: need root to run: $*" >&2
    exit 1
  fi
}

if [ ! -x "$SSHD" ]; then
  echo "ensure-sshd: installing openssh-server" >&2
  export DEBIAN_FRONTEND=noninteractive
  # Do not start or enable the system service: the tests run their own instance.
  install_pkg() {
    as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -q --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold openssh-server \
      >/dev/null
  }
  if ! install_pkg; then
    as_root apt-get update -q >/dev/null
    install_pkg
  fi
  if [ ! -x "$SSHD" ]; then
    echo "ensure-sshd: $SSHD still missing after installing openssh-server" >&2
    exit 1
  fi
fi

# sshd refuses to start without its privilege-separation directory.
if [ ! -d /run/sshd ]; then
  as_root mkdir -p /run/sshd
  as_root chmod 0755 /run/sshd
fi
