//go:build !race

package origination

const raceEnabled = false
