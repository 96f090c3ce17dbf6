#!/bin/bash
# Manual acceptance run (not in `make test`): boot a Debian 12 tree with
# systemd as PID 1 under systemd-nspawn --boot, install the .deb inside, and
# drive the service with systemctl: start, produce and consume with kcat,
# stop (clean shutdown in the journal), start (no recovery scan),
# SIGKILL (systemd restarts it, data intact), reload, and the unit's
# security score. Run as root on Debian with systemd-container and
# debootstrap installed; the tree is made once in $ROOT (about 300 MB).
#
# The host need not run systemd: commands go into the container with
# nsenter, and the container shares the host's network (ports 9092, 9093
# and 9644 on loopback must be free).
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=${ROOT:-/var/tmp/rt-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
DEB=${DEB:-$(ls -t dist/ringtail_*_amd64.deb | head -1)}
say() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*"; exit 1; }

if [ ! -x "$ROOT/lib/systemd/systemd" ]; then
  say "debootstrap bookworm into $ROOT"
  debootstrap --include=systemd,systemd-sysv,dbus,kcat,curl,ca-certificates bookworm "$ROOT" "$MIRROR"
fi
cp "$DEB" "$ROOT/root/ringtail.deb"
rm -f "$ROOT/etc/machine-id"; : >"$ROOT/etc/machine-id"

say "boot $ROOT with systemd-nspawn --boot"
systemd-nspawn --boot --quiet --directory="$ROOT" --machine=ringtail-test >/tmp/nspawn-console.log 2>&1 &
NSPAWN=$!
trap 'kill -TERM $NSPAWN 2>/dev/null; wait $NSPAWN 2>/dev/null' EXIT
LEADER=
for _ in $(seq 1 300); do
  LEADER=$(pgrep -P "$NSPAWN" | head -1 || true)
  [ -n "$LEADER" ] && [ "$(cat /proc/$LEADER/comm 2>/dev/null)" = systemd ] && break
  kill -0 "$NSPAWN" 2>/dev/null || fail "nspawn exited: $(tail -20 /tmp/nspawn-console.log)"
  sleep 0.1
done
[ -n "$LEADER" ] || fail "no container init"
in() { nsenter --target "$LEADER" --all -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
in systemctl is-system-running --wait || true
in cat /proc/1/comm | sed 's/^/PID 1 in the container: /'

say "install $(basename "$DEB")"
in dpkg -i /root/ringtail.deb
echo "is-enabled: $(in systemctl is-enabled ringtail || true)  is-active: $(in systemctl is-active ringtail || true)"
[ "$(in systemctl is-active ringtail || true)" = inactive ] || fail "install started the service"

say "systemd-analyze verify and security"
in systemd-analyze verify /usr/lib/systemd/system/ringtail.service && echo "verify: ok"
in systemd-analyze security ringtail --no-pager | tail -1

say "systemctl start ringtail"
in systemctl start ringtail
in systemctl status ringtail --no-pager -n 0 | sed -n '1,6p'
in systemctl show ringtail -p Type -p NotifyAccess -p WatchdogUSec -p StatusText -p MainPID -p NRestarts

say "kcat produces 500 records and consumes them"
in sh -c 'seq 1 500 | sed s/^/rec-/ | kcat -b 127.0.0.1:9092 -t systemd-test -P'
N=$(in sh -c 'kcat -b 127.0.0.1:9092 -t systemd-test -C -o beginning -e -q | grep -c ^rec-')
echo "consumed $N"; [ "$N" = 500 ] || fail "want 500"
in curl -s http://127.0.0.1:9644/metrics | grep -E '^ringtail_(build_info|topic_records_in_total|io_fsyncs_total)' | head -5
echo "ready: $(in curl -s http://127.0.0.1:9644/v1/status/ready) live: $(in curl -s http://127.0.0.1:9644/v1/status/live)"

say "systemctl reload ringtail (SIGHUP)"
in sed -i 's/^# log_level = "info"/log_level = "debug"/' /etc/ringtail/server.toml
in systemctl reload ringtail
in journalctl -u ringtail --no-pager -o cat | grep 'SIGHUP' | tail -1

say "systemctl stop ringtail: clean shutdown"
in systemctl stop ringtail
in journalctl -u ringtail --no-pager -o short-monotonic | grep -E 'shutting down|shutdown complete|Stopped|Deactivated' | tail -4
in journalctl -u ringtail --no-pager -o cat | grep -q 'shutdown complete' || fail "no clean shutdown in the journal"

say "systemctl start ringtail: no recovery scan"
in systemctl start ringtail
in journalctl -u ringtail --no-pager -o cat | grep 'storage opened' | tail -1
in journalctl -u ringtail --no-pager -o cat | grep 'storage opened' | tail -1 | grep -q 'clean_shutdown=true rescanned=0' || fail "second start rescanned"

say "systemctl kill -s SIGKILL ringtail: systemd restarts it"
OLD=$(in systemctl show ringtail -p MainPID --value)
in systemctl kill -s SIGKILL ringtail
for _ in $(seq 1 300); do
  NEW=$(in systemctl show ringtail -p MainPID --value)
  [ "$(in systemctl is-active ringtail || true)" = active ] && [ "$NEW" != 0 ] && [ "$NEW" != "$OLD" ] && break
  sleep 0.1
done
echo "MainPID $OLD -> $NEW, $(in systemctl show ringtail -p NRestarts)"
[ "$NEW" != "$OLD" ] || fail "not restarted"
in journalctl -u ringtail --no-pager -o cat | grep -E 'Main process exited|Scheduled restart|storage opened' | tail -3
N=$(in sh -c 'kcat -b 127.0.0.1:9092 -t systemd-test -C -o beginning -e -q | grep -c ^rec-')
echo "consumed after SIGKILL and restart: $N"; [ "$N" = 500 ] || fail "want 500 after restart"

say "journal: no timestamps from ringtail itself under journald"
in journalctl -u ringtail --no-pager -o cat | grep 'ringtail ready' | tail -1

in systemctl stop ringtail
in systemctl poweroff || true
wait $NSPAWN || true
trap - EXIT
echo "PASS"
