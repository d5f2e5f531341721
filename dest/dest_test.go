package dest_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/exactsync/exactsync/dest"
)

func TestRejectRef(t *testing.T) {
	for _, tt := range []struct {
		name string
		r    dest.Reject
		want string
	}{
		{"by key", dest.Reject{Key: "00000000-0000-4000-8000-000000000001", Record: []byte(`{}`)}, "00000000-0000-4000-8000-000000000001"},
		// sha256 of "{}".
		{"by the bytes", dest.Reject{Record: []byte(`{}`)}, "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"},
	} {
		if got := tt.r.Ref(); got != tt.want {
			t.Errorf("%s: Ref() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestDivisionLockUnlocksOnce(t *testing.T) {
	n := 0
	l := dest.NewDivisionLock(3, func() { n++ })
	l.Unlock()
	l.Unlock()
	if n != 1 || l.Fence != 3 {
		t.Errorf("unlock ran %d times, fence %d; want once, 3", n, l.Fence)
	}
	var none *dest.DivisionLock
	none.Unlock() // a nil lock is no lock: no panic
}

func TestDataError(t *testing.T) {
	cause := errors.New("ERROR: invalid input syntax for type json (SQLSTATE 22P02)")
	err := fmt.Errorf("writing a page of exact.accounts: %w", &dest.DataError{Reason: "invalid input syntax for type json (SQLSTATE 22P02)", Err: cause})
	if !dest.IsDataError(err) || !errors.Is(err, cause) {
		t.Errorf("IsDataError(%v) = %t, errors.Is(cause) = %t; want both true", err, dest.IsDataError(err), errors.Is(err, cause))
	}
	if !strings.HasSuffix(err.Error(), cause.Error()) {
		t.Errorf("error %q does not end with its cause %q", err, cause)
	}
	if dest.IsDataError(fmt.Errorf("writing: %w", dest.ErrLockLost)) {
		t.Error("a lost lock counts as a data error")
	}
}
