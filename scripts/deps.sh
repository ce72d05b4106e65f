#!/bin/sh
# Installs the Debian packages named as arguments that are not installed yet.
# Idempotent: with everything present it does nothing and needs no network.
set -eu

# strongSwan's packages (strongswan-starter, pulled in by strongswan-charon)
# enable a system-wide charon, started at boot under systemd. The tests
# and benchmarks need none: package swantest runs its own charon per
# network namespace, with its own /run, vici socket and configuration. A
# system one would only sit in the root namespace answering IKE on UDP
# 500/4500 of every host address (where the ipsec-gw run on host
# interfaces wants them) and confuse a swanctl run without --uri. So
# wherever the package is installed, its service is disabled and stopped.
# Idempotent, no network.
quiet_strongswan() {
	[ "$(id -u)" = 0 ] || return 0
	dpkg-query -W -f='${Status}' strongswan-starter 2>/dev/null | grep -q "install ok installed" || return 0
	if command -v systemctl >/dev/null 2>&1 && systemctl -q is-enabled strongswan-starter.service 2>/dev/null; then
		# Without systemd as init this only removes the unit's links.
		systemctl -q disable strongswan-starter.service 2>/dev/null || true
		echo "deps: disabled strongswan-starter.service (tests run their own charon per namespace)"
	fi
	if ls /etc/rc[2-5].d/S*ipsec >/dev/null 2>&1; then
		update-rc.d ipsec disable >/dev/null 2>&1 || true
	fi
	# Only a system charon writes these in the root mount namespace (the
	# tests' charons each have a private /run).
	if [ -e /run/starter.charon.pid ] || [ -e /run/charon.pid ]; then
		if [ -d /run/systemd/system ]; then
			systemctl stop strongswan-starter.service || true
		else
			/etc/init.d/ipsec stop >/dev/null 2>&1 || true
		fi
		echo "deps: stopped the system-wide strongSwan"
	fi
}

missing=""
for p in "$@"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && { quiet_strongswan; echo "deps: all Debian packages present"; exit 0; }
if [ "$(id -u)" != 0 ]; then
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run 'make deps' as root to install them; tests that need them will skip" >&2
	exit 0
fi
echo "deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer for it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "deps: installed$missing"
quiet_strongswan
