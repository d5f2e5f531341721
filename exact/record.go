package exact

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Record is one record of a page as received. It is a view into the page's body: it stays
// valid as long as the caller holds it, and must not be modified.
//
// A record whose bytes are not valid JSON, or hold text PostgreSQL cannot store, or that
// has a member name twice, while the page around it is sound, is still returned, with Err
// saying what is wrong; store it aside (Bytes) rather than writing it, and go on with the
// other records.
//
// Member names are compared as JSON defines them, their escapes decoded: "N\u0061me" is
// the member Name, as it is for PostgreSQL's jsonb. A name that occurs twice makes the
// record bad: Exact writes each member once (docs/exact-online.md §3.5), RFC 8259 leaves
// the meaning of a repeated name to the reader, and jsonb keeps only the last occurrence.
// Taking the typed columns from one occurrence while raw keeps another would store a row
// that disagrees with itself, and picking either would be a guess; the record as received
// is kept aside instead, and a later version of it replaces it.
type Record struct {
	raw     []byte
	fields  []member
	err     *DecodeError // nil for a good record
	escaped bool         // a member name is written with escapes: compare names decoded
}

// member locates one top-level member inside Record.raw. Offsets instead of slices keep the
// index free of pointers, so the garbage collector never scans it.
type member struct {
	nameStart, nameEnd uint32 // the name between its quotes, as received
	valStart, valEnd   uint32 // the raw JSON value, without surrounding whitespace
}

// Raw returns the record's JSON object with the "__metadata" member removed (§3.5); all other
// bytes are as received. It does not allocate. For a record with Err, Raw is Bytes: it is
// not valid JSON, or holds text PostgreSQL cannot store.
func (r Record) Raw() []byte { return r.raw }

// Bytes returns the record's bytes as received, to keep a bad record aside. For a good
// record it equals Raw (the "__metadata" member removed).
func (r Record) Bytes() []byte { return r.raw }

// Err returns nil for a good record, or a *DecodeError naming the record (its index in the
// page and its ID when readable) and what is wrong: JSON that is not valid inside the
// record, or text PostgreSQL cannot store (a NUL character, a lone UTF-16 surrogate,
// bytes that are not UTF-8).
func (r Record) Err() error {
	if r.err == nil {
		return nil
	}
	return r.err
}

// Field returns the raw JSON value of the top-level member name (e.g. `"A"`, `12`, `null`),
// or nil when the record has no such member. Names are compared exactly, once their escapes
// are decoded. It does not allocate unless a member name is written with escapes. On a
// record with Err, members from the one in error onwards are not indexed, and Field returns
// nil for them; on one with a name twice, Field returns the first occurrence.
func (r Record) Field(name string) []byte {
	if r.escaped {
		for i := range r.fields {
			if n, v := r.Member(i); string(n) == name {
				return v
			}
		}
		return nil
	}
	for i := range r.fields {
		f := &r.fields[i]
		if int(f.nameEnd-f.nameStart) == len(name) && string(r.raw[f.nameStart:f.nameEnd]) == name {
			return r.raw[f.valStart:f.valEnd:f.valEnd]
		}
	}
	return nil
}

// Member returns the name, its escapes decoded, and the raw JSON value of the i-th
// top-level member ("__metadata" excluded), 0 <= i < Len(). It does not allocate unless the
// name is written with escapes. With it a caller reading many records of the same members
// in the same order, as a page's are, can find a member by its position instead of by its
// name.
func (r Record) Member(i int) (name, value []byte) {
	f := &r.fields[i]
	name = r.raw[f.nameStart:f.nameEnd:f.nameEnd]
	if r.escaped && bytes.IndexByte(name, '\\') >= 0 {
		// Valid, as the scanner checked: a name that cannot be decoded makes the
		// record bad before it is indexed.
		name, _ = unquoteBytes(r.raw[f.nameStart-1 : f.nameEnd+1])
	}
	return name, r.raw[f.valStart:f.valEnd:f.valEnd]
}

// Len returns the number of top-level members, "__metadata" excluded.
func (r Record) Len() int { return len(r.fields) }

// pageBody is the decoded envelope of one response.
type pageBody struct {
	records []Record
	next    string
	count   int64 // -1 when absent
}

