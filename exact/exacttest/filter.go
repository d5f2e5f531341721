package exacttest

import (
	"errors"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// errQuerySyntax is answered with "Bad Request - Error in query syntax." (§4.4).
var errQuerySyntax = errors.New("Bad Request - Error in query syntax.")

// expr is a parsed $filter expression.
type expr interface {
	eval(r record) bool
}

type cmpExpr struct {
	field int
	typ   edmType
	op    string // eq ne gt ge lt le
	lit   value
	trim  bool // trim(Field) (§3.8)
}

type logicExpr struct {
	and  bool
	l, r expr
}

type notExpr struct{ x expr }

func (e *logicExpr) eval(r record) bool {
	if e.and {
		return e.l.eval(r) && e.r.eval(r)
	}
	return e.l.eval(r) || e.r.eval(r)
}

func (e *notExpr) eval(r record) bool { return !e.x.eval(r) }

func (e *cmpExpr) eval(r record) bool {
	v := r[e.field]
	if e.lit.null || v.null {
		both := e.lit.null && v.null
		switch e.op {
		case "eq":
			return both
		case "ne":
			return !both
		}
		return false
	}
	c := compareValues(e.typ, v, e.lit, e.trim)
	switch e.op {
	case "eq":
		return c == 0
	case "ne":
		return c != 0
	case "gt":
		return c > 0
	case "ge":
		return c >= 0
	case "lt":
		return c < 0
	default:
		return c <= 0
	}
}

// compareValues orders two non-null values of type t: strings without regard to case, as SQL
// Server's default collation does (trim drops the padding of v first, §3.8); decimals by their
// value; dates by their Amsterdam wall-clock time, as Exact stores and compares them (§3.8), so
// that the autumn hour that happens twice orders as its served /Date(ms)/ values do.
func compareValues(t edmType, v, lit value, trim bool) int {
	switch t {
	case edmGuid:
		return strings.Compare(v.s, lit.s)
	case edmString, edmBinary:
		s := v.s
		if trim {
			s = strings.TrimSpace(s)
		}
		return strings.Compare(strings.ToLower(s), strings.ToLower(lit.s))
	case edmDouble, edmDecimal:
		a, _ := new(big.Rat).SetString(v.s)
		b, _ := new(big.Rat).SetString(lit.s)
		if a == nil || b == nil {
			return strings.Compare(v.s, lit.s)
		}
		return a.Cmp(b)
	case edmDateTime:
		return cmpInt(wallMillis(v.n), wallMillis(lit.n))
	}
	return cmpInt(v.n, lit.n)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// token kinds of the $filter lexer.
const (
	tokWord = iota
	tokString
	tokNumber
	tokTyped // guid'…', datetime'…'
	tokPunct
)

type token struct {
	kind   int
	text   string // word, punctuation, number text, string content
	prefix string // for tokTyped: "guid", "datetime"
}

func lexFilter(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '(' || c == ')' || c == ',':
			toks = append(toks, token{kind: tokPunct, text: string(c)})
			i++
		case c == '\'':
			str, n, err := lexString(s[i:])
			if err != nil {
				return nil, err
			}
			toks = append(toks, token{kind: tokString, text: str})
			i += n
		case c == '-' || c >= '0' && c <= '9':
			j := i + 1
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' ||
				(s[j] == 'E' || s[j] == 'e') && j+1 < len(s) && (s[j+1] >= '0' && s[j+1] <= '9' || s[j+1] == '-' || s[j+1] == '+') ||
				(s[j] == '-' || s[j] == '+') && (s[j-1] == 'E' || s[j-1] == 'e')) {
				j++
			}
			if j < len(s) && strings.IndexByte("LlMmDd", s[j]) >= 0 {
				j++
			}
			toks = append(toks, token{kind: tokNumber, text: s[i:j]})
			i = j
		case c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z':
			j := i + 1
			for j < len(s) && (s[j] == '_' || s[j] == '/' || s[j] >= 'A' && s[j] <= 'Z' || s[j] >= 'a' && s[j] <= 'z' || s[j] >= '0' && s[j] <= '9') {
				j++
			}
			word := s[i:j]
			if j < len(s) && s[j] == '\'' {
				str, n, err := lexString(s[j:])
				if err != nil {
					return nil, err
				}
				toks = append(toks, token{kind: tokTyped, prefix: strings.ToLower(word), text: str})
				i = j + n
				continue
			}
			toks = append(toks, token{kind: tokWord, text: word})
			i = j
		default:
			return nil, errQuerySyntax
		}
	}
	return toks, nil
}

// lexString reads a quoted literal (” is an escaped quote) and returns its content and length.
func lexString(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		if s[i] == '\'' {
			if i+1 < len(s) && s[i+1] == '\'' {
				b.WriteByte('\'')
				i++
				continue
			}
			return b.String(), i + 1, nil
		}
		b.WriteByte(s[i])
	}
	return "", 0, errQuerySyntax
}

// filterParser is a recursive-descent parser for the $filter subset Exact clients use:
// comparisons (eq ne gt ge lt le) of a field or trim(field) with a literal, and/or/not, parentheses.
type filterParser struct {
	ent    *entity
	toks   []token
	pos    int
	fields []string // every field referenced, in order
}

func parseFilter(e *entity, s string) (expr, []string, error) {
	toks, err := lexFilter(s)
	if err != nil {
		return nil, nil, err
	}
	p := &filterParser{ent: e, toks: toks}
	x, err := p.or()
	if err != nil {
		return nil, p.fields, err
	}
	if p.pos != len(p.toks) {
		return nil, p.fields, errQuerySyntax
	}
	return x, p.fields, nil
}

