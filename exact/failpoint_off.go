//go:build !failpoints

package exact

// failpoint does nothing in regular builds; see failpoint.go (build tag failpoints).
func failpoint(string) {}