const (
	metadataName = "__metadata"
	keyName      = "ID" // the member named in the errors of a bad record
	maxNesting   = 10000
)

// decodePage splits an OData page, {"d":{"results":[…],"__next":"…","__count":"…"}} or
// {"d":[…]} (§3.5), into records without copying or unmarshalling them. It rewrites bytes
// of body in place to cut the __metadata members out, so body must not be used afterwards
// except through the records. A "d" object without "results" and "__next" is one record
// (the GET-by-key shape).
//
// Every byte is validated. A page whose records cannot be told apart (a truncated body,
// unbalanced brackets, invalid JSON outside the records) is an error. A record that is bad
// within bounds that are still clear is returned with its err set, naming endpoint.
func decodePage(endpoint string, body []byte) (pageBody, error) {
	s := scanner{buf: body, spans: make([]span, 0, 64), endpoint: endpoint}
	out := pageBody{count: -1}
	s.skipSpace()
	if err := s.expect('{'); err != nil {
		return out, err
	}
	foundD := false
	err := s.members(func(name []byte) error {
		if string(name) != "d" {
			return s.skip()
		}
		foundD = true
		s.skipSpace()
		switch s.peek() {
		case '[':
			return s.records(&out)
		case '{':
			return s.envelope(&out)
		default:
			return s.errorf(`expected an object or array as "d"`)
		}
	})
	if err != nil {
		return out, err
	}
	s.skipSpace()
	if s.pos != len(s.buf) {
		return out, s.errorf("unexpected data after the top-level object")
	}
	if !foundD {
		return out, errors.New(`no "d" member in the response`)
	}
	return out, nil
}

// envelope reads the object value of "d".
func (s *scanner) envelope(out *pageBody) error {
	start := s.pos
	s.pos++ // '{'
	var haveResults, haveNext bool
	err := s.members(func(name []byte) error {
		switch string(name) {
		case "results":
			haveResults = true
			s.skipSpace()
			if s.peek() != '[' {
				return s.errorf(`expected an array as "results"`)
			}
			return s.records(out)
		case "__next":
			haveNext = true
			v, err := s.value()
			if err != nil {
				return err
			}
			if string(v) == "null" {
				return nil
			}
			str, err := unquote(v)
			if err != nil {
				return s.errorf(`"__next" is not a string: %v`, err)
			}
			out.next = str
			return nil
		case "__count":
			v, err := s.value()
			if err != nil {
				return err
			}
			n, ok, err := Int64(v)
			if err != nil {
				return s.errorf(`"__count": %v`, err)
			}
			if ok {
				out.count = n
			}
			return nil
		default:
			return s.skip()
		}
	})
	if err != nil && (haveResults || haveNext) {
		return err
	}
	if !haveResults && !haveNext {
		// {"d":{…entity…}}: the entity itself is the only record, which may be bad on its
		// own like any other.
		s.pos = start
		rec, err := s.record(nil, 0)
		if err != nil {
			return err
		}
		out.records = append(out.records, rec)
	}
	return nil
}

// records reads an array of objects into out.records.
func (s *scanner) records(out *pageBody) error {
	s.pos++ // '['
	var pool []member
	for i := 0; ; i++ {
		s.skipSpace()
		if i == 0 && s.peek() == ']' {
			s.pos++
			return nil
		}
		if s.peek() != '{' {
			return s.errorf("expected a record object")
		}
		start := s.pos
		rec, err := s.record(&pool, i)
		if err != nil {
			return err
		}
		if i == 0 {
			// Size the slice from the first record so a page costs a few allocations.
			out.records = make([]Record, 0, (len(s.buf)-start)/max(s.pos-start, 1)+1)
		}
		out.records = append(out.records, rec)
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or ']' after a record")
		}
	}
}

