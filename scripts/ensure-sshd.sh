#!/bin/sh
# Makes sure Debian's OpenSSH server is installed for the SFTP tests (test/support/sshd.ts starts
# its own sshd on 127.0.0.1 with a private config; nothing here enables or starts a system service).
set -eu
here=$(dirname "$0")
sh "$here/ensure-package.sh" /usr/sbin/sshd openssh-server

# sshd refuses to start without its privilege-separation directory.
if [ ! -d /run/sshd ]; then
  if [ "$(id -u)" -eq 0 ]; then mkdir -p /run/sshd && chmod 0755 /run/sshd
  else sudo -n mkdir -p /run/sshd && sudo -n chmod 0755 /run/sshd
  fi
fi
