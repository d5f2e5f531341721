package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// forgedCalls are calls of every kind an unauthenticated caller can make, each carrying a
// long value (marker repeated) where the call has a field, and the reason each is counted under.
func forgedCalls(marker string) []struct {
	method, query string
	body          []byte
	reason        string
} {
	long := strings.Repeat(marker, 4000/len(marker))
	content := fmt.Sprintf(`{"Topic":%q,"ClientId":%q,"Division":101,"Action":"Update","Key":%q}`, long, long, long)
	return []struct {
		method, query string
		body          []byte
		reason        string
	}{
		{"POST", "", []byte(`{"Content":` + content + `,"HashCode":"` + Sign([]byte("not the secret"), []byte(content)) + `"}`), OutcomeBadSignature},
		{"POST", "", []byte(`{"Content":` + content + `}`), OutcomeBadSignature},
		{"POST", "", []byte(`{"Content":{"Topic":"Accounts","Division":"` + long + `\n{\"level\":\"error\"}"}}`), OutcomeMalformed},
		{"POST", "", []byte(`{"` + long + `":1}`), OutcomeMalformed},
		{"POST", "", bytes.Repeat([]byte(marker), DefaultMaxBody/len(marker)+1), OutcomeTooLarge},
		{"POST", "", nil, OutcomeValidation},
		{"PUT", "", []byte(long), ReasonNotPost},
	}
}

// TestForgedCallsLogBounded sends 10,000 calls without a valid delivery, with long field
// values: the log grows by a few summary lines, not by the calls, and the lines carry
// counts that add up to the calls and only short, escaped excerpts of what was sent.
func TestForgedCallsLogBounded(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	clk := &clock{t: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}
	rc, trig, _ := newTestReceiver(t, Config{Logger: zerolog.New(&logs), Now: clk.Now})
	const marker, calls = "ZforgedZ", 10_000
	kinds := forgedCalls(marker)
	want := map[string]int{}
	for i := range calls {
		k := kinds[i%len(kinds)]
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, httptest.NewRequest(k.method, "/exact/webhook"+k.query, bytes.NewReader(k.body)))
		if w.Code == http.StatusOK && k.reason != OutcomeValidation {
			t.Fatalf("call %d (%s) answered 200", i, k.reason)
		}
		want[k.reason]++
		clk.Add(time.Millisecond) // 10 s in all: a line at the first call, one at Stop's
		rc.refusals.log(rc.log, clk.Now(), rc.cfg.SummaryEvery, false)
	}
	rc.refusals.log(rc.log, clk.Now(), rc.cfg.SummaryEvery, true)
	if len(trig.got()) != 0 {
		t.Fatalf("forged calls triggered %d runs", len(trig.got()))
	}

	const bound = 100 << 10
	if logs.Len() >= bound {
		t.Errorf("the log grew by %d bytes for %d forged calls, want under %d", logs.Len(), calls, bound)
	}
	got := map[string]int{}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	for _, line := range lines {
		var l struct {
			Level    string            `json:"level"`
			ByReason map[string]int    `json:"by_reason"`
			Samples  map[string]string `json:"samples"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line is not JSON: %v\n%s", err, line)
		}
		if l.Level != "warn" {
			t.Errorf("summary at level %q, want warn", l.Level)
		}
		for reason, n := range l.ByReason {
			got[reason] += n
		}
		for reason, s := range l.Samples {
			if n := strings.Count(s, marker); n > 64/len(marker)+1 {
				t.Errorf("sample of %s carries %d copies of the value sent: %s", reason, n, s)
			}
			if strings.ContainsAny(s, "\n\r") {
				t.Errorf("sample of %s carries a line break: %q", reason, s)
			}
		}
	}
	if len(lines) != 2 {
		t.Errorf("%d summary lines, want 2 (the first call's, and the rest at the end):\n%s", len(lines), logs.String())
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("counted %v, want %v", got, want)
	}
	t.Logf("%d forged calls wrote %d bytes of log in %d lines: %v", calls, logs.Len(), len(lines), got)
}

// TestRefusalSummaryOncePerPeriod: the first refused call is logged at once, the next ones
// in one line when the period has passed, nothing while there is nothing to say, and
// validation calls alone as one Info line.
func TestRefusalSummaryOncePerPeriod(t *testing.T) {
	var logs bytes.Buffer
	clk := &clock{t: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}
	rc, _, _ := newTestReceiver(t, Config{Logger: zerolog.New(&logs), Now: clk.Now, SummaryEvery: 10 * time.Second})
	tick := func() { rc.refusals.log(rc.log, clk.Now(), rc.cfg.SummaryEvery, false) }
	lines := func() int { return strings.Count(logs.String(), "\n") }

	post(t, rc, []byte(`{"Content":{"Topic":"Accounts","Division":101},"HashCode":"AB"}`))
	tick()
	if lines() != 1 || !strings.Contains(logs.String(), `"by_reason":{"bad_signature":1}`) ||
		!strings.Contains(logs.String(), `"bad_signature":"192.0.2.1: topic \"Accounts\", division 101, HashCode of 2 bytes, not 64 upper-case hex digits"`) {
		t.Fatalf("after the first refused call:\n%s", logs.String())
	}
	for range 5 {
		post(t, rc, []byte(`hello`))
		clk.Add(time.Second)
		tick()
	}
	if lines() != 1 {
		t.Fatalf("a second line within the period:\n%s", logs.String())
	}
	clk.Add(5 * time.Second)
	tick()
	if lines() != 2 || !strings.Contains(logs.String(), `"refused":5,"by_reason":{"malformed":5}`) {
		t.Fatalf("after the period:\n%s", logs.String())
	}
	clk.Add(time.Minute)
	tick()
	if lines() != 2 {
		t.Fatalf("a line with nothing to say:\n%s", logs.String())
	}
	post(t, rc, nil)
	tick()
	if lines() != 3 || !strings.Contains(logs.String(), `"level":"info","calls":1`) {
		t.Fatalf("after a validation call:\n%s", logs.String())
	}
}

// TestStopLogsTheLastSummary: what was counted since the last line is logged when the
// receiver stops.
func TestStopLogsTheLastSummary(t *testing.T) {
	var logs bytes.Buffer
	rc, _, _ := newTestReceiver(t, Config{Logger: zerolog.New(&logs), SummaryEvery: time.Hour})
	rc.refusals.last = time.Now() // as if a line had just been logged
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rc.Refused(ReasonClientCap, "192.0.2.9", "over 32 connections at once")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := rc.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"by_reason":{"client_cap":1}`) {
		t.Errorf("no summary at Stop:\n%s", logs.String())
	}
}