// record reads one object at s.pos, the index-th record of its page, indexes its members
// and cuts its __metadata member out of the buffer. Members are appended to *pool when pool
// is not nil (sharing one backing array across a page).
//
// The returned error concerns the page: the record's end cannot be found. A record that is
// bad within clear bounds is returned with its err set, as received.
func (s *scanner) record(pool *[]member, index int) (Record, error) {
	spans := s.spans[:0]
	defer func() { s.spans = spans[:0] }() // reuse the array for the next record
	start := s.pos
	s.pos++ // '{'
	meta := -1
	var bad *scanError
	for i := 0; ; i++ {
		s.skipSpace()
		if i == 0 && s.peek() == '}' {
			s.pos++
			break
		}
		if s.peek() != '"' {
			bad = s.fail("expected a member name")
			break
		}
		ns := s.pos + 1
		if err := s.skipString(); err != nil {
			bad = err
			bad.inName = true
			break
		}
		ne := s.pos - 1
		s.skipSpace()
		if s.peek() != ':' {
			bad = s.fail("expected ':' after a member name")
			bad.member = string(s.buf[ns:ne])
			break
		}
		s.pos++
		s.skipSpace()
		vs := s.pos
		if err := s.skipValue(); err != nil {
			if bad == nil {
				bad = err
				bad.member = string(s.buf[ns:ne])
			}
			// Step over the bad value by its brackets and quotes alone, so that the
			// members after it (its Timestamp, say) can still be read; the bad member
			// itself is not indexed.
			s.pos = vs
			if s.skipLoose() != nil {
				break
			}
		} else {
			if string(s.buf[ns:ne]) == metadataName {
				meta = len(spans)
			}
			spans = append(spans, span{ns, ne, vs, s.pos})
		}
		s.skipSpace()
		c := s.peek()
		if c == ',' {
			s.pos++
			continue
		}
		if c == '}' {
			s.pos++
			break
		}
		if bad == nil {
			bad = s.fail("expected ',' or '}' after a member")
			bad.member = string(s.buf[ns:ne])
		}
		break
	}
	var escaped bool
	if bad == nil {
		escaped, meta, bad = s.names(spans, meta)
	}
	if bad != nil {
		return s.badRecord(pool, index, start, spans, meta, bad)
	}
	end := s.pos // after '}'

	// Cut the __metadata member, moving whichever side of it is shorter (§3.5: it is
	// usually the first member, so the move is one byte).
	lo, hi := start, end
	if meta >= 0 {
		m := spans[meta]
		var cutFrom, cutTo int // [cutFrom, cutTo) is removed
		switch {
		case meta+1 < len(spans): // remove the member and the comma after it
			cutFrom = m.nameStart - 1 // the opening quote of the name
			cutTo = spans[meta+1].nameStart - 1
		case meta > 0: // last member: remove the comma before it and the member
			cutFrom = spans[meta-1].valEnd
			cutTo = m.valEnd
		default: // the only member
			cutFrom = m.nameStart - 1
			cutTo = m.valEnd
		}
		n := cutTo - cutFrom
		if cutFrom-start <= end-cutTo {
			copy(s.buf[start+n:cutTo], s.buf[start:cutFrom])
			lo = start + n
			for i := 0; i < meta; i++ {
				spans[i].nameStart += n
				spans[i].nameEnd += n
				spans[i].valStart += n
				spans[i].valEnd += n
			}
		} else {
			copy(s.buf[cutFrom:], s.buf[cutTo:end])
			hi = end - n
			for i := meta + 1; i < len(spans); i++ {
				spans[i].nameStart -= n
				spans[i].nameEnd -= n
				spans[i].valStart -= n
				spans[i].valEnd -= n
			}
		}
		spans = append(spans[:meta], spans[meta+1:]...)
	}
	if hi-lo > math.MaxUint32 {
		return Record{}, s.errorf("record larger than 4 GB")
	}
	rec := Record{raw: s.buf[lo:hi:hi], fields: s.index(pool, spans, lo, end-start), escaped: escaped}
	s.prev = rec
	return rec, nil
}

