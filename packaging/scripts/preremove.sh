#!/bin/sh
# Runs before the files are removed.
#   deb: $1 = remove, upgrade, deconfigure, failed-upgrade
#   rpm: $1 = 0 on erase, 1 or more on upgrade
# On removal stop and disable the service; on upgrade leave it running
# (postinstall of the new version restarts it).
set -e

case "$1" in
  remove|deconfigure|0) ;;
  *) exit 0 ;;
esac
if [ -d /run/systemd/system ]; then
  systemctl stop ringtail.service || true
fi
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable ringtail.service >/dev/null 2>&1 || true
fi
exit 0
