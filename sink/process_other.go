//go:build !unix

package sink

// processRuns cannot tell on this system: every process may still run.
func processRuns(int) bool { return true }
