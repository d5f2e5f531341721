package sync

import (
	"time"
	"unsafe"
)

// Rows are []any, and putting a string, a time.Time or an int64 into an interface value
// allocates a copy of it on the heap: about fifty allocations a record of transaction
// lines, the largest part of what a full sync allocated once text stopped being copied
// (BENCHMARKS.md, "A million transaction lines"). boxes puts the values of a page's rows
// into a few arrays instead, and makes interface values that point into them, as the
// ones the language makes point into their own copies.
//
// Values boxed this way are ordinary interface values: type switches, comparisons and
// the garbage collector treat them as any other. An array stays in memory while any
// value boxed in it does, so a page's values share arrays with no other page's.

// boxes are the arrays of one page's values, one per type, taken as needed.
type boxes struct {
	strings arena[string]
	times   arena[time.Time]
	int32s  arena[int32]
	int64s  arena[int64]
	bytes   arena[[]byte]
}

// boxString, boxTime, boxInt32, boxInt64 and boxBytes return v as an interface value, from b's
// arrays when b is not nil.
func (b *boxes) boxString(v string) any {
	if b == nil {
		return v
	}
	return b.strings.box(v)
}

func (b *boxes) boxTime(v time.Time) any {
	if b == nil {
		return v
	}
	return b.times.box(v)
}

func (b *boxes) boxInt32(v int32) any {
	if b == nil {
		return v
	}
	return b.int32s.box(v)
}

func (b *boxes) boxInt64(v int64) any {
	if b == nil {
		return v
	}
	return b.int64s.box(v)
}

func (b *boxes) boxBytes(v []byte) any {
	if b == nil {
		return v
	}
	return b.bytes.box(v)
}

// arenaChunk is how many values an arena's array holds; the last one of a page is
// partly used.
const arenaChunk = 1024

// arena hands out interface values of T that point into arrays of T. T must not be a
// pointer type (a pointer is held in the interface value itself, with nothing to box).
type arena[T any] struct {
	vals []T
	typ  unsafe.Pointer // the type word of an interface value holding a T
}

// eface is the layout of an interface value without methods: its dynamic type, and a
// pointer to its value.
type eface struct {
	typ, data unsafe.Pointer
}

func (a *arena[T]) box(v T) any {
	if len(a.vals) == cap(a.vals) {
		if a.typ == nil {
			var zero T
			z := any(zero)
			a.typ = (*eface)(unsafe.Pointer(&z)).typ
		}
		a.vals = make([]T, 0, arenaChunk) // the full array stays with the values in it
	}
	a.vals = append(a.vals, v)
	var out any
	*(*eface)(unsafe.Pointer(&out)) = eface{typ: a.typ, data: unsafe.Pointer(&a.vals[len(a.vals)-1])}
	return out
}
