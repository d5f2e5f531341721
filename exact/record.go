package exact

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

// Record is one record of a page as received. It is a view into the page's body: it stays
// valid as long as the caller holds it, and must not be modified.
type Record struct {
	raw    []byte
	fields []member
}

// member locates one top-level member inside Record.raw. Offsets instead of slices keep the
// index free of pointers, so the garbage collector never scans it.
type member struct {
	nameStart, nameEnd uint32 // the name between its quotes, as received
	valStart, valEnd   uint32 // the raw JSON value, without surrounding whitespace
}

// Raw returns the record's JSON object with the "__metadata" member removed (§3.5); all other
// bytes are as received. It does not allocate.
func (r Record) Raw() []byte { return r.raw }

// Field returns the raw JSON value of the top-level member name (e.g. `"A"`, `12`, `null`),
// or nil when the record has no such member. Names are compared exactly, as received.
// It does not allocate.
func (r Record) Field(name string) []byte {
	for i := range r.fields {
		f := &r.fields[i]
		if int(f.nameEnd-f.nameStart) == len(name) && string(r.raw[f.nameStart:f.nameEnd]) == name {
			return r.raw[f.valStart:f.valEnd:f.valEnd]
		}
	}
	return nil
}

// Len returns the number of top-level members, "__metadata" excluded.
func (r Record) Len() int { return len(r.fields) }

// pageBody is the decoded envelope of one response.
type pageBody struct {
	records []Record
	next    string
	count   int64 // -1 when absent
}

const metadataName = "__metadata"

// decodePage splits an OData page, {"d":{"results":[…],"__next":"…","__count":"…"}} or
// {"d":[…]} (§3.5), into records without copying or unmarshalling them. It rewrites bytes
// of body in place to cut the __metadata members out, so body must not be used afterwards
// except through the records. A "d" object without "results" and "__next" is one record
// (the GET-by-key shape).
func decodePage(body []byte) (pageBody, error) {
	s := scanner{buf: body, spans: make([]span, 0, 64)}
	out := pageBody{count: -1}
	s.skipSpace()
	if err := s.expect('{'); err != nil {
		return out, err
	}
	foundD := false
	err := s.members(func(name []byte, _ int) error {
		if string(name) != "d" {
			return s.skipValue()
		}
		foundD = true
		s.skipSpace()
		switch s.peek() {
		case '[':
			return s.records(&out)
		case '{':
			return s.envelope(&out)
		default:
			return s.errorf("expected an object or array as \"d\"")
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
	err := s.members(func(name []byte, _ int) error {
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
				return s.errorf(`"__next" is not a string`)
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
			return s.skipValue()
		}
	})
	if err != nil {
		return err
	}
	if !haveResults && !haveNext {
		// {"d":{…entity…}}: the entity itself is the only record.
		s2 := scanner{buf: s.buf, pos: start}
		rec, err := s2.record(nil)
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
		rec, err := s.record(&pool)
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

// record reads one object at s.pos, indexes its members and cuts its __metadata member out
// of the buffer. Members are appended to *pool when pool is not nil (sharing one backing
// array across a page).
func (s *scanner) record(pool *[]member) (Record, error) {
	spans := s.spans[:0]
	defer func() { s.spans = spans[:0] }() // reuse the array for the next record
	start := s.pos
	s.pos++ // '{'
	meta := -1
	err := s.members(func(name []byte, nameStart int) error {
		ns := nameStart
		v, err := s.value()
		if err != nil {
			return err
		}
		vs := s.pos - len(v)
		if string(name) == metadataName {
			meta = len(spans)
		}
		spans = append(spans, span{ns, ns + len(name), vs, s.pos})
		return nil
	})
	if err != nil {
		return Record{}, err
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
	var p []member
	if pool != nil {
		p = *pool
	}
	if cap(p)-len(p) < len(spans) {
		// Room for the records that are likely to follow this one in the page.
		more := 1
		if pool != nil {
			more = (len(s.buf)-start)/max(end-start, 1) + 1
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
	return Record{raw: s.buf[lo:hi:hi], fields: p[from:len(p):len(p)]}, nil
}

// scanner walks a JSON document without building values.
type scanner struct {
	buf   []byte
	pos   int
	spans []span // scratch for record
}

// span locates a member in the page body while its record is being indexed.
type span struct{ nameStart, nameEnd, valStart, valEnd int }

var errEOF = errors.New("unexpected end of JSON input")

func (s *scanner) errorf(format string, args ...any) error {
	if s.pos >= len(s.buf) {
		return fmt.Errorf("%w (at byte %d)", errEOF, s.pos)
	}
	return fmt.Errorf(format+" at byte %d", append(args, s.pos)...)
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
// its '}'. fn is called with the name (without quotes) and the offset of the name's first
// byte, positioned after the ':'; it must consume the value.
func (s *scanner) members(fn func(name []byte, nameStart int) error) error {
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
		if err := fn(name, ns); err != nil {
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

func (s *scanner) skipValue() error {
	s.skipSpace()
	switch c := s.peek(); {
	case c == '"':
		return s.skipString()
	case c == '{' || c == '[':
		return s.skipNested()
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
			return s.errorf("invalid number")
		}
		if s.pos == len(s.buf) {
			return s.errorf("")
		}
		return nil
	default:
		return s.errorf("expected a value")
	}
}

func (s *scanner) literal(lit string) error {
	if len(s.buf)-s.pos < len(lit) {
		s.pos = len(s.buf)
		return s.errorf("")
	}
	if string(s.buf[s.pos:s.pos+len(lit)]) != lit {
		return s.errorf("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

// skipString skips a string starting at its opening quote.
func (s *scanner) skipString() error {
	buf := s.buf
	i := s.pos + 1
	for i < len(buf) {
		c := buf[i]
		if !stringSpecial[c] {
			i++
			continue
		}
		switch {
		case c == '"':
			s.pos = i + 1
			return nil
		case c == '\\':
			i += 2
		default:
			s.pos = i
			return s.errorf("control character in a string")
		}
	}
	s.pos = len(buf)
	return s.errorf("")
}

// stringSpecial marks the bytes that end the fast path inside a string.
var stringSpecial = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// skipNested skips an object or array, checking that brackets balance and strings close.
func (s *scanner) skipNested() error {
	var stack [64]byte
	depth := 0
	for s.pos < len(s.buf) {
		switch c := s.buf[s.pos]; c {
		case '{', '[':
			if depth == len(stack) {
				return s.errorf("nesting too deep")
			}
			stack[depth] = c
			depth++
			s.pos++
		case '}', ']':
			if depth == 0 || (c == '}') != (stack[depth-1] == '{') {
				return s.errorf("unbalanced %q", c)
			}
			depth--
			s.pos++
			if depth == 0 {
				return nil
			}
		case '"':
			if err := s.skipString(); err != nil {
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
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", errors.New("not a JSON string")
	}
	inner := v[1 : len(v)-1]
	for _, c := range inner {
		if c == '\\' {
			var str string
			if err := json.Unmarshal(v, &str); err != nil {
				return "", fmt.Errorf("invalid string %s", strconv.Quote(string(truncate(v, 40))))
			}
			return str, nil
		}
	}
	return string(inner), nil
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
