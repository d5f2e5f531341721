package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/webhook"
)

// webhookWorld is a world whose run processes serve the webhook callback on a free
// loopback port, with the simulator delivering to it.
func webhookWorld(t *testing.T, hooks exacttest.WebhookOptions) (*world, string) {
	t.Helper()
	hooks.Secret = "e2e-webhook-Zsekrit-0123456789"
	hooks.ValidationDelay = 200 * time.Millisecond
	w := newWorld(t, exacttest.Options{Divisions: []int{101}, Accounts: 20, Records: map[string]int{"*": 5}, Webhooks: hooks})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	url := "http://" + addr + "/exact/webhook"
	w.env["EXACTSYNC_ENTITIES"] = "accounts,suppliers,transaction_lines"
	w.env["EXACT_WEBHOOK_SECRET"] = hooks.Secret
	w.env["EXACTSYNC_WEBHOOK_URL"] = url
	w.env["EXACTSYNC_WEBHOOK_LISTEN"] = addr
	w.importToken()
	// Run after the run processes' own cleanup, which adds their output to w.logs.
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if strings.Contains(strings.Join(w.logs, "\n"), "Zsekrit") {
			t.Errorf("a command printed the webhook secret")
		}
	})
	return w, url
}

// idle reports whether the first runs are done: accounts synced and no sync job waiting
// or running.
func (w *world) idle() bool {
	return w.count(`SELECT count(*) FROM exact_sync.runs WHERE status = 'ok' AND entity = 'accounts'`) >= 1 &&
		w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync' AND state NOT IN ('completed', 'cancelled', 'discarded')`) == 0
}

// rowName is the name of one account in PostgreSQL, "" when absent.
func (w *world) rowName(id string) string {
	var name string
	_ = w.pool.QueryRow(context.Background(), `SELECT name FROM exact.accounts WHERE division = 101 AND id = $1`, id).Scan(&name)
	return name
}

// TestWebhookEndToEnd: run subscribes at start, the simulator validates the callback; a
// record changed in the simulator is delivered, queues the division's incremental run and
// lands in PostgreSQL long before the next tick, and nothing ever fetched a record by key.
func TestWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	w, url := webhookWorld(t, exacttest.WebhookOptions{Duplicates: 2})
	w.env["EXACTSYNC_SCHEDULE_DEFAULT"] = "0 0 1 1 *" // the catch-up at start, then (nearly) never
	w.startRuns(1)
	w.waitUntil("the subscriptions validated", 30*time.Second, func() bool {
		n := 0
		for _, s := range w.sim.WebhookSubscriptions() {
			if s.CallbackURL == url && s.Validated {
				n++
			}
		}
		return n == 2 // Accounts and FinancialTransactions
	})
	w.waitUntil("the first runs", 30*time.Second, func() bool { return w.idle() })

	keys, err := w.sim.UpsertRecords("accounts", 101, map[string]any{"Name": "Webhook Delivered BV"})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	w.waitUntil("the changed account in PostgreSQL", 30*time.Second, func() bool { return w.rowName(keys[0]) == "Webhook Delivered BV" })
	took := time.Since(start)
	w.sim.WaitWebhooks()
	// Deleted in Exact: the delivery queues the run and then the division's deletions.
	if err := w.sim.DeleteRecords("accounts", 101, keys[0]); err != nil {
		t.Fatal(err)
	}
	w.waitUntil("the deleted account gone", 90*time.Second, func() bool {
		return w.count(`SELECT count(*) FROM exact.accounts WHERE division = 101 AND id = $1`, keys[0]) == 0
	})
	t.Logf("change in the simulator to row in PostgreSQL: %v (debounce window 2 s)", took)

	ok := 0
	for _, d := range w.sim.WebhookDeliveries() {
		if d.Status == 200 {
			ok++
		} else {
			t.Errorf("delivery answered %d: %+v", d.Status, d)
		}
	}
	if ok < 2+3 {
		t.Errorf("%d deliveries answered 200, want the 2 validations and 3 copies of the change", ok)
	}
	for k := range w.sim.Stats().APICalls {
		if strings.Contains(k, "(") || strings.Contains(k, "crm/Accounts") && !strings.Contains(k, "sync/") {
			t.Errorf("a call fetched a record: %q", k)
		}
	}
	// The first change queued one accounts run (three copies, debounced); the deletion
	// queued the deletions run at once, and the accounts run waits for the minute's end.
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync' AND args ? 'webhook' AND args->>'entity' = 'accounts'`); n != 1 {
		t.Errorf("%d webhook-triggered accounts jobs, want 1 within the minute", n)
	}
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE kind = 'exactsync_sync' AND args ? 'webhook' AND args->>'entity' = 'deletions'`); n != 1 {
		t.Errorf("%d webhook-triggered deletions jobs, want 1", n)
	}
	r := w.mustRun("webhooks", "status")
	for _, want := range []string{"Accounts", "FinancialTransactions", url + " (exactsync)", "Delete"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("webhooks status shows no %q:\n%s", want, r.stdout)
		}
	}
	if r := w.mustRun("webhooks", "sync"); !strings.Contains(r.stdout, "connection 1 division 101: kept Accounts, FinancialTransactions; 0 other callbacks left alone") {
		t.Errorf("webhooks sync:\n%s", r.stdout)
	}
}

// TestWebhookLostDeliveriesScheduleConverges: every delivery is lost (or signed wrong);
// the schedule still brings the change.
func TestWebhookLostDeliveriesScheduleConverges(t *testing.T) {
	t.Parallel()
	w, _ := webhookWorld(t, exacttest.WebhookOptions{LossRate: 1})
	w.env["EXACTSYNC_SCHEDULE_DEFAULT"] = "0 0 1 1 *"
	w.env["EXACTSYNC_SCHEDULE_ACCOUNTS"] = "@every 45s" // and suppliers with it: within the day's forecast limit
	w.env["EXACTSYNC_SCHEDULE_SUPPLIERS"] = "@every 45s"
	w.env["EXACTSYNC_FULL_SCHEDULE_DEFAULT"] = "off"
	w.startRuns(1)
	w.waitUntil("the first runs", 30*time.Second, func() bool {
		return w.count(`SELECT count(*) FROM exact_sync.runs WHERE status = 'ok' AND entity = 'accounts'`) >= 1
	})
	keys, err := w.sim.UpsertRecords("accounts", 101, map[string]any{"Name": "Lost Delivery BV"})
	if err != nil {
		t.Fatal(err)
	}
	w.waitUntil("the schedule brought the change", 100*time.Second, func() bool { return w.rowName(keys[0]) == "Lost Delivery BV" })
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE args ? 'webhook'`); n != 0 {
		t.Errorf("%d webhook-triggered jobs, want none: every delivery was lost", n)
	}
	lost := 0
	for _, d := range w.sim.WebhookDeliveries() {
		if d.Lost {
			lost++
		}
	}
	if lost == 0 {
		t.Errorf("no delivery was lost; the test tests nothing")
	}
}

