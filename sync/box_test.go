package sync

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestBoxesAreOrdinaryValues checks that values boxed from a page's arrays are the values
// the language would box: the same dynamic type and value for type switches, ==, fmt and
// go-cmp, after garbage collections, once their arrays are full and new ones taken.
func TestBoxesAreOrdinaryValues(t *testing.T) {
	var b boxes
	at := time.Date(2026, 3, 29, 1, 30, 0, 123456789, time.UTC)
	var got, want []any
	for i := range 3*arenaChunk + 7 {
		s := fmt.Sprintf("value %d", i)
		got = append(got, b.boxString(s), b.boxTime(at.Add(time.Duration(i))), b.boxInt32(int32(i-1000)),
			b.boxInt64(int64(i)<<40), b.boxBytes([]byte(s)))
		want = append(want, s, at.Add(time.Duration(i)), int32(i-1000), int64(i)<<40, []byte(s))
	}
	b = boxes{} // only the values hold the arrays now
	runtime.GC()
	runtime.GC()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("boxed values (-want +got):\n%s", diff)
	}
	for i := range got {
		if _, isBytes := want[i].([]byte); !isBytes && got[i] != want[i] {
			t.Fatalf("value %d: %#v != %#v", i, got[i], want[i])
		}
		if g, w := fmt.Sprintf("%T %v", got[i], got[i]), fmt.Sprintf("%T %v", want[i], want[i]); g != w {
			t.Fatalf("value %d prints as %s, want %s", i, g, w)
		}
	}
	switch v := got[0].(type) {
	case string:
		if v != "value 0" {
			t.Errorf("type switch: got %q, want %q", v, "value 0")
		}
	default:
		t.Errorf("type switch: got %T, want string", v)
	}

	var nilBoxes *boxes // row without a shape: boxed as usual
	if v := nilBoxes.boxString("x"); v != "x" {
		t.Errorf("boxed without arrays: got %#v, want %q", v, "x")
	}
}

// TestBoxesAllocateByTheArray checks the point of boxes: an allocation per array of
// values, not per value.
func TestBoxesAllocateByTheArray(t *testing.T) {
	var b boxes
	at := time.Now()
	n := testing.AllocsPerRun(10, func() {
		for i := range arenaChunk {
			b.boxString("text")
			b.boxTime(at)
			b.boxInt32(int32(i) << 16)
			b.boxInt64(int64(i) << 40)
		}
	})
	if n > 8 { // 4 arrays a run, and slack for one more each
		t.Errorf("boxing %d values of 4 types took %v allocations, want at most 8", arenaChunk, n)
	}
}
