#!/bin/sh
# Runs after the files are removed.
#   deb: $1 = remove, purge, upgrade, ...
#   rpm: $1 = 0 on erase, 1 or more on upgrade
# The data in /var/lib/ringtail is deleted only on purge (dpkg --purge,
# apt purge); rpm has no purge, so an erased rpm leaves the data.
set -e

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi
if [ "$1" = "purge" ]; then
  rm -rf /var/lib/ringtail
  rm -rf /etc/ringtail
  # The ringtail user stays, as Debian leaves system users: files it owned
  # elsewhere must not fall to a later user with its uid.
fi
exit 0