// names checks the member names of the record being read: spans, with its __metadata
// member at meta (-1 when none), as found by comparing the names as received. It returns
// whether a name is written with escapes, where __metadata is once names are decoded, and
// a *scanError for a name that occurs twice.
//
// The records of a page have the same names in the same order, so a record whose names,
// as received, are those of the previous good record of the page (s.prev: without escapes
// or a name twice) needs no other check. Only the first record of a page and one whose
// members differ from the one before are checked in full.
func (s *scanner) names(spans []span, meta int) (escaped bool, _ int, _ *scanError) {
	if p := s.prev; p.fields != nil && !p.escaped && len(spans)-min(meta+1, 1) == len(p.fields) {
		same, j := true, 0
		for i, sp := range spans {
			if i == meta {
				continue
			}
			f := &p.fields[j]
			j++
			if string(s.buf[sp.nameStart:sp.nameEnd]) != string(p.raw[f.nameStart:f.nameEnd]) {
				same = false
				break
			}
		}
		if same {
			return false, meta, nil
		}
	}
	for _, sp := range spans {
		if bytes.IndexByte(s.buf[sp.nameStart:sp.nameEnd], '\\') >= 0 {
			escaped = true
			break
		}
	}
	if escaped {
		seen := make(map[string]int, len(spans))
		for i, sp := range spans {
			name, err := unquote(s.buf[sp.nameStart-1 : sp.nameEnd+1])
			if err != nil {
				return escaped, meta, &scanError{msg: "a member name that cannot be decoded", pos: sp.nameStart, inName: true}
			}
			if first, ok := seen[name]; ok {
				return escaped, meta, twice(name, spans[first], sp)
			}
			seen[name] = i
			if name == metadataName {
				meta = i // written with escapes, still __metadata
			}
		}
		return escaped, meta, nil
	}
	name := func(i int) []byte { return s.buf[spans[i].nameStart:spans[i].nameEnd] }
	order := s.order[:0]
	if cap(order) < len(spans) {
		order = make([]int, 0, 2*len(spans))
	}
	for i := range spans {
		order = append(order, i)
	}
	s.order = order
	slices.SortFunc(order, func(a, b int) int { return cmp.Or(bytes.Compare(name(a), name(b)), a-b) })
	for k := 1; k < len(order); k++ {
		if a, b := order[k-1], order[k]; bytes.Equal(name(a), name(b)) {
			return false, meta, twice(string(name(a)), spans[a], spans[b])
		}
	}
	return false, meta, nil
}

// twice is the error of a record in which the member name occurs at first and again at
// second.
func twice(name string, first, second span) *scanError {
	return &scanError{pos: second.nameStart - 1, first: first.nameStart - 1, member: name, twice: true}
}

// badRecord finds the end of the record at start, in which bad was found, and returns it
// as received, with the members before bad indexed (__metadata left out). When the end
// cannot be found the page is broken, and that is the error.
func (s *scanner) badRecord(pool *[]member, index, start int, spans []span, meta int, bad *scanError) (Record, error) {
	s.pos = start
	if err := s.skipBalanced(); err != nil {
		return Record{}, err
	}
	end := s.pos
	if end-start > math.MaxUint32 {
		return Record{}, s.errorf("record larger than 4 GB")
	}
	// Leave __metadata out of the index, every occurrence of it, escaped or not.
	escaped := false
	kept := spans[:0]
	for i, sp := range spans {
		name := s.buf[sp.nameStart:sp.nameEnd]
		if bytes.IndexByte(name, '\\') >= 0 {
			escaped = true
			if n, err := unquote(s.buf[sp.nameStart-1 : sp.nameEnd+1]); err == nil && n == metadataName {
				continue
			}
		} else if i == meta || string(name) == metadataName {
			continue
		}
		kept = append(kept, sp)
	}
	rec := Record{raw: s.buf[start:end:end], fields: s.index(pool, kept, start, end-start), escaped: escaped}
	bad.pos -= start
	bad.first -= start
	bad.inRecord = true
	rec.err = &DecodeError{Endpoint: s.endpoint, Record: index, Err: bad}
	if id, ok, err := String(rec.Field(keyName)); ok && err == nil {
		rec.err.Key = id
	}
	return rec, nil
}

// index turns spans into members relative to lo, appended to *pool when pool is not nil.
// size is the record's length, to guess how many more records the page holds.
func (s *scanner) index(pool *[]member, spans []span, lo, size int) []member {
	var p []member
	if pool != nil {
		p = *pool
	}
	if cap(p)-len(p) < len(spans) {
		// Room for the records that are likely to follow this one in the page.
		more := 1
		if pool != nil {
			more = (len(s.buf)-lo)/max(size, 1) + 1
		}
		p = make([]member, 0, more*(len(spans)+1))
	}
	from := len(p)
	for _, sp := range spans {
		p = append(p, member{
			nameStart: uint32(sp.nameStart - lo), nameEnd: uint32(sp.nameEnd - lo),
			valStart: uint32(sp.valStart - lo), valEnd: uint32(sp.valEnd - lo),
		})
	}
	if pool != nil {
		*pool = p
	}
	return p[from:len(p):len(p)]
}