// TestWebhookBadSignatureTriggersNothing: deliveries signed with another secret get 401,
// counted by the metrics on --listen and summed up in one log line. The callback is served
// on its own listener only: a call to its path on --listen gets 404 and a warning that
// says where it is served.
func TestWebhookBadSignatureTriggersNothing(t *testing.T) {
	t.Parallel()
	w, url := webhookWorld(t, exacttest.WebhookOptions{WrongSignature: true})
	w.env["EXACTSYNC_SCHEDULE_DEFAULT"] = "0 0 1 1 *"
	addr := freeAddr(t, w.env["EXACTSYNC_WEBHOOK_LISTEN"])
	p := w.startRuns(1, "--listen", addr)[0]
	w.waitUntil("the first runs", 30*time.Second, func() bool {
		return w.count(`SELECT count(*) FROM exact_sync.runs WHERE status = 'ok' AND entity = 'accounts'`) >= 1
	})
	w.waitUntil("the subscriptions", 30*time.Second, func() bool { return len(w.sim.WebhookSubscriptions()) == 2 })
	if _, err := w.sim.UpsertRecords("accounts", 101, map[string]any{"Name": "Forged BV"}); err != nil {
		t.Fatal(err)
	}
	w.sim.WaitWebhooks()
	statuses := map[int]int{}
	for _, d := range w.sim.WebhookDeliveries() {
		if !d.Validation {
			statuses[d.Status]++
		}
	}
	if fmt.Sprint(statuses) != "map[401:1]" {
		t.Errorf("delivery statuses %v, want one 401", statuses)
	}
	// Then, once the first runs are over (a job still queued would take the delivery's
	// run in), a delivery signed with the right secret, for another entity of the division.
	w.waitUntil("the first runs to end", time.Minute, w.idle)
	// Had the forged one been taken, its run would be due first, and queued before or
	// with this one's (the receiver queues what is due in order, accounts before
	// transaction_lines): once this one's job exists, the count of webhook jobs is final.
	content := `{"Topic":"FinancialTransactions","ClientId":"` + testClientID + `","Division":101,"Action":"Update",` +
		`"Key":"00000000-0000-4000-8000-0000000000f1","ExactOnlineEndpoint":"https://start.exactonline.nl/api/v1/101/financialtransaction/TransactionLines","EventCreatedOn":"2026-01-05T10:00:00.000"}`
	signed := `{"Content":` + content + `,"HashCode":"` + webhook.Sign([]byte(w.env["EXACT_WEBHOOK_SECRET"]), []byte(content)) + `"}`
	resp, err := http.Post(url, "application/json", strings.NewReader(signed))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a delivery signed with the secret: status %d, want 200", resp.StatusCode)
	}
	w.waitUntil("the signed delivery's job", 30*time.Second, func() bool {
		return w.count(`SELECT count(*) FROM exact_river.river_job WHERE args ? 'webhook' AND args->>'entity' = 'transaction_lines'`) == 1
	})
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE args ? 'webhook' AND args->>'entity' <> 'transaction_lines'`); n != 0 {
		t.Errorf("%d webhook-triggered jobs for the forged delivery, want none", n)
	}
	resp, err = http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`exactsync_webhook_deliveries_total{outcome="bad_signature",topic=""} 1`,
		`exactsync_webhook_deliveries_total{outcome="validation",topic=""} 2`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics has no %s", want)
		}
	}
	resp, err = http.Post("http://"+addr+"/exact/webhook", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("a POST to the callback's path on --listen: %d, want 404", resp.StatusCode)
	}
	stopRun(t, p)
	if n := summaryCounts(t, p.stderr.String())["bad_signature"]; n != 1 {
		t.Errorf("run's log sums up %d calls with a bad signature, want 1:\n%s", n, p.stderr)
	}
	if !strings.Contains(p.stderr.String(), "a webhook call came to the --listen server") {
		t.Errorf("run's log does not say the callback is not on --listen:\n%s", p.stderr)
	}
}

// freeAddr is a loopback address with a port free a moment ago, other than those of
// avoid (addresses taken the same way, which the kernel may hand out again).
func freeAddr(t *testing.T, avoid ...string) string {
	t.Helper()
	for {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if !slices.Contains(avoid, addr) {
			return addr
		}
	}
}

// stopRun sends SIGTERM to a run process and waits (30 s at most) for it to exit.
func stopRun(t *testing.T, p *runProc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("exactsync run did not exit within 30 s of SIGTERM")
	}
}

// TestWebhookConfigErrors: bad webhook settings are refused with one line and exit 2.
func TestWebhookConfigErrors(t *testing.T) {
	t.Parallel()
	w := newWorld(t, exacttest.Options{Divisions: []int{101}})
	for _, tt := range []struct {
		env  map[string]string
		args []string
		want string
	}{
		{map[string]string{"EXACTSYNC_WEBHOOK_URL": "http://sync.example.com/hook", "EXACT_WEBHOOK_SECRET": "s"}, []string{"run"}, "EXACTSYNC_WEBHOOK_URL: \"http://sync.example.com/hook\" uses plain http"},
		{map[string]string{"EXACTSYNC_WEBHOOK_URL": "https://sync.example.com/hook"}, []string{"run"}, "EXACT_WEBHOOK_SECRET: not set while EXACTSYNC_WEBHOOK_URL is"},
		{map[string]string{"EXACTSYNC_WEBHOOK_URL": "https://sync.example.com/hook", "EXACT_WEBHOOK_SECRET": "s"}, []string{"run", "--listen", ":8090"},
			`EXACTSYNC_WEBHOOK_LISTEN (default :8090) ":8090" is the port of --listen (EXACTSYNC_LISTEN) ":8090"; the callback is public`},
		{map[string]string{"EXACTSYNC_WEBHOOK_URL": "https://sync.example.com/hook", "EXACT_WEBHOOK_SECRET": "s", "EXACTSYNC_WEBHOOK_LISTEN": "127.0.0.1:9464"},
			[]string{"run", "--listen", "0.0.0.0:9464"}, `EXACTSYNC_WEBHOOK_LISTEN "127.0.0.1:9464" is the port of --listen`},
		{map[string]string{"EXACTSYNC_WEBHOOK_URL": "https://sync.example.com/hook", "EXACT_WEBHOOK_SECRET": "s", "EXACTSYNC_WEBHOOK_MAX_CONNS": "0"}, []string{"run"},
			`EXACTSYNC_WEBHOOK_MAX_CONNS: "0" is not a number of connections`},
		{map[string]string{"EXACTSYNC_WEBHOOK_URL": "https://sync.example.com/hook", "EXACT_WEBHOOK_SECRET": "s", "EXACTSYNC_WEBHOOK_MAX_CONNS": "100000000"}, []string{"run"},
			"EXACTSYNC_WEBHOOK_MAX_CONNS: the webhook callback may hold 100000001 file descriptors"},
		{nil, []string{"webhooks", "sync"}, "webhooks are not configured"},
	} {
		r := w.run(tt.env, tt.args...)
		if r.code != 2 || !strings.Contains(lastLine(r.stderr), tt.want) {
			t.Errorf("%v with %v: %s\nwant exit 2 and a last line with %q", tt.args, tt.env, r, tt.want)
		}
	}
}

// TestWebhooksSyncAtOnceSubscribesOnce: two `webhooks sync` at the same moment (replicas
// starting together) leave one subscription per topic. The simulator holds each list call
// until a second one comes (or 2 s pass): without a lock both processes would list none
// and both create every topic.
func TestWebhooksSyncAtOnceSubscribesOnce(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the exactsync binary against the simulator; skipped with -short")
	}
	// The callback answers nothing (port 9): its validation call, which would remove the
	// subscriptions, is put off past the test's end, so that what is counted is what the
	// two processes created, however long they take.
	hooks := exacttest.WebhookOptions{Secret: "e2e-webhook-Zsekrit-0123456789", ValidationDelay: time.Hour}
	sim := exacttest.New(exacttest.Options{ClientID: testClientID, ClientSecret: testClientSecret, Divisions: []int{101},
		Accounts: 5, Webhooks: hooks})
	var lists atomic.Int32
	second := make(chan struct{})
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/webhooks/WebhookSubscriptions") {
			if lists.Add(1) == 2 {
				close(second)
			}
			select {
			case <-second:
			case <-time.After(2 * time.Second):
			}
		}
		sim.ServeHTTP(w, r)
	}))
	t.Cleanup(hs.Close)
	w := newWorldAt(t, &exacttest.Server{Simulator: sim, URL: hs.URL}, []int{101}, "info")
	w.env["EXACTSYNC_ENTITIES"] = "accounts,suppliers,transaction_lines"
	w.env["EXACT_WEBHOOK_SECRET"] = hooks.Secret
	w.env["EXACTSYNC_WEBHOOK_URL"] = "http://127.0.0.1:9/exact/webhook"
	w.env["EXACTSYNC_WEBHOOK_LISTEN"] = "127.0.0.1:0"
	w.importToken()

	var wg gosync.WaitGroup
	results := make([]result, 2)
	for i := range results {
		wg.Go(func() { results[i] = w.run(nil, "webhooks", "sync") })
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("webhooks sync %d: %s", i+1, r)
		}
	}
	perTopic := map[string]int{}
	for _, s := range sim.WebhookSubscriptions() {
		perTopic[s.Topic]++
	}
	if want := map[string]int{"Accounts": 1, "FinancialTransactions": 1}; !maps.Equal(perTopic, want) {
		t.Errorf("subscriptions per topic after two webhooks sync at once: %v, want %v", perTopic, want)
	}
}

// TestSamePort: the callback's address and --listen's collide when they take one port
// number on overlapping hosts; port 0 picks a free one each time.
func TestSamePort(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		same bool
	}{
		{":8090", ":8090", true},
		{":8090", "127.0.0.1:8090", true},
		{"0.0.0.0:9464", "10.0.0.5:9464", true},
		{"[::]:9464", "127.0.0.1:9464", true},
		{"127.0.0.1:9464", "127.0.0.1:9464", true},
		{"127.0.0.1:9464", "10.0.0.5:9464", false},
		{":8090", ":9464", false},
		{"127.0.0.1:0", "127.0.0.1:0", false},
		{"8090", ":8090", false},
	} {
		if got := samePort(tt.a, tt.b); got != tt.same {
			t.Errorf("samePort(%q, %q) = %t, want %t", tt.a, tt.b, got, tt.same)
		}
	}
	if got := otherPort(":8090"); got != ":8091" {
		t.Errorf("otherPort(:8090) = %q, want :8091", got)
	}
	if got := otherPort("127.0.0.1:9464"); got != ":8090" {
		t.Errorf("otherPort(127.0.0.1:9464) = %q, want :8090", got)
	}
}
