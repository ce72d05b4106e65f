package qemu

import (
	"bufio"
	"os"
	"strconv"
	"strings"
)

// HostTSCkHz guesses the host's TSC frequency, which a microvm's kernel
// under TCG (whose TSC is the host's) is told on its command line: the
// kernel's own figure where it exports one, else the first "cpu MHz" of
// /proc/cpuinfo (on a VM usually the TSC's). 0 when neither is there.
func HostTSCkHz() int {
	if b, err := os.ReadFile("/sys/devices/system/cpu/cpu0/tsc_freq_khz"); err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && v > 0 {
			return v
		}
	}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "cpu MHz" {
			mhz, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err == nil && mhz > 0 {
				return int(mhz * 1000)
			}
		}
	}
	return 0
}
