package sink_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/exactsync/exactsync/sink/sinktest"
)

func TestLockDivision(t *testing.T) {
	t.Parallel()
	s := sinktest.NewStore(t)
	ctx := testContext(t)

	unlock, ok, err := s.LockDivision(ctx, 1, 101, false)
	if err != nil || !ok {
		t.Fatalf("first LockDivision: ok %t, err %v; want ok", ok, err)
	}

	tests := []struct {
		name     string
		conn     int64
		division int
		wantOK   bool
	}{
		{"same division is taken", 1, 101, false},
		{"other division is free", 1, 102, true},
		{"other connection is free", 2, 101, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok, err := s.LockDivision(ctx, tt.conn, tt.division, false)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK {
				t.Errorf("LockDivision(%d, %d) ok = %t, want %t", tt.conn, tt.division, ok, tt.wantOK)
			}
			if ok {
				u()
			}
		})
	}

	t.Run("wait honours ctx", func(t *testing.T) {
		wctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, ok, err := s.LockDivision(wctx, 1, 101, true)
		if ok || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("LockDivision(wait) on a held lock: ok %t, err %v; want false, deadline exceeded", ok, err)
		}
	})

	t.Run("wait gets the lock once released", func(t *testing.T) {
		got := make(chan error, 1)
		go func() {
			u, ok, err := s.LockDivision(ctx, 1, 101, true)
			if err == nil && !ok {
				err = errors.New("not ok")
			}
			if u != nil {
				u()
			}
			got <- err
		}()
		select {
		case err := <-got:
			t.Fatalf("LockDivision(wait) returned %v while the lock was held", err)
		case <-time.After(300 * time.Millisecond):
		}
		unlock()
		unlock() // idempotent
		select {
		case err := <-got:
			if err != nil {
				t.Errorf("LockDivision(wait): %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("LockDivision(wait) still blocked after unlock")
		}
	})

	// No session is left behind holding the lock.
	u, ok, err := s.LockDivision(ctx, 1, 101, false)
	if err != nil || !ok {
		t.Fatalf("LockDivision after everything was released: ok %t, err %v", ok, err)
	}
	u()
}
