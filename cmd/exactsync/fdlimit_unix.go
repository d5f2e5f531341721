//go:build unix

package main

import (
	"math"
	"syscall"
)

// openFileLimit is how many files the process may open: its soft RLIMIT_NOFILE, which the
// Go runtime raises to the hard limit at start; 0 when it cannot be read or is beyond
// counting.
func openFileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	if cur := uint64(r.Cur); cur > 0 && cur <= math.MaxInt32 {
		return int(cur)
	}
	return 0
}