// scanner walks a JSON document without building values, validating every byte: the
// grammar of RFC 8259, and text that PostgreSQL can store (no NUL character, no lone
// UTF-16 surrogate, UTF-8 only), since every record ends up in a jsonb column.
type scanner struct {
	buf      []byte
	pos      int
	depth    int    // objects and arrays open inside skipValue
	spans    []span // scratch for record
	endpoint string // named in the errors of bad records
	order    []int  // scratch for names
	prev     Record // the last good record, whose names the next one likely repeats
}

// span locates a member in the page body while its record is being indexed.
type span struct{ nameStart, nameEnd, valStart, valEnd int }

var errEOF = errors.New("unexpected end of JSON input")

// scanError is what the scanner found wrong, at pos: an offset in the page, or in the
// record once inRecord is set.
type scanError struct {
	msg      string
	pos      int
	eof      bool
	text     bool   // valid JSON, but text PostgreSQL cannot store; msg names it
	member   string // the record's top-level member in which it was found, as received
	inName   bool   // found in a member name rather than a value
	inRecord bool
	twice    bool // member occurs twice, at first and at pos
	first    int
}

func (e *scanError) Error() string {
	if e.twice {
		return fmt.Sprintf("member %s occurs twice, at bytes %d and %d of the record: which value it has is ambiguous",
			strconv.Quote(e.member), e.first, e.pos)
	}
	if e.eof {
		return fmt.Sprintf("%v (at byte %d)", errEOF, e.pos)
	}
	where := ""
	switch {
	case e.inName && e.member == "":
		where = "a member name"
	case e.member != "":
		where = "member " + strconv.Quote(e.member)
	}
	if e.text {
		return cmp.Or(where, "the text") + " holds " + e.msg + ", which PostgreSQL cannot store"
	}
	at := fmt.Sprintf(" at byte %d", e.pos)
	if e.inRecord {
		at += " of the record"
	}
	if where != "" {
		return where + ": " + e.msg + at
	}
	return e.msg + at
}

// Unwrap gives errors.Is access to errEOF.
func (e *scanError) Unwrap() error {
	if e.eof {
		return errEOF
	}
	return nil
}

// fail reports a syntax error at s.pos, or the end of the input when s.pos is there.
func (s *scanner) fail(msg string) *scanError {
	return &scanError{msg: msg, pos: s.pos, eof: s.pos >= len(s.buf)}
}

func (s *scanner) errorf(format string, args ...any) error {
	return s.fail(fmt.Sprintf(format, args...))
}

func (s *scanner) peek() byte {
	if s.pos < len(s.buf) {
		return s.buf[s.pos]
	}
	return 0
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.errorf("expected %q", c)
	}
	s.pos++
	return nil
}

// members iterates the members of an object whose '{' has been consumed, up to and including
// its '}'. fn is called with the name (without quotes) positioned after the ':'; it must
// consume the value.
func (s *scanner) members(fn func(name []byte) error) error {
	for i := 0; ; i++ {
		s.skipSpace()
		if i == 0 && s.peek() == '}' {
			s.pos++
			return nil
		}
		if s.peek() != '"' {
			return s.errorf("expected a member name")
		}
		ns := s.pos + 1
		if err := s.skipString(); err != nil {
			return err
		}
		name := s.buf[ns : s.pos-1]
		s.skipSpace()
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := fn(name); err != nil {
			return err
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.errorf("expected ',' or '}' in an object")
		}
	}
}

// value skips the next value and returns its bytes.
func (s *scanner) value() ([]byte, error) {
	s.skipSpace()
	start := s.pos
	if err := s.skipValue(); err != nil {
		return nil, err
	}
	return s.buf[start:s.pos], nil
}

// skip is skipValue for callers that want an error interface.
func (s *scanner) skip() error {
	if err := s.skipValue(); err != nil {
		return err
	}
	return nil
}