func (p *filterParser) peekWord(w string) bool {
	return p.pos < len(p.toks) && p.toks[p.pos].kind == tokWord && strings.EqualFold(p.toks[p.pos].text, w)
}

func (p *filterParser) peekPunct(c string) bool {
	return p.pos < len(p.toks) && p.toks[p.pos].kind == tokPunct && p.toks[p.pos].text == c
}

func (p *filterParser) or() (expr, error) {
	l, err := p.and()
	for err == nil && p.peekWord("or") {
		p.pos++
		var r expr
		if r, err = p.and(); err == nil {
			l = &logicExpr{l: l, r: r}
		}
	}
	return l, err
}

func (p *filterParser) and() (expr, error) {
	l, err := p.unary()
	for err == nil && p.peekWord("and") {
		p.pos++
		var r expr
		if r, err = p.unary(); err == nil {
			l = &logicExpr{and: true, l: l, r: r}
		}
	}
	return l, err
}

func (p *filterParser) unary() (expr, error) {
	if p.peekWord("not") {
		p.pos++
		x, err := p.unary()
		return &notExpr{x: x}, err
	}
	if p.peekPunct("(") {
		p.pos++
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if !p.peekPunct(")") {
			return nil, errQuerySyntax
		}
		p.pos++
		return x, nil
	}
	return p.comparison()
}

func (p *filterParser) next() (token, bool) {
	if p.pos >= len(p.toks) {
		return token{}, false
	}
	t := p.toks[p.pos]
	p.pos++
	return t, true
}

func (p *filterParser) comparison() (expr, error) {
	t, ok := p.next()
	if !ok || t.kind != tokWord {
		return nil, errQuerySyntax
	}
	c := &cmpExpr{}
	name := t.text
	if strings.EqualFold(name, "trim") && p.peekPunct("(") {
		p.pos++
		if t, ok = p.next(); !ok || t.kind != tokWord || !p.peekPunct(")") {
			return nil, errQuerySyntax
		}
		p.pos++
		name, c.trim = t.text, true
	}
	p.fields = append(p.fields, name)
	idx, known := p.ent.index[name]
	op, ok := p.next()
	if !ok || op.kind != tokWord {
		return nil, errQuerySyntax
	}
	c.op = strings.ToLower(op.text)
	switch c.op {
	case "eq", "ne", "gt", "ge", "lt", "le":
	default:
		return nil, errQuerySyntax
	}
	lit, ok := p.next()
	if !ok {
		return nil, errQuerySyntax
	}
	if !known {
		return c, nil // reported by the caller as an unsupported field
	}
	c.field, c.typ = idx, p.ent.fields[idx].typ
	v, err := literal(c.typ, lit)
	if err != nil {
		return nil, err
	}
	c.lit = v
	return c, nil
}

// literal converts a filter literal to a value of type t (§3.8 literal forms).
func literal(t edmType, lit token) (value, error) {
	if lit.kind == tokWord && strings.EqualFold(lit.text, "null") {
		return value{null: true}, nil
	}
	switch t {
	case edmGuid:
		if lit.kind == tokTyped && lit.prefix == "guid" || lit.kind == tokString {
			g, err := canonicalGUID(lit.text)
			if err != nil {
				return value{}, errQuerySyntax
			}
			return value{s: g}, nil
		}
	case edmString:
		if lit.kind == tokString {
			return value{s: lit.text}, nil
		}
	case edmBoolean:
		switch {
		case lit.kind == tokWord && strings.EqualFold(lit.text, "true"), lit.kind == tokNumber && lit.text == "1":
			return value{n: 1}, nil
		case lit.kind == tokWord && strings.EqualFold(lit.text, "false"), lit.kind == tokNumber && lit.text == "0":
			return value{n: 0}, nil
		}
	case edmByte, edmInt16, edmInt32, edmInt64:
		if lit.kind == tokNumber {
			n, err := strconv.ParseInt(strings.TrimRight(lit.text, "Ll"), 10, 64)
			if err == nil {
				return value{n: n}, nil
			}
		}
	case edmDouble, edmDecimal:
		if lit.kind == tokNumber {
			text := strings.TrimRight(lit.text, "MmDd")
			if _, ok := new(big.Rat).SetString(text); ok {
				return value{s: text}, nil
			}
		}
	case edmDateTime:
		if lit.kind == tokTyped && lit.prefix == "datetime" {
			// datetime'…' carries no zone and means Dutch local time (§3.8).
			for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
				if tm, err := time.ParseInLocation(layout, lit.text, amsterdam); err == nil {
					return value{n: tm.UnixMilli()}, nil
				}
			}
		}
	}
	return value{}, errQuerySyntax
}

// syncBound checks a sync-endpoint filter: only Timestamp (gt/ge) may be used (§3.10); on
// sync/Deleted "EntityType eq n" is tolerated as in Exact's own demo. It returns the exclusive
// Timestamp lower bound and whether other conditions remain to be evaluated.
func syncBound(e *entity, x expr) (after int64, rest bool, ok bool) {
	switch x := x.(type) {
	case *logicExpr:
		if !x.and {
			return 0, false, false
		}
		a1, r1, ok1 := syncBound(e, x.l)
		a2, r2, ok2 := syncBound(e, x.r)
		return max(a1, a2), r1 || r2, ok1 && ok2
	case *cmpExpr:
		name := e.fields[x.field].name
		switch {
		case name == "Timestamp" && x.op == "gt" && !x.lit.null:
			return x.lit.n, false, true
		case name == "Timestamp" && x.op == "ge" && !x.lit.null:
			return x.lit.n - 1, false, true
		case name == "EntityType" && e == deletedEntity:
			return 0, true, true
		}
	}
	return 0, false, false
}
