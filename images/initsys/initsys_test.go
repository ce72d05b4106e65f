package initsys

import (
	"slices"
	"sort"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/config"
)

func TestResolveVirtio(t *testing.T) {
	nics := []string{"eth0", "eth1"}
	spec, _ := config.ParsePortSpec("virtio:1")
	got, err := ResolveVirtio(spec, nics)
	if err != nil || got.String() != "nic:eth1" {
		t.Errorf("virtio:1 -> %s, %v", got, err)
	}
	spec, _ = config.ParsePortSpec("virtio:2")
	if _, err := ResolveVirtio(spec, nics); err == nil {
		t.Error("virtio:2 with two NICs: no error")
	}
	spec, _ = config.ParsePortSpec("pcap:x.pcap")
	if got, err := ResolveVirtio(spec, nics); err != nil || got != spec {
		t.Errorf("pcap spec changed: %s, %v", got, err)
	}
}

// TestBusOrder: NICs sort by the transport of their virtio device.
func TestBusOrder(t *testing.T) {
	want := []string{
		"/sys/devices/pci0000:00/0000:00:02.0",
		"/sys/devices/pci0000:00/0000:00:0a.0",
		"/sys/devices/pci0000:00/0000:00:10.0",
		"/sys/devices/pci0000:00/0000:00:1c.0/0000:01:00.0",
		"/sys/devices/platform/feb00e00.virtio_mmio",
		"/sys/devices/platform/feb01000.virtio_mmio",
		"/sys/devices/platform/virtio-mmio.2",
		"/sys/devices/platform/virtio-mmio.10",
	}
	got := slices.Clone(want)
	slices.Reverse(got)
	sort.Slice(got, func(i, j int) bool { return busKey(got[i]) < busKey(got[j]) })
	if !slices.Equal(got, want) {
		t.Errorf("order:\n%v\nwant\n%v", got, want)
	}
}

// TestSizeFor: the pool and the rings shrink with the guest's memory, down
// to a floor, and are the runner's defaults where memory allows.
func TestSizeFor(t *testing.T) {
	for _, c := range []struct {
		availKiB           int64
		frames, ringBlocks int
	}{
		{1 << 20, 4096, 32},  // 1 GiB: the defaults
		{64 << 10, 4096, 32}, // 64 MiB
		{8 << 10, 1024, 8},   // a 24 MiB guest
		{2 << 10, 512, 4},    // the floor
	} {
		got := sizeFor(c.availKiB)
		if got.frames != c.frames || got.ringBlocks != c.ringBlocks {
			t.Errorf("sizeFor(%d KiB) = %+v, want frames %d, ring blocks %d", c.availKiB, got, c.frames, c.ringBlocks)
		}
	}
}
