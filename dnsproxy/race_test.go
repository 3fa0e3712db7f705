//go:build race

package dnsproxy

// raceEnabled: the race detector adds allocations of its own.
const raceEnabled = true
