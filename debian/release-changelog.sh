#!/bin/sh
# debian/release-changelog.sh TREE SUITE EPOCH: give TREE/debian/changelog (a build copy, never
# the source's) the entry of a build for the release SUITE, dated EPOCH (the build's
# SOURCE_DATE_EPOCH; never before the entry it follows), and print the version it names.
#
# Why: the package depends on the building release's python3.X, so each release gets its own
# build, and make deb (debian/build-deb.sh) builds it.  The Debian way of one source built for
# several releases (as stable updates do: 1.2-3+deb12u1) is a version suffix: <version>+deb12 for
# bookworm, +deb13 for trixie, +<codename> for a release of another distribution (Jetson:
# +jammy), and the release as the entry's distribution.  So each build has its own file name
# (edge-alpr_0.1.0+deb12_amd64.deb, edge-alpr_0.1.0+deb13_amd64.deb: one no longer replaces the
# other in dist/), says which release it is for (dpkg-buildpackage's "source distribution"),
# and the newer release's sorts higher: a device upgraded from bookworm to trixie takes it.
#
# A build from a git checkout (build-deb.sh passes SNAPSHOT, e.g. git412.g3b839b0: the commit
# count and hash) is <version>+<SNAPSHOT>+deb13: two builds of one release from different commits
# no longer share a version, so installing the later one upgrades (with one version, apt says
# "already the newest version" and installs nothing); the count orders the builds of a branch,
# and any snapshot sorts above the plain release of its version.
#
# debian/release-changelog.sh --tag SUITE prints the suffix alone (deb12), for the tools that
# look for a release's .deb in dist/.
set -eu

tag() {
	case "$1" in
		bullseye) echo deb11 ;;
		bookworm) echo deb12 ;;
		trixie) echo deb13 ;;
		forky) echo deb14 ;;
		*) echo "$1" ;;
	esac
}

if [ "${1:-}" = --tag ]; then
	tag "$2"
	exit 0
fi
TREE=$1 SUITE=$2 EPOCH=$3 SNAPSHOT=${4:-}
TAG=$(tag "$SUITE")
case "$SNAPSHOT" in
	'') ;;
	git[0-9]*.g[0-9a-f]*) TAG=$SNAPSHOT+$TAG ;;
	*) echo "release-changelog.sh: snapshot $SNAPSHOT is not git<count>.g<hash>" >&2; exit 1 ;;
esac

LOG=$TREE/debian/changelog
VERSION=$(sed -n '1s/^edge-alpr (\([^)]*\)).*/\1/p' "$LOG")
[ -n "$VERSION" ] || { echo "$LOG: its first line names no edge-alpr version" >&2; exit 1; }
TRAILER=$(grep -m1 '^ -- ' "$LOG")
PREVIOUS=$(date -d "${TRAILER##*>  }" +%s)
[ "$EPOCH" -gt "$PREVIOUS" ] || EPOCH=$((PREVIOUS + 1))
{
	printf 'edge-alpr (%s+%s) %s; urgency=medium\n\n' "$VERSION" "$TAG" "$SUITE"
	printf '  * Built for %s (depends on its python3)%s.\n\n' "$SUITE" "${SNAPSHOT:+ from commit ${SNAPSHOT#*.g}}"
	printf '%s  %s\n\n' "${TRAILER%%>  *}>" "$(LC_ALL=C date -u -R -d "@$EPOCH")"
	cat "$LOG"
} > "$LOG.new"
mv "$LOG.new" "$LOG"
echo "$VERSION+$TAG"
