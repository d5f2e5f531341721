package exact

import (
	"bytes"
	"sync"
)

// The bodies of pages are the largest allocations of a sync: a page of transaction lines
// is about 2 MB of JSON, read into a buffer of its own, and its records and every value
// read from them as a view (StringView and the like) point into it. A sync that is done
// with a page, its rows written, releases it (Page.Release), and the next answer is read
// into that buffer instead of a new one: the garbage collector then has a fraction of the
// work (BENCHMARKS.md, "A million transaction lines"). A page never released is left to
// the garbage collector, as before.

// pageBodies holds the buffers of released pages (*[]byte, length 0).
var pageBodies sync.Pool

// newBodyBuffer returns a buffer for an answer of about size bytes: a released page's
// when one is big enough, else a new one.
func newBodyBuffer(size int) *bytes.Buffer {
	if p, ok := pageBodies.Get().(*[]byte); ok {
		if cap(*p) >= size {
			return bytes.NewBuffer((*p)[:0])
		}
		// Too small for this endpoint's pages: dropped.
	}
	return bytes.NewBuffer(make([]byte, 0, size))
}

// Release gives the page's body back, for a later page's answer to be read into: call it
// once nothing reads the page's records, or any value read from them as a view, any
// more (a sync releases a page once its rows are committed). The page must not be used
// after. Releasing is optional; a page released twice or without a body (a page made by
// hand) changes nothing.
func (p *Page) Release() {
	if p == nil || p.body == nil {
		return
	}
	b := p.body[:0]
	p.body = nil
	if poisonReleased {
		// Builds with the race detector (the tests') overwrite the body, so that a value
		// still read from a released page reads garbage and fails its test.
		full := b[:cap(b)]
		for i := range full {
			full[i] = '#'
		}
	}
	pageBodies.Put(&b)
}
