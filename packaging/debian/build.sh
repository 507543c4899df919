#!/bin/sh
# Builds the Debian package of this source tree without writing to it: the
# tree is copied to a temporary directory (from a git checkout, the tracked
# files and new ones git does not ignore, as they are in the working tree;
# from a release tarball, everything), packaging/debian becomes debian/
# there, and dpkg-buildpackage -us -uc -b builds it. The .deb, .buildinfo
# and .changes files are copied to OUTDIR (default: the directory above the
# source tree, where dpkg-buildpackage itself would put them).
#
#   packaging/debian/build.sh [-o OUTDIR] [dpkg-buildpackage options...]
#
# e.g. DEB_BUILD_OPTIONS="nocheck parallel=2" packaging/debian/build.sh -o /tmp/debs
# Needs: build-essential debhelper devscripts fakeroot, and the
# Build-Depends of packaging/debian/control (dpkg-checkbuilddeps names any
# that are missing).
set -eu

usage() {
	echo "usage: $0 [-o OUTDIR] [dpkg-buildpackage options...]" >&2
	exit 2
}

out=
while getopts ho: opt; do
	case $opt in
	o)	out=$OPTARG ;;
	*)	usage ;;
	esac
done
shift $((OPTIND - 1))

top=$(cd "$(dirname "$0")/../.." && pwd -P)
[ -n "$out" ] || out=$(dirname "$top")
mkdir -p "$out"
out=$(cd "$out" && pwd -P)

version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" -S Version)
upstream=${version#*:}
upstream=${upstream%-*}

work=$(mktemp -d "${TMPDIR:-/tmp}/coserve-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 1' HUP INT TERM
src=$work/coserve-$upstream
mkdir "$src"

# Only when the tree is a checkout's top: a release tarball unpacked inside
# some other checkout (make distcheck does that) is copied whole.
if [ "$(git -C "$top" rev-parse --show-toplevel 2>/dev/null)" = "$top" ]; then
	(cd "$top" && git ls-files -z --cached --others --exclude-standard |
	    xargs -0 sh -c 'for f; do [ -e "$f" ] || [ -L "$f" ] &&
	        printf "%s\0" "$f"; done' sh |
	    xargs -0 cp -P --preserve=mode,timestamps --parents -t "$src")
else
	cp -RP "$top/." "$src/"
fi
chmod -R u+w "$src"
rm -rf "$src/debian"
cp -R "$src/packaging/debian" "$src/debian"

(cd "$src" && dpkg-buildpackage -us -uc -b "$@")

find "$work" -maxdepth 1 -type f \( -name '*.deb' -o -name '*.ddeb' \
    -o -name '*.buildinfo' -o -name '*.changes' \) -exec cp -t "$out" {} +
echo "build.sh: packages in $out:"
(cd "$work" && ls -1 -- *.deb)
