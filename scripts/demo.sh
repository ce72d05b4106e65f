#!/bin/sh
# The demo: build the example router's image, boot it under QEMU between two
# network namespaces (one TAP device in each is one of the VM's NICs), pass
# ping and a TCP transfer through it, print a short table, clean up.
# Needs root (namespaces, TAP devices) and what `make deps` installs.
set -eu
cd "$(dirname "$0")/.."
nfv=bin/nfv
policy=examples/router.yaml
out=out/demo
image=$out/router
lan=nfvdemo-lan wan=nfvdemo-wan          # network namespaces
taplan=demo-lan tapwan=demo-wan          # the VM's NICs, one in each
log=$out/console.log

if [ "$(id -u)" != 0 ]; then
	echo "demo: run it as root (it makes network namespaces and TAP devices): sudo make demo" >&2
	exit 1
fi
for c in qemu-system-x86_64 ip ping iperf3; do
	command -v $c >/dev/null || { echo "demo: $c is missing; 'make deps' installs it" >&2; exit 1; }
done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { echo "\$ $*"; "$@"; }
bootpid=""
cleanup() {
	[ -n "$bootpid" ] && kill -INT "$bootpid" 2>/dev/null && wait "$bootpid" 2>/dev/null || true
	ip netns del $lan 2>/dev/null || true
	ip netns del $wan 2>/dev/null || true
}
trap cleanup EXIT INT TERM
cleanup
rm -rf "$out"
mkdir -p "$out"

say "build the image of $policy"
run $nfv build "$policy" -o "$image"

say "two network namespaces, each with a TAP device that will be one of the VM's NICs"
for ns in $lan $wan; do run ip netns add $ns; ip -n $ns link set lo up; done
run ip -n $lan tuntap add dev $taplan mode tap
run ip -n $wan tuntap add dev $tapwan mode tap

say "boot it (its console is shown prefixed with |)"
echo "\$ $nfv boot $image --nic tap:$taplan,netns=$lan --nic tap:$tapwan,netns=$wan"
$nfv boot "$image" --nic "tap:$taplan,netns=$lan" --nic "tap:$tapwan,netns=$wan" >"$log" 2>&1 &
bootpid=$!
i=0
until grep -q '^READY ' "$log"; do
	i=$((i + 1))
	if [ $i -gt 1200 ] || ! kill -0 $bootpid 2>/dev/null; then
		sed 's/^/  | /' "$log"
		echo "demo: the image did not become ready; see $log" >&2
		exit 1
	fi
	sleep 0.1
done
sleep 0.3
sed 's/^/  | /' "$log"

# The router appliance routes between the policy's two subnets; until it is
# registered, the image runs the pass-through stage (a wire), and both sides
# share one subnet.
if grep -q 'stage=pass-through' "$log"; then
	say "the image runs the pass-through stage (no router appliance yet): one subnet on both sides"
	run ip -n $lan addr add 192.0.2.10/24 dev $taplan
	run ip -n $wan addr add 192.0.2.20/24 dev $tapwan
	dst=192.0.2.20
else
	say "addresses and routes: lan 192.0.2.0/24 and wan 198.51.100.0/30, the router between"
	run ip -n $lan addr add 192.0.2.10/24 dev $taplan
	run ip -n $lan route add default via 192.0.2.1
	run ip -n $wan addr add 198.51.100.1/30 dev $tapwan
	run ip -n $wan route add 192.0.2.0/24 via 198.51.100.2
	dst=198.51.100.1
fi
counter() { ip netns exec "$1" cat "/sys/class/net/$2/statistics/$3"; }
lan0=$(counter $lan $taplan rx_packets) wan0=$(counter $wan $tapwan rx_packets)

say "ping through the VM"
run ip netns exec $lan ping -c 5 -i 0.2 $dst | tee "$out/ping.txt"

say "a TCP transfer through the VM (iperf3, 16 MiB)"
ip netns exec $wan iperf3 -s -1 -B $dst >/dev/null 2>&1 &
serverpid=$!
sleep 0.5
run ip netns exec $lan iperf3 -c $dst -n 16M -f m | tee "$out/iperf.txt"
wait $serverpid || true

lan1=$(counter $lan $taplan rx_packets) wan1=$(counter $wan $tapwan rx_packets)

say "power off (the VM's power button, as Ctrl-C on nfv boot does)"
kill -INT $bootpid
wait $bootpid || true
bootpid=""
tail -n 4 "$log" | sed 's/^/  | /'

kernel=$(stat -c %s "$image/vmlinuz") initrd=$(stat -c %s "$image/initrd")
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
ready=$(sed -n 's/^nfv boot: ready \([^ ]*\) after the kernel started, \([^ ]*\) after QEMU did.*/\1 (kernel start), \2 (QEMU start)/p' "$log")
accel=$(sed -n 's/^nfv boot: .* image .*: [a-z0-9]*, \([a-z]*\), .*/\1/p' "$log" | head -1)
rtt=$(sed -n 's/^rtt .* = [^/]*\/\([^/]*\)\/.*/\1 ms average/p' "$out/ping.txt")
tcp=$(awk '/receiver/ { print $(NF-2), $(NF-1) }' "$out/iperf.txt")

say "summary"
printf '  %-20s %s\n' \
	"image" "$(mib $((kernel + initrd))) (vmlinuz $(mib "$kernel") + initrd $(mib "$initrd"))" \
	"boot to READY" "$ready, $accel" \
	"packets forwarded" "lan->wan $((wan1 - wan0)), wan->lan $((lan1 - lan0))" \
	"ping RTT" "$rtt" \
	"TCP through the VM" "$tcp"
