#!/bin/sh
# The demo: the example router policy over the example capture, offline.
# It shows what arrived, what left each interface, and the drop counts.
set -eu
cd "$(dirname "$0")/.."
nfv=bin/nfv
policy=examples/router.yaml
capture=examples/captures/router-lan.pcap
out=out/demo
rm -rf "$out"
mkdir -p "$out"

show() { # show FILE: one line per frame, with tcpdump when present
	if command -v tcpdump >/dev/null 2>&1; then
		tcpdump -nn -e -tttt -r "$1" 2>/dev/null | sed 's/^/    /'
	else
		echo "    (tcpdump not installed: open $1 in Wireshark)"
	fi
}

echo "== policy $policy"
$nfv validate "$policy"
echo
echo "== into interface lan ($capture)"
show "$capture"
echo
echo "== nfv replay $policy --in lan=$capture --out $out"
$nfv replay "$policy" --in "lan=$capture" --out "$out"
for f in "$out"/*.pcap; do
	echo
	echo "== out of interface $(basename "$f" .pcap) ($f)"
	show "$f"
done
