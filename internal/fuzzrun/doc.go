// Package fuzzrun runs every fuzz target of the module for a few seconds as part of the
// ordinary test command, so that CI fuzzes the parsers of outside input on every run.
//
// It holds no code, only tests. One finds each func FuzzXxx(*testing.F) in the module's
// test files, so that a new target is picked up without being listed, and runs
//
//	go test -run '^$' -fuzz '^FuzzXxx$' -fuzztime 3s ./pkg
//
// for each in turn. EXACTSYNC_FUZZTIME overrides the 3s (any -fuzztime value, such as
// 30s or 10000x). It is skipped with -short.
//
// # Inputs that once failed
//
// When fuzzing finds an input that fails, Go writes it to pkg/testdata/fuzz/FuzzXxx/ in the
// working tree, and from then on plain go test runs every file there as a case of the
// target: a regression test. The failure this package reports names that file, gives the
// command that runs it alone (go test -run '^FuzzXxx$/^NAME$' ./pkg) and prints its
// contents, so that an input found on a machine that is thrown away afterwards (CI) can be
// written back to the same path from the log. To turn it into a regression test, fix the
// code until that command passes and commit the file with the fix. A test checks that
// every corpus directory under a testdata/fuzz belongs to a target of its package, so
// renaming a target without moving its inputs fails instead of silently dropping them.
package fuzzrun
