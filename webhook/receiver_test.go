package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// fakeTrigger records the runs asked for; block makes each call wait for its context.
type fakeTrigger struct {
	mu    gosync.Mutex
	runs  []Target
	block bool
	err   error
}

func (f *fakeTrigger) Trigger(ctx context.Context, t Target) error {
	f.mu.Lock()
	f.runs = append(f.runs, t)
	block, err := f.block, f.err
	f.mu.Unlock()
	if block {
		<-ctx.Done()
		return ctx.Err()
	}
	return err
}

func (f *fakeTrigger) got() []Target {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Target(nil), f.runs...)
}

// countObserver counts outcomes.
type countObserver struct {
	mu gosync.Mutex
	n  map[string]int
}

func (o *countObserver) Delivered(topic, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[outcome]++
}

func (o *countObserver) Committed(string, time.Duration) {}

func (o *countObserver) count(outcome string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[outcome]
}

// clock is a settable clock.
type clock struct {
	mu gosync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var defaultEntities = []string{"accounts", "suppliers", "contacts", "transaction_lines", "sales_invoices", "items"}

func newTestReceiver(t *testing.T, cfg Config) (*Receiver, *fakeTrigger, *countObserver) {
	t.Helper()
	trig, obs := &fakeTrigger{}, &countObserver{}
	cfg.Secret, cfg.Trigger, cfg.Observer = testSecret, trig, obs
	if cfg.Entities == nil {
		cfg.Entities = defaultEntities
	}
	rc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rc, trig, obs
}

func delivery(topic string, division int, action string) []byte {
	return body(testSecret, fmt.Sprintf(`{"Topic":%q,"ClientId":"app","Division":%d,"Action":%q,"Key":"k","ExactOnlineEndpoint":"https://x","EventCreatedOn":"2026-01-05T10:00:00.000"}`,
		topic, division, action))
}

func post(t *testing.T, h http.Handler, b []byte) int {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/exact/webhook", bytes.NewReader(b)))
	return w.Code
}

func TestHandlerAnswers(t *testing.T) {
	rc, trig, obs := newTestReceiver(t, Config{})
	content := `{"Topic":"Accounts","Division":101}`
	for _, tt := range []struct {
		name    string
		body    []byte
		status  int
		outcome string
	}{
		{"validation call", nil, http.StatusOK, OutcomeValidation},
		{"validation call, whitespace", []byte(" \r\n"), http.StatusOK, OutcomeValidation},
		{"missing signature", []byte(`{"Content":` + content + `}`), http.StatusUnauthorized, OutcomeBadSignature},
		{"bad signature", []byte(`{"Content":` + content + `,"HashCode":"` + Sign([]byte("other"), []byte(content)) + `"}`), http.StatusUnauthorized, OutcomeBadSignature},
		{"lower-case signature", []byte(`{"Content":` + content + `,"HashCode":"` + strings.ToLower(Sign(testSecret, []byte(content))) + `"}`), http.StatusUnauthorized, OutcomeBadSignature},
		{"not a delivery", []byte(`hello`), http.StatusBadRequest, OutcomeMalformed},
		{"too large", append(delivery("Accounts", 101, "Update"), bytes.Repeat([]byte(" "), DefaultMaxBody)...), http.StatusRequestEntityTooLarge, OutcomeTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := obs.count(tt.outcome)
			if got := post(t, rc, tt.body); got != tt.status {
				t.Errorf("status %d, want %d", got, tt.status)
			}
			if obs.count(tt.outcome) != before+1 {
				t.Errorf("outcome %s not observed", tt.outcome)
			}
		})
	}
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/exact/webhook", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", w.Code)
	}
	// The handler hands a delivery to the debouncer before it answers, and Fire triggers
	// what is due before it returns (no goroutine is started here): the state now is final.
	rc.Fire(context.Background())
	if n := len(rc.pending); n != 0 || len(trig.got()) != 0 {
		t.Errorf("%d runs pending, %d triggered by calls that carried no valid delivery; want none", n, len(trig.got()))
	}
}

// TestBurstGivesOneRunAMinute sends bursts of deliveries for one division and topic: each
// burst within the window gives one run, and runs of one entity and division are at least
// a minute apart.
func TestBurstGivesOneRunAMinute(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}
	rc, trig, obs := newTestReceiver(t, Config{Now: clk.Now})
	ctx := context.Background()
	for range 50 {
		if st := post(t, rc, delivery("Accounts", 101, "Update")); st != http.StatusOK {
			t.Fatalf("status %d", st)
		}
		clk.Add(10 * time.Millisecond) // 50 deliveries in half a second
	}
	post(t, rc, delivery("Accounts", 102, "Update")) // another division: a run of its own
	if next := rc.Fire(ctx); len(trig.got()) != 0 || next.IsZero() {
		t.Fatalf("fired %d runs inside the window (next %v)", len(trig.got()), next)
	}
	clk.Add(DefaultWindow)
	rc.Fire(ctx)
	runs := trig.got()
	if len(runs) != 2 || runs[0].Division != 101 || runs[0].Entity != "accounts" || runs[1].Division != 102 {
		t.Fatalf("runs %+v, want one for accounts (suppliers share it) in 101 and one in 102", runs)
	}
	if obs.count(OutcomeOK) != 2 || obs.count(OutcomeDebounced) != 49 {
		t.Errorf("ok %d debounced %d, want 2 and 49", obs.count(OutcomeOK), obs.count(OutcomeDebounced))
	}
	// Ten seconds later, another burst: it waits for the minute to end.
	clk.Add(10 * time.Second)
	for range 20 {
		post(t, rc, delivery("Accounts", 101, "Update"))
	}
	clk.Add(30 * time.Second)
	rc.Fire(ctx)
	if n := len(trig.got()); n != 2 {
		t.Fatalf("%d runs 40 s after the first, want still 2", n)
	}
	clk.Add(20 * time.Second)
	rc.Fire(ctx)
	if runs := trig.got(); len(runs) != 3 || runs[2].Division != 101 {
		t.Fatalf("runs %+v, want a third for 101 a minute after the first", runs)
	}
}