// skipValue skips one value, validating it whole. The error is a *scanError or nil; it is
// returned as such so that record can add where it was found.
func (s *scanner) skipValue() *scanError {
	s.skipSpace()
	switch c := s.peek(); {
	case c == '"':
		return s.skipString()
	case c == '{':
		return s.skipObject()
	case c == '[':
		return s.skipArray()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		start := s.pos
		for s.pos < len(s.buf) && isNumberByte(s.buf[s.pos]) {
			s.pos++
		}
		if !validNumber(s.buf[start:s.pos]) {
			s.pos = start
			return s.fail("invalid number")
		}
		if s.pos == len(s.buf) {
			return s.fail("") // a number cannot end a document that is an object
		}
		return nil
	default:
		return s.fail("expected a value")
	}
}

// skipObject skips an object at its '{'.
func (s *scanner) skipObject() *scanError {
	if s.depth++; s.depth > maxNesting {
		return s.fail("objects and arrays nested too deep")
	}
	defer func() { s.depth-- }()
	s.pos++
	for i := 0; ; i++ {
		s.skipSpace()
		if i == 0 && s.peek() == '}' {
			s.pos++
			return nil
		}
		if s.peek() != '"' {
			return s.fail("expected a member name in an object")
		}
		if err := s.skipString(); err != nil {
			return err
		}
		s.skipSpace()
		if s.peek() != ':' {
			return s.fail("expected ':' after a member name")
		}
		s.pos++
		if err := s.skipValue(); err != nil {
			return err
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return nil
		default:
			return s.fail("expected ',' or '}' in an object")
		}
	}
}

// skipArray skips an array at its '['.
func (s *scanner) skipArray() *scanError {
	if s.depth++; s.depth > maxNesting {
		return s.fail("objects and arrays nested too deep")
	}
	defer func() { s.depth-- }()
	s.pos++
	for i := 0; ; i++ {
		s.skipSpace()
		if i == 0 && s.peek() == ']' {
			s.pos++
			return nil
		}
		if err := s.skipValue(); err != nil {
			return err
		}
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			return nil
		default:
			return s.fail("expected ',' or ']' in an array")
		}
	}
}

