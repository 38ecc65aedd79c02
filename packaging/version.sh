#!/bin/sh
# Prints the package version, from git tags, in a form that dpkg and rpm
# both accept and order the same way:
#   tag v1.2.3                    -> 1.2.3
#   4 commits after it            -> 1.2.3+git4.abc1234
#   tag v1.3.0-rc1                -> 1.3.0~rc1 (sorts before 1.3.0)
#   no tag at all                 -> 0.0.0~git<short sha>
set -eu
if d=$(git describe --tags --long 2>/dev/null); then
	sha=${d##*-g}
	rest=${d%-g*}
	n=${rest##*-}
	tag=${rest%-*}
	v=$(printf '%s' "$tag" | sed -e 's/^[vV]//' -e 's/-/~/g' -e 's/[^A-Za-z0-9.+~]/./g')
	if [ "$n" = 0 ]; then
		echo "$v"
	else
		echo "$v+git$n.$sha"
	fi
else
	echo "0.0.0~git$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
fi
