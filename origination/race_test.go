//go:build race

package origination

// raceEnabled: the race detector adds allocations of its own.
const raceEnabled = true