func (s *scanner) literal(lit string) *scanError {
	if len(s.buf)-s.pos < len(lit) && string(s.buf[s.pos:]) == lit[:len(s.buf)-s.pos] {
		s.pos = len(s.buf)
		return s.fail("")
	}
	if len(s.buf)-s.pos < len(lit) || string(s.buf[s.pos:s.pos+len(lit)]) != lit {
		return s.fail("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// skipString skips a string starting at its opening quote, validating its escapes and its
// UTF-8, and refusing the text PostgreSQL cannot store.
func (s *scanner) skipString() *scanError {
	buf := s.buf
	i := s.pos + 1
	for {
		for i+8 <= len(buf) && !specialIn(binary.LittleEndian.Uint64(buf[i:])) {
			i += 8 // the fast path: eight bytes of printable ASCII at a time
		}
		for i < len(buf) && !stringSpecial[buf[i]] {
			i++ // printable ASCII
		}
		if i >= len(buf) {
			s.pos = len(buf)
			return s.fail("")
		}
		switch c := buf[i]; {
		case c == '"':
			s.pos = i + 1
			return nil
		case c == '\\':
			n, err := s.escape(i)
			if err != nil {
				return err
			}
			i += n
		case c < 0x20:
			s.pos = i
			return s.fail(fmt.Sprintf("control character %#02x in a string", c))
		default:
			r, n := utf8.DecodeRune(buf[i:])
			if r == utf8.RuneError && n <= 1 {
				s.pos = i
				if !utf8.FullRune(buf[i:]) {
					return s.fail("")
				}
				return &scanError{msg: fmt.Sprintf("bytes that are not UTF-8 (%#02x)", c), pos: i, text: true}
			}
			i += n
		}
	}
}

// specialIn reports whether one of the eight bytes of x is one that stringSpecial marks:
// a control character, '"', '\\' or a byte of a multi-byte UTF-8 sequence. It is
// skipString's fast path over strings: by the byte, scanning strings was the largest
// item of decoding a page of transaction lines (BENCHMARKS.md). The tests of a zero byte
// and of a byte below 0x20 are the classic ones (Hacker's Delight, 6-1; "Bit Twiddling
// Hacks", "Determine if a word has a byte less than n"): they never miss one.
func specialIn(x uint64) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	below := (x - ones*0x20) &^ x
	zeroQ := (quote - ones) &^ quote
	zeroB := (backslash - ones) &^ backslash
	return (below|zeroQ|zeroB|x)&high != 0
}

// stringSpecial marks the bytes that end the fast path inside a string.
var stringSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	for c := 0x80; c < 0x100; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// escape validates the escape sequence at buf[i] (a backslash) and returns its length.
func (s *scanner) escape(i int) (int, *scanError) {
	n, _, msg, text := checkEscape(s.buf[i:])
	switch {
	case msg == "":
		return n, nil
	case text:
		return 0, &scanError{msg: msg, pos: i, text: true}
	case i+n >= len(s.buf): // cut short by the end of the body
		s.pos = len(s.buf)
		return 0, s.fail("")
	}
	s.pos = i
	return 0, s.fail(msg)
}

// checkEscape reads the escape sequence at the start of b (a backslash) and returns its
// length and the rune it stands for. msg describes a sequence that is not valid JSON (n
// then says how far the bytes were read), or with text set one that is valid JSON but
// names a character PostgreSQL cannot store: NUL, or a UTF-16 surrogate that is not half
// of a pair.
func checkEscape(b []byte) (n int, r rune, msg string, text bool) {
	if len(b) < 2 {
		return len(b), 0, "unterminated escape", false
	}
	switch b[1] {
	case '"', '\\', '/':
		return 2, rune(b[1]), "", false
	case 'b':
		return 2, '\b', "", false
	case 'f':
		return 2, '\f', "", false
	case 'n':
		return 2, '\n', "", false
	case 'r':
		return 2, '\r', "", false
	case 't':
		return 2, '\t', "", false
	case 'u':
	default:
		return 2, 0, fmt.Sprintf("invalid escape %s in a string", strconv.QuoteToASCII(string(b[:2]))), false
	}
	r, ok := hex4(b[2:])
	if !ok {
		return min(len(b), 6), 0, "invalid escape: \\u wants 4 hex digits", false
	}
	switch {
	case r == 0:
		return 6, 0, `a NUL character (\u0000)`, true
	case r >= 0xdc00 && r <= 0xdfff:
		return 6, 0, fmt.Sprintf(`a lone UTF-16 surrogate (\u%04x)`, r), true
	case r >= 0xd800 && r <= 0xdbff:
		if len(b) >= 8 && b[6] == '\\' && b[7] == 'u' {
			lo, ok := hex4(b[8:])
			if !ok {
				return min(len(b), 12), 0, "invalid escape: \\u wants 4 hex digits", false
			}
			if lo >= 0xdc00 && lo <= 0xdfff {
				return 12, utf16Pair(r, lo), "", false
			}
		}
		return 6, 0, fmt.Sprintf(`a lone UTF-16 surrogate (\u%04x)`, r), true
	}
	return 6, r, "", false
}

func utf16Pair(hi, lo rune) rune { return (hi-0xd800)<<10 | (lo - 0xdc00) + 0x10000 }

// hex4 reads four hex digits.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// skipBalanced finds the end of the object or array at s.pos by its brackets alone,
// skipping strings without judging their contents: the bounds of a record in which
// skipValue found a fault.
// skipLoose steps over one value at s.pos by its brackets and quotes alone, without
// validating it: a bad value's end, so that the members after it can be indexed.
func (s *scanner) skipLoose() error {
	switch s.peek() {
	case '{', '[':
		return s.skipBalanced()
	case '"':
		return s.skipQuoted()
	}
	for s.pos < len(s.buf) {
		switch s.buf[s.pos] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return nil
		}
		s.pos++
	}
	return s.errorf("")
}

// skipQuoted steps over a string at its opening quote by its quotes and backslashes
// alone, without validating it.
func (s *scanner) skipQuoted() error {
	i := s.pos + 1
	for i < len(s.buf) && s.buf[i] != '"' {
		if s.buf[i] == '\\' {
			i++
		}
		i++
	}
	if i >= len(s.buf) {
		s.pos = len(s.buf)
		return s.errorf("")
	}
	s.pos = i + 1
	return nil
}

func (s *scanner) skipBalanced() error {
	var arr [64]byte
	stack := arr[:0]
	for s.pos < len(s.buf) {
		switch c := s.buf[s.pos]; c {
		case '{', '[':
			stack = append(stack, c)
			s.pos++
		case '}', ']':
			if len(stack) == 0 || (c == '}') != (stack[len(stack)-1] == '{') {
				return s.errorf("unbalanced %q", c)
			}
			stack = stack[:len(stack)-1]
			s.pos++
			if len(stack) == 0 {
				return nil
			}
		case '"':
			if err := s.skipQuoted(); err != nil {
				return err
			}
		default:
			s.pos++
		}
	}
	return s.errorf("")
}

func isNumberByte(c byte) bool {
	return (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

// validNumber reports whether b is a JSON number.
func validNumber(b []byte) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i == len(b) {
		return false
	}
	if b[i] == '0' {
		i++
	} else if b[i] >= '1' && b[i] <= '9' {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	} else {
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == d {
			return false
		}
	}
	return i == len(b)
}

// unquote decodes a JSON string value (with its quotes).
func unquote(v []byte) (string, error) {
	b, err := unquoteBytes(v)
	return string(b), err
}

// unquoteBytes decodes a JSON string value (with its quotes). Without escapes it returns
// the bytes between the quotes, without copying, whether they are ASCII or not. Text PostgreSQL cannot store (NUL, a lone
// UTF-16 surrogate, bytes that are not UTF-8) is an error, never replaced.
func unquoteBytes(v []byte) ([]byte, error) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return nil, fmt.Errorf("%w: want a string, got %s", errType, show(v))
	}
	inner := v[1 : len(v)-1]
	i := 0
	for i < len(inner) {
		// Printable ASCII and valid UTF-8 stand as they are; an escape, a control
		// character or bytes that are not UTF-8 take the path below.
		if i+8 <= len(inner) && !specialIn(binary.LittleEndian.Uint64(inner[i:])) {
			i += 8
			continue
		}
		c := inner[i]
		if !stringSpecial[c] {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			break
		}
		r, n := utf8.DecodeRune(inner[i:])
		if r == utf8.RuneError && n <= 1 {
			break
		}
		i += n
	}
	if i == len(inner) {
		return inner, nil
	}
	out := make([]byte, 0, len(inner))
	out = append(out, inner[:i]...)
	for i < len(inner) {
		c := inner[i]
		switch {
		case !stringSpecial[c]:
			out = append(out, c)
			i++
		case c == '\\':
			n, r, msg, text := checkEscape(inner[i:])
			if text {
				return nil, &scanError{msg: msg, text: true}
			}
			if msg != "" {
				return nil, fmt.Errorf("invalid string %s: %s", show(v), msg)
			}
			out = utf8.AppendRune(out, r)
			i += n
		case c == '"' || c < 0x20:
			return nil, fmt.Errorf("invalid string %s: unescaped %s", show(v), strconv.QuoteRuneToASCII(rune(c)))
		default:
			r, n := utf8.DecodeRune(inner[i:])
			if r == utf8.RuneError && n <= 1 {
				return nil, &scanError{msg: fmt.Sprintf("bytes that are not UTF-8 (%#02x)", c), text: true}
			}
			out = append(out, inner[i:i+n]...)
			i += n
		}
	}
	return out, nil
}

// show quotes a value for an error message: at most 60 bytes, cut at a character, in
// Go syntax when it holds bytes that a log line or a text column should not.
func show(v []byte) string {
	t := v
	if len(t) > 60 {
		t = t[:60]
		for k := 0; k < utf8.UTFMax-1 && !utf8.Valid(t); k++ {
			t = t[:len(t)-1] // a character cut in two
		}
	}
	for _, c := range t {
		if c < 0x20 || c == 0x7f {
			return strconv.QuoteToASCII(string(t))
		}
	}
	if !utf8.Valid(t) {
		return strconv.QuoteToASCII(string(t))
	}
	return string(t)
}
