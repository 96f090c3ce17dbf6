#!/bin/bash
# Manual acceptance run (not in `make test`): on this Debian machine, as
# root, build two versions of the .deb, install the first, edit its config
# and write data with a node started by hand as the ringtail user, upgrade
# to the second, check that the edited config and the data survived, then
# remove (data kept) and purge (data gone). Needs kcat, dpkg, lintian; it
# installs and purges the package `ringtail` on this machine.
#
# Without systemd as PID 1 the maintainer scripts skip daemon-reload and
# try-restart (they test /run/systemd/system); test-systemd.sh covers the
# service itself.
set -euo pipefail
cd "$(dirname "$0")/.."

V1=${V1:-0.1.0} V2=${V2:-0.2.0}
PORT=29092 CPORT=29093 APORT=29644
say() { printf '\n== %s\n' "$*"; }
fail() { echo "FAIL: $*"; exit 1; }

say "build $V1 and $V2"
make -s deb VERSION="$V1" >/dev/null && cp "dist/ringtail_${V1}_amd64.deb" /tmp/
make -s deb VERSION="$V2" >/dev/null && cp "dist/ringtail_${V2}_amd64.deb" /tmp/
make -s rpm VERSION="$V2" >/dev/null
for v in "$V1" "$V2"; do
  echo "lintian ringtail_${v}_amd64.deb:"
  L=$(lintian "/tmp/ringtail_${v}_amd64.deb" 2>/dev/null || true)
  sed 's/^/  /' <<<"$L"
  if grep -q '^E:' <<<"$L"; then fail "lintian errors"; fi
done
echo "rpm -qpl:"; rpm -qpl "dist/ringtail-${V2}-1.x86_64.rpm" | sed 's/^/  /'
echo "rpm scripts:"; rpm -qp --scripts "dist/ringtail-${V2}-1.x86_64.rpm" | grep -c . | sed 's/^/  lines: /'

dpkg -P ringtail >/dev/null 2>&1 || true
rm -rf /var/lib/ringtail /etc/ringtail

say "install $V1"
dpkg -i "/tmp/ringtail_${V1}_amd64.deb"
dpkg -s ringtail | grep -E '^(Status|Version):'
getent passwd ringtail || fail "no ringtail user"
stat -c '%n %a %U:%G' /var/lib/ringtail /etc/ringtail/server.toml
[ "$(stat -c %a:%U /var/lib/ringtail)" = "750:ringtail" ] || fail "/var/lib/ringtail is not 0750 ringtail"
ls -l /etc/systemd/system/multi-user.target.wants/ringtail.service || fail "not enabled"
/usr/bin/ringtail config check /etc/ringtail/server.toml

say "edit the config: listeners on $PORT/$CPORT, admin on $APORT"
cat >>/etc/ringtail/server.toml <<TOML

# test-install.sh: an operator's edit that must survive the upgrade.
TOML
sed -i \
  -e "s|^# listeners = .*|listeners = \"PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CPORT\"|" \
  -e "s|^# advertised.listeners = .*|advertised.listeners = \"PLAINTEXT://127.0.0.1:$PORT\"|" \
  -e "s|^# controller.quorum.voters = .*|controller.quorum.voters = \"1@127.0.0.1:$CPORT\"|" \
  -e "s|^# admin_listen = .*|admin_listen = \"127.0.0.1:$APORT\"|" /etc/ringtail/server.toml
/usr/bin/ringtail config check /etc/ringtail/server.toml
SUM=$(md5sum /etc/ringtail/server.toml | cut -d' ' -f1)

PID=
start_node() {
  setpriv --reuid ringtail --regid ringtail --clear-groups -- /usr/bin/ringtail serve --config /etc/ringtail/server.toml >>/tmp/ringtail-test-install.log 2>&1 &
  PID=$!
  for _ in $(seq 1 300); do
    if curl -sf "http://127.0.0.1:$APORT/v1/status/ready" >/dev/null; then return 0; fi
    kill -0 "$PID" 2>/dev/null || fail "node exited: $(tail -5 /tmp/ringtail-test-install.log)"
    sleep 0.1
  done
  fail "node not ready"
}
stop_node() { kill -TERM "$PID"; wait "$PID" || fail "node exited with $? after SIGTERM"; }
: >/tmp/ringtail-test-install.log

say "write 1000 records with $V1 (run by hand as the ringtail user)"
start_node
curl -s "http://127.0.0.1:$APORT/metrics" | grep '^ringtail_build_info'
seq 1 1000 | sed 's/^/record-/' | kcat -b 127.0.0.1:$PORT -t upgrade-test -P
stop_node
du -sh /var/lib/ringtail; ls /var/lib/ringtail | head -3

say "upgrade to $V2"
dpkg -i "/tmp/ringtail_${V2}_amd64.deb"
dpkg -s ringtail | grep -E '^(Status|Version):'
[ "$(md5sum /etc/ringtail/server.toml | cut -d' ' -f1)" = "$SUM" ] || fail "edited config changed by the upgrade"
echo "edited config kept (md5 $SUM)"
ls /etc/ringtail/

say "read the records with $V2"
start_node
curl -s "http://127.0.0.1:$APORT/metrics" | grep '^ringtail_build_info'
grep -q "version=\"$V2\"" <(curl -s "http://127.0.0.1:$APORT/metrics") || fail "not running $V2"
N=$(kcat -b 127.0.0.1:$PORT -t upgrade-test -C -o beginning -e -q | grep -c '^record-')
echo "records after upgrade: $N"
[ "$N" = 1000 ] || fail "want 1000 records, got $N"
stop_node
grep -E 'storage opened' /tmp/ringtail-test-install.log | tail -1

say "remove (data and config stay)"
dpkg -r ringtail
[ ! -e /usr/bin/ringtail ] || fail "binary still there"
[ -d /var/lib/ringtail/upgrade-test-0 ] || fail "data removed by dpkg -r"
[ -f /etc/ringtail/server.toml ] || fail "conffile removed by dpkg -r"
dpkg -s ringtail | grep '^Status:'
echo "data and config kept"

say "purge (data and config go)"
dpkg -P ringtail
[ ! -e /var/lib/ringtail ] || fail "data left after purge"
[ ! -e /etc/ringtail ] || fail "config left after purge"
dpkg -s ringtail 2>&1 | head -1 || true
echo "PASS"
