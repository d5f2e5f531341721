//go:build race

package main

// raceEnabled: this test binary was built with -race, so the binaries it builds to run
// are too, and the race detector covers the code they exercise.
const raceEnabled = true
