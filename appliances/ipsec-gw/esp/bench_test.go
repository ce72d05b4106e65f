package esp

import (
	"fmt"
	"testing"

	"github.com/nfvkit/nfvkit/pkg/dataplane"
)

// BenchmarkESP measures the ESP data path on one core, per cipher and inner
// packet size: encrypt is Classify (SPD lookup) and Encap, decrypt is Decap
// (SPI lookup, replay window, ICV, trailer, selector), both on bursts of
// 64 packets. Sizes are of the clear-text IP packet (UDP over IPv4); imix
// is the simple IMIX, 7:4:1 of 64, 576 and 1500-byte packets, in a repeating
// 12-packet pattern. One op is one packet; Gbit/s counts clear-text bytes.
//
// Encrypt rewrites each inner packet's header before the next round (its
// bytes were encrypted); decrypt decapsulates packets encrypted beforehand,
// outside the timer, 4096 at a time.
func BenchmarkESP(b *testing.B) {
	sizes := []struct {
		name string
		mix  []int
	}{
		{"64", []int{64}},
		{"512", []int{512}},
		{"1400", []int{1400}},
		{"imix", []int{64, 576, 64, 64, 576, 64, 1500, 64, 576, 64, 576, 64}},
	}
	for _, dir := range []string{"encrypt", "decrypt"} {
		for _, c := range allCiphers {
			for _, sz := range sizes {
				b.Run(fmt.Sprintf("%s/%v/size=%s", dir, c, sz.name), func(b *testing.B) {
					if dir == "encrypt" {
						benchEncrypt(b, c, sz.mix)
					} else {
						benchDecrypt(b, c, sz.mix)
					}
				})
			}
		}
	}
}

const benchBurst = 64

func benchInner(mix []int, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = udpPacket(hostA4, hostB4, 1000, 2000, mix[i%len(mix)], byte(i))
	}
	return out
}

func report(b *testing.B, mix []int, packets int) {
	var sum int
	for _, n := range mix {
		sum += n
	}
	avg := float64(sum) / float64(len(mix))
	b.SetBytes(int64(avg))
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(packets)*avg*8/s/1e9, "Gbit/s")
	b.ReportMetric(float64(packets)/s/1e6, "Mpps")
}

func benchEncrypt(b *testing.B, c Cipher, mix []int) {
	tn := newTunnel(b, tunnelOpts{cipher: c})
	in := benchInner(mix, benchBurst)
	batch := tn.batch(b, 1, in...)
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += benchBurst {
		n := min(benchBurst, b.N-done)
		batch.Pkts = batch.Pkts[:n]
		for i := range batch.Pkts {
			p := &batch.Pkts[i]
			p.SetData(dataplane.DefaultHeadroom, len(in[i]))
			copy(p.Data()[:ipv4Len+udpLen], in[i])
		}
		tn.wa.Classify(batch, tn.sas)
		tn.wa.Encap(batch, tn.sas)
	}
	b.StopTimer()
	if r := reasons(batch); r[0] != "ok" {
		b.Fatal(r[0])
	}
	report(b, mix, b.N)
	batch.Pkts = batch.Pkts[:cap(batch.Pkts)][:benchBurst]
	tn.free(batch)
}

func benchDecrypt(b *testing.B, c Cipher, mix []int) {
	const ring = 4096
	tn := newTunnel(b, tunnelOpts{cipher: c})
	tn.pool = newPool(b, ring+benchBurst)
	in := benchInner(mix, ring)
	batches := make([]*dataplane.Batch, ring/benchBurst)
	for k := range batches {
		batches[k] = tn.batch(b, 1, in[k*benchBurst:(k+1)*benchBurst]...)
	}
	// fill encrypts every frame of the ring afresh (new sequence numbers).
	fill := func() {
		for k, bt := range batches {
			bt.Pkts = bt.Pkts[:cap(bt.Pkts)][:benchBurst]
			for i := range bt.Pkts {
				p := &bt.Pkts[i]
				d := in[k*benchBurst+i]
				p.SetData(dataplane.DefaultHeadroom, len(d))
				copy(p.Data()[:ipv4Len+udpLen], d)
				p.Forward(1)
			}
			tn.wa.Classify(bt, tn.sas)
			tn.wa.Encap(bt, tn.sas)
		}
	}
	fill()
	b.ReportAllocs()
	b.ResetTimer()
	k := 0
	for done := 0; done < b.N; done += benchBurst {
		if k == len(batches) {
			b.StopTimer()
			fill()
			k = 0
			b.StartTimer()
		}
		bt := batches[k]
		bt.Pkts = bt.Pkts[:min(benchBurst, b.N-done)]
		tn.wb.Decap(bt, nil)
		k++
	}
	b.StopTimer()
	if r := reasons(batches[0]); r[0] != "ok" {
		b.Fatal(r[0])
	}
	report(b, mix, b.N)
	for _, bt := range batches {
		bt.Pkts = bt.Pkts[:cap(bt.Pkts)][:benchBurst]
		tn.free(bt)
	}
}
