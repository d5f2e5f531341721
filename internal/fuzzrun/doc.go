// Package fuzzrun runs every fuzz target of the module for a few seconds as part of the
// ordinary test command, so that CI fuzzes the parsers of outside input on every run.
//
// It holds no code, only a test: it finds each func FuzzXxx(*testing.F) in the module's
// test files, so that a new target is picked up without being listed, and runs
//
//	go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime 3s ./pkg
//
// for each in turn. EXACTSYNC_FUZZTIME overrides the 3s (any -fuzztime value, such as
// 30s or 10000x). The test is skipped with -short.
package fuzzrun
