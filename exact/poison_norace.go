//go:build !race

package exact

// poisonReleased: see Page.Release.
const poisonReleased = false