func TestDeleteQueuesDeletionsAfterTheEntity(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}
	rc, trig, _ := newTestReceiver(t, Config{Now: clk.Now})
	post(t, rc, delivery("FinancialTransactions", 101, "Delete"))
	clk.Add(DefaultWindow)
	rc.Fire(context.Background())
	runs := trig.got()
	if len(runs) != 2 || runs[0].Entity != "transaction_lines" || runs[1].Entity != DeletionsEntity {
		t.Errorf("runs %+v, want transaction_lines then deletions", runs)
	}
}

func TestUnknownTopicIgnoredAndLoggedOnce(t *testing.T) {
	var logs bytes.Buffer
	rc, trig, obs := newTestReceiver(t, Config{Logger: zerolog.New(&logs), Entities: []string{"accounts"}})
	for range 3 {
		for _, topic := range []string{"NoSuchTopic", "Items"} { // Items: a topic of no enabled entity
			if st := post(t, rc, delivery(topic, 101, "Update")); st != http.StatusOK {
				t.Errorf("status %d, want 200 (Exact would retry otherwise)", st)
			}
		}
	}
	rc.Fire(context.Background())
	if n := strings.Count(logs.String(), "webhook topic of no enabled entity"); n != 2 {
		t.Errorf("logged %d times, want once per topic:\n%s", n, logs.String())
	}
	if obs.count(OutcomeUnknownTopic) != 6 || len(trig.got()) != 0 || len(rc.pending) != 0 {
		t.Errorf("unknown %d, runs %d, pending %d; want 6, 0, 0", obs.count(OutcomeUnknownTopic), len(trig.got()), len(rc.pending))
	}
}

func TestLaterAsksAgain(t *testing.T) {
	clk := &clock{t: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}
	rc, trig, _ := newTestReceiver(t, Config{Now: clk.Now})
	trig.err = &LaterError{At: clk.Now().Add(45 * time.Second)}
	post(t, rc, delivery("Items", 101, "Update"))
	clk.Add(DefaultWindow)
	next := rc.Fire(context.Background())
	if want := clk.Now().Add(43 * time.Second); !next.Equal(want) {
		t.Errorf("next %v, want %v", next, want)
	}
	trig.err = errors.New("database down")
	clk.Add(43 * time.Second)
	if next := rc.Fire(context.Background()); !next.IsZero() || len(trig.got()) != 2 {
		t.Errorf("after a failure: next %v, runs %d; want nothing pending and 2 calls", next, len(trig.got()))
	}
}

// TestHandlerAnswersWithinASecondWhenDownstreamHangs serves the receiver over HTTP with a
// trigger and a recorder that never return: every delivery is still answered at once.
func TestHandlerAnswersWithinASecondWhenDownstreamHangs(t *testing.T) {
	trig := &fakeTrigger{block: true}
	rc, err := New(Config{Secret: testSecret, Entities: defaultEntities, Trigger: trig, Recorder: hangingRecorder{},
		Window: time.Millisecond, Every: time.Millisecond, TriggerTimeout: time.Hour, RecordTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var slowest time.Duration
	for i := range 200 {
		start := time.Now()
		resp, err := http.Post(srv.URL, "application/json", bytes.NewReader(delivery("Accounts", 100+i%5, "Update")))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d", resp.StatusCode)
		}
		slowest = max(slowest, time.Since(start))
	}
	if slowest > time.Second {
		t.Errorf("slowest answer %v, want under 1s", slowest)
	}
	t.Logf("200 deliveries with the trigger and the database hanging: slowest answer %v", slowest)
	if len(trig.got()) == 0 {
		t.Errorf("no run was asked for")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := rc.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

type hangingRecorder struct{}

func (hangingRecorder) RecordWebhookDeliveries(ctx context.Context, _ []Seen) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestMountAndPath(t *testing.T) {
	for in, want := range map[string]string{"https://h/exact/webhook": "/exact/webhook", "https://h": "/", "https://h/a%20b": "/a%20b"} {
		if got, err := Path(in); err != nil || got != want {
			t.Errorf("Path(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	rc, _, obs := newTestReceiver(t, Config{})
	mux := http.NewServeMux()
	if err := Mount(mux, "https://sync.example.com/exact/webhook", rc); err != nil {
		t.Fatal(err)
	}
	s, err := Listen(ServerConfig{Addr: "127.0.0.1:0", Handler: mux})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+s.Addr+"/exact/webhook", "application/json", nil)
	if err != nil || resp.StatusCode != http.StatusOK || obs.count(OutcomeValidation) != 1 {
		t.Errorf("validation over HTTP: %v %v", resp, err)
	}
	resp.Body.Close()
	if err := s.Stop(context.Background()); err != nil {
		t.Error(err)
	}
}
