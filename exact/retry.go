package exact

import (
	"cmp"
	"math/rand/v2"
	"time"
)

// The retry policy's defaults, and what they cost at worst.
const (
	// DefaultAttempts is how many calls one request makes at most when Exact keeps failing
	// it (5xx, 408, timeouts, network errors, a body that cannot be read): the first call
	// and 4 retries.
	DefaultAttempts = 5
	// JobAttempts is how many times the queue runs a sync job whose run failed: the
	// first run and 2 retries. The next tick queues the job afresh.
	JobAttempts = 3
	// FailingPageCalls is the most data calls one page of an endpoint that keeps failing
	// costs with the default policy: every failure, of the call or of its body, counts
	// against the same DefaultAttempts.
	FailingPageCalls = DefaultAttempts
	// FailingJobCalls is the most data calls one sync job on an endpoint that keeps
	// failing costs with the default policy: each run stops at its first failing page.
	FailingJobCalls = JobAttempts * FailingPageCalls
)

// RetryPolicy is the one place that decides how often a failed call to Exact is tried
// again and how long it waits, for a plain call and for a page whose body could not be
// read alike, and how often the queue runs a failed sync job again. Zero fields mean the
// defaults.
//
// A request is tried at most Attempts times in all: a 5xx or 408 answer, a timeout or
// network error, and a 2xx answer whose body cannot be split into records each count as
// one failure, and each retry waits Base·2ⁿ⁻¹, capped at Max, with jitter over its upper
// half (§2.5, §6.11). Answers that a retry cannot change are not retried (see
// [APIError.Refused]); a 401 is followed by one refresh and one more call, and 429s wait
// for the reset they name (§2.4): neither counts as a failure. A sync job whose run
// failed is run at most [JobAttempts] times, JobWait apart; a run stops at its first page
// that fails, so that a job costs at most JobAttempts·Attempts failing calls
// ([FailingJobCalls] with the defaults).
type RetryPolicy struct {
	Attempts int           // calls of one request, the first included; default 5
	Base     time.Duration // first wait; default 1s
	Max      time.Duration // longest wait between two calls; default 30s
}

// withDefaults fills the zero fields.
func (p RetryPolicy) withDefaults() RetryPolicy {
	p.Attempts = cmp.Or(p.Attempts, DefaultAttempts)
	p.Base = cmp.Or(p.Base, time.Second)
	p.Max = cmp.Or(p.Max, 30*time.Second)
	return p
}

// Wait is the wait before retry n (1-based) of a request: Base·2ⁿ⁻¹ capped at Max, with
// jitter over its upper half.
func (p RetryPolicy) Wait(n int) time.Duration {
	p = p.withDefaults()
	d := p.Max
	if n-1 < 30 {
		d = min(p.Base<<(n-1), p.Max)
	}
	return jittered(d)
}

// JobWait is the wait before the queue runs a failed sync job again after its attempt n
// (1-based): Max·2ⁿ⁻¹, with jitter over its upper half. The run that failed has
// already waited out the request's own retries; the job gives Exact longer.
func (p RetryPolicy) JobWait(n int) time.Duration {
	p = p.withDefaults()
	d := p.Max << min(max(n-1, 0), 10)
	return jittered(d)
}

// FailingPageCalls is the most data calls one page of an endpoint that keeps failing
// costs under p.
func (p RetryPolicy) FailingPageCalls() int { return p.withDefaults().Attempts }

// FailingJobCalls is the most data calls one sync job on an endpoint that keeps failing
// costs under p.
func (p RetryPolicy) FailingJobCalls() int { return JobAttempts * p.withDefaults().Attempts }

// jittered is d with jitter over its upper half.
func jittered(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}
