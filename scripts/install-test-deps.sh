#!/bin/sh
# Installs what the dupfs tests need on Debian 12 (run as root): the real
# duplicity 0.8.22 and rdiff as references, gpg, FUSE 3, python3, and a real
# OpenStack Swift (proxy, object, container, account servers, memcached for
# tempauth, the swift client) that integration/saio runs on loopback.
# Idempotent: installs only the packages missing, and touches apt only then.
set -eu

packages="duplicity rdiff gnupg fuse3 python3 curl
swift swift-proxy swift-object swift-container swift-account memcached python3-swiftclient"

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=""
for p in $packages; do
	installed "$p" || missing="$missing $p"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-test-deps: missing:$missing; run as root to install" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# shellcheck disable=SC2086 # word splitting of the package list is intended
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
	for p in $missing; do
		if ! installed "$p"; then
			echo "install-test-deps: $p did not install" >&2
			exit 1
		fi
	done
fi

# The interop tests are written against 0.8.22 (Debian 12's version).
version="$(duplicity --version 2>/dev/null || true)"
case "$version" in
"duplicity 0.8.22"*) ;;
*) echo "install-test-deps: warning: want duplicity 0.8.22, have '${version:-none}'" >&2 ;;
esac
