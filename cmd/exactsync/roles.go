package main

import (
	"github.com/exactsync/exactsync/internal/divisions"
	"github.com/exactsync/exactsync/internal/metrics"
	"github.com/exactsync/exactsync/internal/onboard"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sync"
	"github.com/exactsync/exactsync/verify"
	"github.com/exactsync/exactsync/worker"
)

// The packages of the write path take the store through interfaces of their own, in
// the terms of package dest; the PostgreSQL store is the one the command wires in.
var (
	_ sync.Writer                  = (*sink.Store)(nil)
	_ sync.History                 = (*sink.Store)(nil)
	_ sync.Locker                  = (*sink.Store)(nil)
	_ sync.TokenRows               = (*sink.Store)(nil)
	_ sync.RateLimitSaver          = (*sink.Store)(nil)
	_ sync.RateLimitLoader         = (*sink.Store)(nil)
	_ sync.DivisionRateLimitLoader = (*sink.Store)(nil)
	_ worker.Store                 = (*sink.Store)(nil)
	_ worker.WebhookStore          = (*sink.Store)(nil)
	_ divisions.Store              = (*sink.Store)(nil)
	_ onboard.Store                = (*sink.Store)(nil)
	_ metrics.Store                = (*sink.Store)(nil)
	_ metrics.LagSource            = (*sink.Store)(nil)
	_ metrics.ConnectionSource     = (*sink.Store)(nil)
	_ verify.Store                 = (*sink.Store)(nil)
)
