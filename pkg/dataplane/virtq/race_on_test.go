//go:build race

package virtq

// raceEnabled shortens the stress tests under the race detector, which
// slows them tenfold; they still wrap the ring indices.
const raceEnabled = true
