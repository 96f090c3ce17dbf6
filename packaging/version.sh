#!/bin/sh
# The package version, from git describe: v1.2.0 -> 1.2.0; three commits
# past it -> 1.2.0+3.gabc1234; with no tag -> 0.0.0+<commits>.g<hash>, so
# every later commit gets a higher version. A dirty tree adds .dirty.
set -e
cd "$(dirname "$0")/.."
dirty=""
if ! git diff --quiet HEAD 2>/dev/null; then dirty=".dirty"; fi
if d=$(git describe --tags --match 'v[0-9]*' 2>/dev/null); then
  echo "$d" | sed -e 's/^v//' -e 's/-\([0-9]*\)-g\([0-9a-f]*\)$/+\1.g\2/' -e "s/\$/$dirty/"
else
  echo "0.0.0+$(git rev-list --count HEAD).g$(git rev-parse --short=7 HEAD)$dirty"
fi
