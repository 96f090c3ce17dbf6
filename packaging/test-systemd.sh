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
systemd-nspawn --boot --quiet --register=no --keep-unit --directory="$ROOT" --machine=ringtail-test >/tmp/nspawn-console.log 2>&1 &
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
ct() { nsenter --target "$LEADER" --all -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"; }
for _ in $(seq 1 100); do
  st=$(ct systemctl is-system-running --wait 2>/dev/null || true)
  case "$st" in running|degraded) break ;; esac
  sleep 0.1
done
echo "system: $st"
ct cat /proc/1/comm | sed 's/^/PID 1 in the container: /'

# A tree reused from an earlier run: start from no package and no data.
ct dpkg -P ringtail >/dev/null 2>&1 || true
rm -rf "$ROOT/etc/systemd/system/ringtail.service.d"

say "install $(basename "$DEB")"
ct dpkg -i /root/ringtail.deb
echo "is-enabled: $(ct systemctl is-enabled ringtail || true)  is-active: $(ct systemctl is-active ringtail || true)"
[ "$(ct systemctl is-active ringtail || true)" = inactive ] || fail "install started the service"

say "systemd-analyze verify and security"
ct systemd-analyze verify /usr/lib/systemd/system/ringtail.service && echo "verify: ok"
ct systemd-analyze security ringtail --no-pager | tail -1

say "systemctl start ringtail"
ct systemctl start ringtail
ct systemctl status ringtail --no-pager -n 0 | sed -n '1,6p'
ct systemctl show ringtail -p Type -p NotifyAccess -p WatchdogUSec -p StatusText -p MainPID -p NRestarts

say "kcat produces 500 records and consumes them"
ct sh -c 'seq 1 500 | sed s/^/rec-/ | kcat -b 127.0.0.1:9092 -t systemd-test -P'
N=$(ct sh -c 'kcat -b 127.0.0.1:9092 -t systemd-test -C -o beginning -e -q | grep -c ^rec-')
echo "consumed $N"; [ "$N" = 500 ] || fail "want 500"
ct curl -s http://127.0.0.1:9644/metrics | grep -E '^ringtail_(build_info|topic_records_in_total|io_fsyncs_total)' | head -5
echo "ready: $(ct curl -s http://127.0.0.1:9644/v1/status/ready) live: $(ct curl -s http://127.0.0.1:9644/v1/status/live)"

say "systemctl reload ringtail (SIGHUP)"
ct sed -i 's/^# log_level = "info"/log_level = "debug"/' /etc/ringtail/server.toml
ct systemctl reload ringtail
ct journalctl -u ringtail --no-pager -o cat | grep 'SIGHUP' | tail -1

say "systemctl stop ringtail: clean shutdown"
ct systemctl stop ringtail
ct journalctl -u ringtail --no-pager -o short-monotonic | grep -E 'shutting down|shutdown complete|Stopped|Deactivated' | tail -4
grep -q 'shutdown complete' <<<"$(ct journalctl -u ringtail --no-pager -o cat)" || fail "no clean shutdown in the journal"

say "systemctl start ringtail: no recovery scan"
ct systemctl start ringtail
ct journalctl -u ringtail --no-pager -o cat | grep 'storage opened' | tail -1
grep 'storage opened' <<<"$(ct journalctl -u ringtail --no-pager -o cat)" | tail -1 | grep -q 'clean_shutdown=true rescanned=0' || fail "second start rescanned"

say "systemctl kill -s SIGKILL ringtail: systemd restarts it"
OLD=$(ct systemctl show ringtail -p MainPID --value)
ct systemctl kill -s SIGKILL ringtail
for _ in $(seq 1 300); do
  NEW=$(ct systemctl show ringtail -p MainPID --value)
  [ "$(ct systemctl is-active ringtail || true)" = active ] && [ "$NEW" != 0 ] && [ "$NEW" != "$OLD" ] && break
  sleep 0.1
done
echo "MainPID $OLD -> $NEW, $(ct systemctl show ringtail -p NRestarts)"
[ "$NEW" != "$OLD" ] || fail "not restarted"
ct journalctl -u ringtail --no-pager -o cat | grep -E 'Main process exited|Scheduled restart|storage opened' | tail -3
N=$(ct sh -c 'kcat -b 127.0.0.1:9092 -t systemd-test -C -o beginning -e -q | grep -c ^rec-')
echo "consumed after SIGKILL and restart: $N"; [ "$N" = 500 ] || fail "want 500 after restart"

say "journal: no timestamps from ringtail itself under journald"
ct journalctl -u ringtail --no-pager -o cat | grep 'ringtail ready' | tail -1

say "watchdog: pings arrive; a stalled shard (test-only fault hook) gets the service restarted"
ct mkdir -p /etc/systemd/system/ringtail.service.d
printf '[Service]\nEnvironment=RINGTAIL_TEST_FAULTS=1\nWatchdogSec=6s\n' >"$ROOT/etc/systemd/system/ringtail.service.d/test-faults.conf"
ct systemctl daemon-reload
ct systemctl restart ringtail
W1=$(ct systemctl show ringtail -p WatchdogTimestampMonotonic --value)
for _ in $(seq 1 100); do
  W2=$(ct systemctl show ringtail -p WatchdogTimestampMonotonic --value)
  [ "$W2" != "$W1" ] && break
  sleep 0.1
done
echo "WatchdogTimestampMonotonic $W1 -> $W2 (pings arrive)"; [ "$W2" != "$W1" ] || fail "no watchdog pings"
R1=$(ct systemctl show ringtail -p NRestarts --value)
ct curl -s -X POST 'http://127.0.0.1:9644/debug/fault/stall-shard?shard=0'
for _ in $(seq 1 600); do
  R2=$(ct systemctl show ringtail -p NRestarts --value)
  [ "$R2" != "$R1" ] && break
  sleep 0.1
done
echo "NRestarts $R1 -> $R2"; [ "$R2" != "$R1" ] || fail "stalled shard did not get the service restarted"
ct journalctl -u ringtail --no-pager -o cat | grep -E 'health check failed|Watchdog timeout|Killing process|Main process exited|Scheduled restart' | tail -5
rm "$ROOT/etc/systemd/system/ringtail.service.d/test-faults.conf"
ct systemctl daemon-reload
ct systemctl restart ringtail
N=$(ct sh -c 'kcat -b 127.0.0.1:9092 -t systemd-test -C -o beginning -e -q | grep -c ^rec-')
echo "consumed after the watchdog restart: $N"; [ "$N" = 500 ] || fail "want 500 after the watchdog restart"

ct systemctl stop ringtail
ct systemctl poweroff || true
wait $NSPAWN || true
trap - EXIT
echo "PASS"
