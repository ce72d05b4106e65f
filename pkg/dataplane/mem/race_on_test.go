//go:build race

package mem

// raceEnabled shortens the stress tests under the race detector, which
// slows them tenfold; they still wrap the ring indices.
const raceEnabled = true
