#!/usr/bin/env bash
# The packaging test (make test-package): builds the .deb and the .rpm with
# make package, lints the .deb, installs it, checks the installed files,
# upgrades to a rebuilt package while keeping an edited config, purges, lists
# the .rpm, and checks the unit with systemd-analyze (verify, and a security
# exposure of 2.0 or lower).
#
# It installs a package on this machine, so it needs root and dpkg; without
# them it says so and passes. It copes with a machine where systemd is not
# running (a container), as the maintainer scripts must.
set -euo pipefail
cd "$(dirname "$0")/.."

MAX_EXPOSURE=2.0

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null 2>&1; then
	echo "test-package: skipped (needs root and dpkg)"
	exit 0
fi
for c in lintian rpm systemd-analyze; do
	command -v "$c" >/dev/null 2>&1 || { echo "test-package: $c is missing (make deps installs it)" >&2; exit 1; }
done

# One run at a time on a machine: it installs and purges the package.
exec 9>/tmp/edgetail-test-package.lock
flock 9

tmp=$(mktemp -d)
cleanup() {
	if dpkg-query -W -f='${Status}' edgetail 2>/dev/null | grep -q 'ok installed\|config-files'; then
		dpkg --purge edgetail >/dev/null 2>&1 || true
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "test-package: FAIL: $*" >&2; exit 1; }
step() { echo "--- $*"; }

if dpkg-query -W -f='${Status}' edgetail 2>/dev/null | grep -q 'installed\|config-files'; then
	step "purging an edgetail package left installed"
	dpkg --purge edgetail >/dev/null
fi