// FuzzExcerpt checks excerpt on any text: the result is printable ASCII on one line,
// bounded by the length asked for, and says exactly the start of the text.
func FuzzExcerpt(f *testing.F) {
	for _, s := range []string{"", "Accounts", strings.Repeat("A", 100), "a\nb\r\x00\x1b[31m", "\u202eevil", "ü€😀", "\xff\xfe", `"quoted"\`} {
		f.Add(s, 24)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = 1 + abs(n)%100
		got := excerpt(s, n)
		quoted, cut := strings.CutSuffix(got, "…")
		for _, r := range quoted {
			if r < 0x20 || r > 0x7e {
				t.Fatalf("excerpt(%q, %d) = %q: not printable ASCII", s, n, got)
			}
		}
		if len(quoted) > 4*n+2 {
			t.Fatalf("excerpt(%q, %d) = %q: %d bytes", s, n, got, len(quoted))
		}
		back, err := strconv.Unquote(quoted)
		if err != nil || !strings.HasPrefix(s, back) || len(back) > n || cut != (back != s) {
			t.Fatalf("excerpt(%q, %d) = %q, which says %q (%v)", s, n, got, back, err)
		}
		if cut && len(back)+utf8.UTFMax <= n {
			t.Fatalf("excerpt(%q, %d) = %q cut more than one character short", s, n, got)
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func TestHashShape(t *testing.T) {
	upper := Sign(testSecret, []byte("{}"))
	for h, want := range map[string]string{
		"":                           "missing",
		upper:                        "of the right form, not matching",
		strings.ToLower(upper):       "not in upper case",
		strings.Repeat("Z", 64):      "of 64 bytes, not 64 upper-case hex digits",
		upper + "0":                  "of 65 bytes, not 64 upper-case hex digits",
		strings.Repeat("\n", 10_000): "of 10000 bytes, not 64 upper-case hex digits",
	} {
		if got := hashShape(h); got != want {
			t.Errorf("hashShape(%.10q…) = %q, want %q", h, got, want)
		}
	}
}
