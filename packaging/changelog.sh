#!/bin/sh
# Writes the Debian-format changelog of the package being built to stdout:
# one entry for VERSION, dated at the commit it is built from (so that two
# builds of one commit are identical).
#   packaging/changelog.sh VERSION COMMIT
set -eu
version=$1 commit=${2:-unknown}
date=$(git log -1 --format=%cD 2>/dev/null || true)
[ -n "$date" ] || date=$(LC_ALL=C date -R)
cat <<END
edgetail ($version) unstable; urgency=medium

  * Package built from commit $commit. The changes are in the project's
    history and README.

 -- edgetail developers <edgetail@example.org>  $date
END
