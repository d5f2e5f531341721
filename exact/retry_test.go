package exact

import (
	"testing"
	"time"
)

func TestRetryPolicyWaits(t *testing.T) {
	tests := []struct {
		name     string
		p        RetryPolicy
		wait     func(RetryPolicy, int) time.Duration
		n        int
		min, max time.Duration
	}{
		{"first retry of a call", RetryPolicy{}, RetryPolicy.Wait, 1, 500 * time.Millisecond, time.Second},
		{"third retry of a call doubles twice", RetryPolicy{}, RetryPolicy.Wait, 3, 2 * time.Second, 4 * time.Second},
		{"a call's wait is capped", RetryPolicy{}, RetryPolicy.Wait, 40, 15 * time.Second, 30 * time.Second},
		{"first retry of a job", RetryPolicy{}, RetryPolicy.JobWait, 1, 15 * time.Second, 30 * time.Second},
		{"second retry of a job", RetryPolicy{}, RetryPolicy.JobWait, 2, 30 * time.Second, time.Minute},
		{"a policy of its own", RetryPolicy{Base: time.Millisecond, Max: 4 * time.Millisecond}, RetryPolicy.Wait, 5, 2 * time.Millisecond, 4 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 50 {
				if got := tt.wait(tt.p, tt.n); got < tt.min || got > tt.max {
					t.Fatalf("wait %d: got %s, want within [%s, %s]", tt.n, got, tt.min, tt.max)
				}
			}
		})
	}
	if got := (RetryPolicy{}).FailingJobCalls(); got != FailingJobCalls {
		t.Errorf("FailingJobCalls of the default policy: got %d, want %d", got, FailingJobCalls)
	}
	if got := (RetryPolicy{Attempts: 2}).FailingJobCalls(); got != 2*JobAttempts {
		t.Errorf("FailingJobCalls with 2 attempts: got %d, want %d", got, 2*JobAttempts)
	}
}
