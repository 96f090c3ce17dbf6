#!/bin/sh
# Runs after the files are unpacked, on install and on upgrade.
#   deb: $1 = configure, $2 = the version configured before ("" on install)
#   rpm: $1 = 1 on install, 2 or more on upgrade
# Install: create the user and data dir, enable the service, do not start
# it (the operator edits /etc/ringtail/server.toml first). Upgrade: restart
# the service only if it was running.
set -e

case "$1" in
  configure) if [ -n "$2" ]; then action=upgrade; else action=install; fi ;;
  1) action=install ;;
  [0-9]*) action=upgrade ;;
  *) exit 0 ;; # abort-upgrade, abort-remove, ...: nothing to redo
esac

if command -v systemd-sysusers >/dev/null 2>&1; then
  systemd-sysusers /usr/lib/sysusers.d/ringtail.conf
elif ! getent passwd ringtail >/dev/null; then
  useradd --system --user-group --home-dir /var/lib/ringtail --no-create-home \
    --shell /usr/sbin/nologin --comment "Ringtail broker" ringtail
fi
if command -v systemd-tmpfiles >/dev/null 2>&1; then
  systemd-tmpfiles --create /usr/lib/tmpfiles.d/ringtail.conf
else
  install -d -m 0750 -o ringtail -g ringtail /var/lib/ringtail
fi
# The service reads its config as the ringtail user; others may not.
chgrp ringtail /etc/ringtail/server.toml
chmod 0640 /etc/ringtail/server.toml

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
case "$action" in
  install)
    # Enable for the next boot (works without a running systemd too).
    if command -v systemctl >/dev/null 2>&1; then
      systemctl enable ringtail.service >/dev/null 2>&1 || true
    fi
    ;;
  upgrade)
    # try-restart restarts the service only if it is running.
    if [ -d /run/systemd/system ]; then
      systemctl try-restart ringtail.service
    fi
    ;;
esac
exit 0
