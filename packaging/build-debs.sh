#!/usr/bin/env bash
# Build the Debian packages of this tree: zxvmd, zxvm, libzxvm0 and libzxvm-dev (plus their
# -dbgsym packages unless DEB_BUILD_OPTIONS has noautodbgsym), with debhelper, into OUTDIR.
#
# Usage: packaging/build-debs.sh OUTDIR [WORKDIR]
#
# WORKDIR (default OUTDIR/.work) holds a copy of the tree with debian -> packaging/debian
# and its build directory; both are kept, so the next run only rebuilds what changed. Needs
# dpkg-dev, debhelper and rsync besides the build dependencies (packaging/setup.sh installs
# them all). The suite is not run here (nocheck): it needs /dev/kvm and runs under ctest.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 OUTDIR [WORKDIR]" >&2
	exit 1
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
work=${2:-$out/.work}
mkdir -p "$work"
work=$(cd "$work" && pwd)

for tool in dpkg-buildpackage dh rsync; do
	if ! command -v "$tool" >/dev/null; then
		echo "build-debs: $tool is missing (apt-get install dpkg-dev debhelper rsync)" >&2
		exit 1
	fi
done

# The package version is the project's: a release bumps both, or the .debs would lie.
version=$(sed -n 's/^project(zxvm VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
debversion=$(dpkg-parsechangelog -l "$src/packaging/debian/changelog" -S Version)
if [ "$version" != "$debversion" ]; then
	echo "build-debs: CMakeLists.txt is version $version, packaging/debian/changelog" \
		"$debversion: add a changelog entry" >&2
	exit 1
fi

# The copy keeps the sources' mtimes, so the build directory (obj-*, kept) stays valid; what
# debhelper left in debian/ last time is deleted with everything else not in the tree.
tree=$work/zxvm
mkdir -p "$tree"
rsync -a --delete --filter=':- .gitignore' --exclude=/.git/ --exclude='/build*/' \
	--exclude='/obj-*/' --exclude=/debian "$src/" "$tree/"
ln -sfn packaging/debian "$tree/debian"

opts="nocheck ${DEB_BUILD_OPTIONS:-}"
case " $opts " in
*" parallel="*) ;;
*) opts="$opts parallel=$(nproc)" ;;
esac

rm -f "$work"/*.deb "$work"/*.buildinfo "$work"/*.changes
log=$work/build.log
echo "build-debs: building $version in $tree (log: $log)"
# -nc: no "debian/rules clean", which would delete the build directory.
if ! (cd "$tree" && DEB_BUILD_OPTIONS="$opts" dpkg-buildpackage -us -uc -b -nc) >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	echo "build-debs: dpkg-buildpackage failed; the whole log is $log" >&2
	exit 1
fi

for pkg in zxvmd zxvm libzxvm0 libzxvm-dev; do
	if [ ! -f "$work/${pkg}_${version}_amd64.deb" ]; then
		echo "build-debs: ${pkg}_${version}_amd64.deb was not built (see $log)" >&2
		exit 1
	fi
done
rm -f "$out"/*_"$version"_amd64.deb
cp "$work"/*.deb "$out/"
ls -1 "$out"/*_"$version"_amd64.deb
