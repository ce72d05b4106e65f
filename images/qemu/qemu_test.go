package qemu

import (
	"strings"
	"testing"
)

func TestParseNIC(t *testing.T) {
	for _, tc := range []struct {
		spec, kind, ifname, netns, socket, mac string
	}{
		{spec: "tap:tap0", kind: "tap", ifname: "tap0"},
		{spec: "tap:tap-lan,netns=lan", kind: "tap", ifname: "tap-lan", netns: "lan"},
		{spec: "tap:t0,netns=/run/netns/x,mac=02:00:00:00:00:01", kind: "tap", ifname: "t0", netns: "/run/netns/x", mac: "02:00:00:00:00:01"},
		{spec: "socket:listen=:5000", kind: "socket", socket: "listen=:5000"},
		{spec: "socket:udp=127.0.0.1:5001,localaddr=127.0.0.1:5000", kind: "socket", socket: "udp=127.0.0.1:5001,localaddr=127.0.0.1:5000"},
		{spec: "none", kind: "none"},
	} {
		n, err := ParseNIC(tc.spec)
		if err != nil {
			t.Errorf("%s: %v", tc.spec, err)
			continue
		}
		mac := ""
		if n.MAC != nil {
			mac = n.MAC.String()
		}
		if n.Kind != tc.kind || n.Ifname != tc.ifname || n.Netns != tc.netns || n.Socket != tc.socket || mac != tc.mac {
			t.Errorf("%s: %+v", tc.spec, n)
		}
	}
	for _, bad := range []string{"", "tap:", "tap:netns=x", "tap:averyveryverylongname", "tap:t0,foo=1",
		"socket:", "socket:bind=:1", "none:x", "vde:/tmp/x", "tap:t0,mac=01:00:00:00:00:01", "tap:t0,mac=zz"} {
		if _, err := ParseNIC(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestArgs(t *testing.T) {
	var nics []NIC
	for _, s := range []string{"tap:tap0", "socket:connect=127.0.0.1:5000", "none"} {
		n, err := ParseNIC(s)
		if err != nil {
			t.Fatal(err)
		}
		nics = append(nics, n)
	}
	c := Config{Kernel: "vmlinuz", Initrd: "initrd", Cmdline: "console=ttyS0", MemoryMiB: 96, NICs: nics, QMP: "/tmp/q.sock", Seed: "s"}
	args, files, err := c.Args()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 0 {
		t.Errorf("%d files for TAPs nobody opened", len(files))
	}
	line := strings.Join(args, " ")
	for _, want := range []string{
		"-M q35", "-accel tcg", "-m 96M", "-no-reboot", "-append console=ttyS0", "-qmp unix:/tmp/q.sock,server=on,wait=off",
		"-netdev tap,id=nic0,ifname=tap0,script=no,downscript=no,vnet_hdr=on",
		"-netdev socket,id=nic1,connect=127.0.0.1:5000",
		"-netdev hubport,id=nic2,hubid=102",
		"virtio-net-pci,netdev=nic0,mac=" + DefaultMAC("s", 0, "tap:tap0").String(),
		"guest_tso4=off", "addr=0x2", "addr=0x4",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("no %q in\n%s", want, line)
		}
	}

	c.Machine = MachineMicroVM
	if _, _, err := c.Args(); err == nil {
		t.Error("microvm under TCG without a TSC frequency: no error")
	}
	c.TSCkHz = 2500000
	args, _, err = c.Args()
	if err != nil {
		t.Fatal(err)
	}
	line = strings.Join(args, " ")
	if !strings.Contains(line, "tsc_early_khz=2500000") || !strings.Contains(line, "virtio-net-device") || strings.Contains(line, "addr=") {
		t.Errorf("microvm:\n%s", line)
	}
	c.Machine, c.NICs = MachineQ35, make([]NIC, maxPCINICs+1)
	if _, _, err := c.Args(); err == nil {
		t.Error("too many NICs: no error")
	}
}

func TestDefaultMAC(t *testing.T) {
	a, b := DefaultMAC("img", 0, "tap:a"), DefaultMAC("img", 1, "tap:a")
	if a.String() == b.String() {
		t.Error("two NICs of a VM share a MAC")
	}
	if a.String() != DefaultMAC("img", 0, "tap:a").String() {
		t.Error("DefaultMAC is not stable")
	}
	if a[0]&1 != 0 || a[0]&2 == 0 {
		t.Errorf("%s is not a locally administered unicast address", a)
	}
}

func TestCommandLine(t *testing.T) {
	got := CommandLine("qemu", []string{"-append", "console=ttyS0 quiet", "-device", "x,romfile=", "-m", "96M"})
	want := "qemu -append 'console=ttyS0 quiet' -device x,romfile= -m 96M"
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
