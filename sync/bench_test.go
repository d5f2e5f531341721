package sync_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink/sinktest"
	"github.com/exactsync/exactsync/sync"
)

// BenchmarkFullSync measures a full sync of accounts from the in-process simulator (rate
// limits off) into a fresh database, one runner, the divisions one after the other. Sub-
// benchmarks are named DIVISIONSxACCOUNTS. Each iteration syncs every record once more (a
// full pass over rows already stored, so from the second iteration on the upserts are
// replays). Run it with -benchtime=1x to time a first sync:
//
//	go test ./sync -run '^$' -bench 'FullSync/1x100000' -benchtime 1x -cpuprofile cpu.out
func BenchmarkFullSync(b *testing.B) {
	for _, size := range []struct{ divisions, accounts int }{
		{1, 10_000}, {1, 100_000}, {10, 10_000},
	} {
		b.Run(fmt.Sprintf("%dx%d", size.divisions, size.accounts), func(b *testing.B) {
			benchFullSync(b, size.divisions, size.accounts)
		})
	}
}

func benchFullSync(b *testing.B, divisions, accounts int) {
	ctx := context.Background()
	divs := make([]int, divisions)
	for i := range divs {
		divs[i] = 101 + i
	}
	sim := exacttest.NewServer(exacttest.Options{Divisions: divs, Accounts: accounts, Seed: 1})
	b.Cleanup(sim.Close)
	st := sinktest.NewStore(b)
	conn := sinktest.NewConnection(b, st, sim.URL, "exactsim-client", sim.RefreshToken())
	client, err := exact.New(exact.Config{
		BaseURL: sim.URL, ClientID: "exactsim-client", ClientSecret: "exactsim-secret",
		Logger: zerolog.Nop(),
	}, sync.NewTokenStore(st, conn.ID))
	if err != nil {
		b.Fatal(err)
	}
	runner := sync.NewRunner(sync.Config{Logger: zerolog.Nop(), WaitForLock: true}, st, st, st)
	records := 0
	for b.Loop() {
		for _, d := range divs {
			res, err := runner.Run(ctx, client, sync.Job{ConnectionID: conn.ID, Division: d, Entity: "accounts", Full: true})
			if err != nil {
				b.Fatal(err)
			}
			if res.Pages < accounts/1000 {
				b.Fatalf("got %d pages, want at least %d", res.Pages, accounts/1000)
			}
			records += accounts
		}
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
