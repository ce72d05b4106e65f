package e2e

import (
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of the times in /proc/stat and /proc/PID/stat
// (USER_HZ, 100 on every architecture Linux runs Go on).
const userHZ = 100

// cpuTimes are one CPU's ticks from /proc/stat: busy and total.
type cpuTimes struct{ busy, total uint64 }

// cpuSnap is the machine's CPU time at one moment.
type cpuSnap struct {
	cpus []cpuTimes
	// tasks is user + nice + system + steal over all CPUs: time spent in
	// processes (and time the hypervisor gave to someone else), but not in
	// interrupts and softirqs, where the kernel's forwarding runs.
	tasks uint64
	// ours is the user + system time of the processes of the measurement.
	ours uint64
}

func snapCPU(pids []int) cpuSnap {
	var s cpuSnap
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return s
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		// user nice system idle iowait irq softirq steal [guest guest_nice];
		// guest time is already in user time.
		var v [8]uint64
		for i := range v {
			v[i], _ = strconv.ParseUint(f[1+i], 10, 64)
		}
		if f[0] == "cpu" {
			s.tasks = v[0] + v[1] + v[2] + v[7]
			continue
		}
		var t cpuTimes
		for i, x := range v {
			t.total += x
			if i != 3 && i != 4 {
				t.busy += x
			}
		}
		s.cpus = append(s.cpus, t)
	}
	for _, pid := range pids {
		s.ours += procTicks(pid)
	}
	return s
}

// procTicks is a process's user + system time (all its threads).
func procTicks(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name may hold spaces and parentheses: fields start
	// after the last ')'. utime and stime are fields 14 and 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return u + st
}

// busy is each CPU's busy fraction between two snapshots.
func busy(a, b cpuSnap) []float64 {
	if len(a.cpus) != len(b.cpus) {
		return nil
	}
	out := make([]float64, len(a.cpus))
	for i := range a.cpus {
		if dt := b.cpus[i].total - a.cpus[i].total; dt > 0 {
			out[i] = float64(b.cpus[i].busy-a.cpus[i].busy) / float64(dt)
		}
	}
	return out
}

// foreignCores is the CPU, in cores, that processes other than the
// measurement's used between two snapshots taken seconds apart: the noise
// of a shared machine. Tick-based accounting makes it approximate.
func foreignCores(a, b cpuSnap, seconds float64) float64 {
	if seconds <= 0 {
		return 0
	}
	tasks := float64(b.tasks-a.tasks) - float64(b.ours-a.ours)
	return max(tasks, 0) / userHZ / seconds
}

// softirqThreads are the kernel's ksoftirqd/N threads. Softirq work that
// runs too long for the context that raised it moves there — with two
// cores, the kernel's forwarding on the second CPU mostly runs in
// ksoftirqd/1 — and the kernel may count that time as system time of the
// thread rather than as softirq time: it is the measurement's, not noise.
func softirqThreads() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/comm"); err == nil && strings.HasPrefix(string(b), "ksoftirqd/") {
			pids = append(pids, pid)
		}
	}
	return pids
}