step "make package"
make --no-print-directory package >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; fail "make package"; }
shopt -s nullglob
debs=(dist/edgetail_*.deb)
rpms=(dist/edgetail-*.rpm)
shopt -u nullglob
[ ${#debs[@]} -eq 1 ] || fail "want one .deb in dist/, got ${#debs[@]}"
[ ${#rpms[@]} -eq 1 ] || fail "want one .rpm in dist/, got ${#rpms[@]}"
deb=${debs[0]} rpmfile=${rpms[0]}
version=$(dpkg-deb -f "$deb" Version)
echo "built $deb and $rpmfile (version $version)"

step "lintian $deb"
# Errors fail the test; warnings and the rest are listed. Overridden tags
# are shown with their reason.
# lintian exits non-zero on an error tag, and when it cannot run (but
# also, always, with --show-overrides: hence two runs).
rc=0
lintian --pedantic --fail-on error "$deb" >"$tmp/lintian.rc" 2>&1 || rc=$?
lintian --pedantic -I --show-overrides "$deb" >"$tmp/lintian.out" 2>&1 || true
grep -v 'running with root privileges' "$tmp/lintian.out" || true
[ "$rc" -eq 0 ] || { cat "$tmp/lintian.rc"; fail "lintian found errors (exit $rc)"; }
grep -q '^E:' "$tmp/lintian.out" && fail "lintian found errors"
echo "lintian: $(grep -c '^W:' "$tmp/lintian.out" || true) warnings, no errors"

step "dpkg -i (fresh install, systemd $( [ -d /run/systemd/system ] && echo running || echo not running ))"
dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || { cat "$tmp/dpkg.log"; fail "dpkg -i"; }
for f in /usr/bin/edgetail /lib/systemd/system/edgetail.service /lib/systemd/system/edgetail.socket \
	/etc/edgetail/edgetail.yaml /usr/share/man/man1/edgetail.1.gz /usr/share/doc/edgetail/copyright; do
	[ -e "$f" ] || fail "$f is not installed"
done
dpkg-query -W -f='${Conffiles}\n' edgetail | grep -q '/etc/edgetail/edgetail.yaml' || fail "edgetail.yaml is not a conffile"
[ -L /etc/systemd/system/multi-user.target.wants/edgetail.service ] || fail "the service is not enabled after install"
/usr/bin/edgetail check -config /etc/edgetail/edgetail.yaml || fail "the installed config does not pass edgetail check"
out=$(/usr/bin/edgetail version)
echo "$out"
case "$out" in *"$version"*) ;; *) fail "edgetail version does not say $version" ;; esac
zcat /usr/share/man/man1/edgetail.1.gz | grep -q '^\.TH EDGETAIL 1' || fail "the man page is not edgetail(1)"

step "systemd-analyze verify"
# The installed unit, so that the binary and the man page it names exist.
systemd-analyze verify /lib/systemd/system/edgetail.service /lib/systemd/system/edgetail.socket || fail "systemd-analyze verify"
echo "verify: ok"

step "systemd-analyze security --offline=true"
systemd-analyze security --offline=true --no-pager /lib/systemd/system/edgetail.service >"$tmp/security.out" 2>&1 || true
grep -v '^✓' "$tmp/security.out" | sed -n '/^  NAME/,$p' | grep -v '^  NAME' || true
exposure=$(sed -n 's/.*Overall exposure level for edgetail.service: \([0-9.]*\).*/\1/p' "$tmp/security.out")
[ -n "$exposure" ] || { cat "$tmp/security.out"; fail "no exposure level in systemd-analyze security's output"; }
echo "exposure: $exposure (at most $MAX_EXPOSURE)"
awk -v e="$exposure" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(e <= m) }' || fail "exposure $exposure is above $MAX_EXPOSURE"

step "edit the config, upgrade to a rebuilt package"
printf '\n# local edit kept across upgrades\n' >>/etc/edgetail/edgetail.yaml
sed -i 's/^log_level: info$/log_level: debug/' /etc/edgetail/edgetail.yaml
grep -q '^log_level: debug$' /etc/edgetail/edgetail.yaml || fail "could not edit log_level"
/usr/bin/edgetail check -config /etc/edgetail/edgetail.yaml || fail "the edited config does not pass edgetail check"
edited=$(sha256sum </etc/edgetail/edgetail.yaml)
newversion="$version+up1"
make --no-print-directory package DIST="$tmp/up" PKG_VERSION="$newversion" >"$tmp/build2.log" 2>&1 || { cat "$tmp/build2.log"; fail "make package (upgrade)"; }
dpkg --compare-versions "$newversion" gt "$version" || fail "$newversion does not sort above $version"
dpkg -i "$tmp"/up/edgetail_*.deb >"$tmp/dpkg2.log" 2>&1 || { cat "$tmp/dpkg2.log"; fail "dpkg -i (upgrade)"; }
[ "$(dpkg-query -W -f='${Version}' edgetail)" = "$newversion" ] || fail "installed version is not $newversion"
/usr/bin/edgetail version | grep -qF "$newversion" || fail "the upgraded binary does not say $newversion"
[ "$(sha256sum </etc/edgetail/edgetail.yaml)" = "$edited" ] || fail "the upgrade did not keep the edited config"
ls /etc/edgetail/ | grep -q 'dpkg-' && fail "the upgrade left $(ls /etc/edgetail)"
[ -L /etc/systemd/system/multi-user.target.wants/edgetail.service ] || fail "the upgrade disabled the service"
echo "upgraded to $newversion; the edited config is kept"

step "dpkg --remove, then --purge"
dpkg --remove edgetail >/dev/null 2>&1 || fail "dpkg --remove"
[ ! -e /usr/bin/edgetail ] || fail "/usr/bin/edgetail is left after remove"
[ -e /etc/edgetail/edgetail.yaml ] || fail "remove (not purge) deleted the config"
dpkg --purge edgetail >/dev/null 2>&1 || fail "dpkg --purge"
for f in /usr/bin/edgetail /etc/edgetail /lib/systemd/system/edgetail.service \
	/etc/systemd/system/multi-user.target.wants/edgetail.service /usr/share/doc/edgetail \
	/usr/share/man/man1/edgetail.1.gz; do
	[ ! -e "$f" ] && [ ! -L "$f" ] || fail "$f is left after purge"
done
if dpkg-query -W edgetail >/dev/null 2>&1; then fail "dpkg still knows edgetail after purge"; fi
left=$(find /etc/systemd /var/lib/systemd -name '*edgetail*' 2>/dev/null || true)
[ -z "$left" ] || fail "left after purge: $left"
echo "purged: nothing left"

step "rpm -qlp / --scripts $rpmfile"
rpm -qlp "$rpmfile" | tee "$tmp/rpm.files"
for f in /usr/bin/edgetail /usr/lib/systemd/system/edgetail.service /etc/edgetail/edgetail.yaml /usr/share/man/man1/edgetail.1.gz; do
	grep -qx "$f" "$tmp/rpm.files" || fail "$f is not in the .rpm"
done
rpm -qpc "$rpmfile" | grep -qx /etc/edgetail/edgetail.yaml || fail "edgetail.yaml is not a %config file in the .rpm"
rpm -qp --scripts "$rpmfile" | tee "$tmp/rpm.scripts"
for s in postinstall preuninstall postuninstall; do
	grep -q "^$s scriptlet" "$tmp/rpm.scripts" || fail "the .rpm has no $s scriptlet"
done

echo "test-package: ok"
