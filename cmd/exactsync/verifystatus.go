package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/sink"
)

// openDrift are the latest verifications of each entity and division that ended in drift.
func openDrift(vs []dest.Verification) []dest.Verification {
	var out []dest.Verification
	for _, v := range vs {
		if v.Status == dest.VerifyDrift {
			out = append(out, v)
		}
	}
	return out
}

// doctorDrift WARNs about every entity whose last verification found drift.
func doctorDrift(ctx context.Context, cl *checklist, st *sink.Store) {
	vs, err := st.LastVerifications(ctx)
	if err != nil {
		cl.warn("verification", "%s", oneLine(err.Error()))
		return
	}
	if len(vs) == 0 {
		cl.warn("verification", "the copy was never compared with Exact → run exactsync verify (run does it on EXACTSYNC_VERIFY_SCHEDULE)")
		return
	}
	drift := openDrift(vs)
	for _, v := range drift {
		cl.warn("verification", "%s of division %d (connection %d) differs from Exact since %s (%d differences) → run exactsync verify --repair --entity %s --division %d",
			v.Entity, v.Division, v.ConnectionID, v.Finished.UTC().Format(time.RFC3339), len(v.Differences), v.Entity, v.Division)
	}
	if len(drift) == 0 {
		last := vs[0].Finished
		for _, v := range vs {
			if v.Finished.After(last) {
				last = v.Finished
			}
		}
		cl.ok("verification", "%d entities and divisions agree with Exact as last verified (latest %s)", len(vs), last.UTC().Format(time.RFC3339))
	}
}

// printLastVerification prints status's line about the last verification.
func printLastVerification(ctx context.Context, w io.Writer, st *sink.Store, now time.Time) error {
	vs, err := st.LastVerifications(ctx)
	if err != nil {
		return err
	}
	if len(vs) == 0 {
		fmt.Fprintln(w, "last verification: never; exactsync verify compares the copy with Exact")
		return nil
	}
	last := vs[0].Finished
	counts := map[string]int{}
	for _, v := range vs {
		if v.Finished.After(last) {
			last = v.Finished
		}
		counts[v.Status]++
	}
	var parts []string
	for _, s := range []string{dest.VerifyClean, dest.VerifyDrift, dest.VerifyNoCount, dest.VerifySkipped} {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	fmt.Fprintf(w, "last verification: %s ago (%s); of each entity and division as last verified: %s\n",
		now.Sub(last).Round(time.Second), last.UTC().Format(time.RFC3339), strings.Join(parts, ", "))
	for _, v := range openDrift(vs) {
		fmt.Fprintf(w, "  drift: %s of division %d (connection %d), %d differences; exactsync verify --repair --entity %s --division %d\n",
			v.Entity, v.Division, v.ConnectionID, len(v.Differences), v.Entity, v.Division)
	}
	return nil
}
