package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/webhook"
)

// The webhook callback is the process's public surface: these tests attack it as anyone on
// the internet could, against `exactsync run`, and check that the rest of the process
// (the database pool, Exact's calls, the private /readyz and /metrics) does not notice.

// procSockets reads a process's descriptors from /proc: how many it holds, and the inodes
// of its sockets.
func procSockets(pid int) (fds int, sockets map[string]bool, err error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, nil, err
	}
	sockets = map[string]bool{}
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		if inode, ok := strings.CutPrefix(link, "socket:["); ok {
			sockets[strings.TrimSuffix(inode, "]")] = true
		}
	}
	return len(entries), sockets, nil
}

// connectionsOn counts the established TCP connections among sockets whose local port is
// port, in all and by the client's IPv4 address (from /proc/net/tcp).
func connectionsOn(pid int, sockets map[string]bool, port int) (total int, byClient map[string]int, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/net/tcp", pid))
	if err != nil {
		return 0, nil, err
	}
	defer f.Close()
	byClient = map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Scan() // the header
	seen := map[string]bool{}
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// 01: ESTABLISHED. The kernel writes the table in pieces, so a socket can be
		// listed twice while others come and go: each inode counts once.
		if len(fields) < 10 || fields[3] != "01" || !sockets[fields[9]] || seen[fields[9]] {
			continue
		}
		seen[fields[9]] = true
		_, lport, _ := strings.Cut(fields[1], ":")
		if p, _ := strconv.ParseUint(lport, 16, 16); int(p) != port {
			continue
		}
		raddr, _, _ := strings.Cut(fields[2], ":")
		ip, _ := strconv.ParseUint(raddr, 16, 32) // little-endian on the machines this runs on
		byClient[fmt.Sprintf("%d.%d.%d.%d", ip&0xff, ip>>8&0xff, ip>>16&0xff, ip>>24)]++
		total++
	}
	return total, byClient, sc.Err()
}

// probe is one GET of /readyz.
type probe struct {
	at     time.Time
	took   time.Duration
	status int
	err    error
}

// slowAttack opens conns connections from each of the addresses to addr, each sending a
// delivery's headers and then its body a byte every 250 ms; a connection the server closes
// is opened again a second later, until stop. It returns the number of connections opened.
func slowAttack(addr string, from []string, conns int, stop <-chan struct{}) (opened *atomic.Int64, wait func()) {
	opened = &atomic.Int64{}
	var wg gosync.WaitGroup
	for _, src := range from {
		for range conns {
			wg.Go(func() {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := d.Dial("tcp", addr)
					if err == nil {
						opened.Add(1)
						trickle(c, stop)
						c.Close()
					}
					select {
					case <-stop:
						return
					case <-time.After(time.Second):
					}
				}
			})
		}
	}
	return opened, wg.Wait
}

// trickle sends a delivery's headers, then its body a byte at a time, until a write fails
// or stop.
func trickle(c net.Conn, stop <-chan struct{}) {
	if _, err := fmt.Fprint(c, "POST /exact/webhook HTTP/1.1\r\nHost: sync.example.com\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		return
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte{'{'}); err != nil {
			return
		}
	}
}

// TestWebhookSlowClientsAttack opens many more slow connections to the callback than its
// caps allow, from 13 loopback addresses (one of them greedy), for at least 20 s (two
// rounds of the read timeout), while a sync runs. Throughout:
//   - the process holds at most MAX_CONNS connections on the callback's port, at most
//     MAX_CONNS_PER_CLIENT from one address, and at most MAX_CONNS+64 descriptors and
//     MAX_CONNS+64 goroutines more than before the attack (one of each per connection, and
//     room for the sync's; without the caps the attack alone would add over 400 of each);
//   - /readyz on the private listener answers 200 within 1 s to every probe, each on a new
//     connection, as a kubelet's would be;
//   - the sync completes; after the attack a change made in Exact arrives through a valid
//     delivery.
//
// The 1 s bound holds with room to spare: /readyz takes milliseconds here, so a probe
// over 1 s means it was starved (of a descriptor, or behind the attack), not slow.
func TestWebhookSlowClientsAttack(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("counts the process's descriptors and connections in /proc, and connects from 127.0.0.x")
	}
	const maxConns, perClient = 32, 8
	w, url := webhookWorld(t, exacttest.WebhookOptions{})
	w.env["EXACTSYNC_SCHEDULE_DEFAULT"] = "0 0 1 1 *" // the catch-up at start, then (nearly) never
	w.env["EXACTSYNC_WEBHOOK_MAX_CONNS"] = strconv.Itoa(maxConns)
	w.env["EXACTSYNC_WEBHOOK_MAX_CONNS_PER_CLIENT"] = strconv.Itoa(perClient)
	hookAddr := w.env["EXACTSYNC_WEBHOOK_LISTEN"]
	_, hookPortText, _ := net.SplitHostPort(hookAddr)
	hookPort, _ := strconv.Atoi(hookPortText)
	private := freeAddr(t, hookAddr)
	p := w.startRuns(1, "--listen", private)[0]
	pid := p.cmd.Process.Pid
	w.waitUntil("the subscriptions validated", 60*time.Second, func() bool {
		n := 0
		for _, s := range w.sim.WebhookSubscriptions() {
			if s.CallbackURL == url && s.Validated {
				n++
			}
		}
		return n == 2
	})
	w.waitUntil("the first runs", 60*time.Second, func() bool { return w.idle() })

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	goroutines := func() (int, error) {
		resp, err := client.Get("http://" + private + "/metrics")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return 0, err
		}
		v, ok := sample(string(body), "go_goroutines", "")
		if !ok {
			return 0, fmt.Errorf("no go_goroutines in /metrics")
		}
		return int(v), nil
	}
	baseFDs, _, err := procSockets(pid)
	if err != nil {
		t.Fatal(err)
	}
	baseG, err := goroutines()
	if err != nil {
		t.Fatal(err)
	}

	// Probes of /readyz and looks at the process, from before the attack to after it.
	done := make(chan struct{})
	var (
		mu                  gosync.Mutex
		probes              []probe
		maxFDs, maxG, maxOn int
		maxFromOne          int
		lookErrs            []error
	)
	var watchers gosync.WaitGroup
	watchers.Go(func() {
		probeClient := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for {
			select {
			case <-done:
				return
			case <-time.After(100 * time.Millisecond):
			}
			start := time.Now()
			pr := probe{at: start}
			resp, err := probeClient.Get("http://" + private + "/readyz")
			if err == nil {
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				pr.status = resp.StatusCode
			}
			pr.took, pr.err = time.Since(start), err
			mu.Lock()
			probes = append(probes, pr)
			mu.Unlock()
		}
	})
	watchers.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
			fds, sockets, err := procSockets(pid)
			var on int
			var byClient map[string]int
			if err == nil {
				on, byClient, err = connectionsOn(pid, sockets, hookPort)
			}
			g, gerr := goroutines()
			mu.Lock()
			if err != nil || gerr != nil {
				lookErrs = append(lookErrs, fmt.Errorf("looking at the process: %v, %v", err, gerr))
			}
			maxFDs, maxG, maxOn = max(maxFDs, fds), max(maxG, g), max(maxOn, on)
			for _, n := range byClient {
				maxFromOne = max(maxFromOne, n)
			}
			mu.Unlock()
		}
	})
	stopWatching := func() {
		select {
		case <-done:
		default:
			close(done)
			watchers.Wait()
		}
	}
	t.Cleanup(stopWatching)

	// The attack: one greedy address with 160 connections, twelve others with 24 each.
	stopAttack := make(chan struct{})
	attackStart := time.Now()
	greedy, others := []string{"127.0.0.10"}, []string{}
	for i := 11; i < 23; i++ {
		others = append(others, fmt.Sprintf("127.0.0.%d", i))
	}
	openedGreedy, waitGreedy := slowAttack(hookAddr, greedy, 160, stopAttack)
	openedOthers, waitOthers := slowAttack(hookAddr, others, 24, stopAttack)
	endAttack := func() {
		select {
		case <-stopAttack:
		default:
			close(stopAttack)
			waitGreedy()
			waitOthers()
		}
	}
	t.Cleanup(endAttack)

	// A sync while the callback is under attack: a full pass of the accounts.
	time.Sleep(2 * time.Second) // the attack under way
	w.mustRun("sync", "--entity", "accounts", "--full", "--enqueue")
	w.waitUntil("the full pass of the accounts, during the attack", 90*time.Second, func() bool {
		return w.count(`SELECT count(*) FROM exact_sync.runs WHERE entity = 'accounts' AND status = 'ok' AND full_sync AND started_at > $1`, attackStart) >= 1
	})
	syncDone := time.Since(attackStart)
	for time.Since(attackStart) < 20*time.Second {
		time.Sleep(100 * time.Millisecond)
	}
	attackTook := time.Since(attackStart)
	endAttack()
	opened := openedGreedy.Load() + openedOthers.Load()

	// After the attack: a change in Exact arrives by its delivery.
	keys, err := w.sim.UpsertRecords("accounts", 101, map[string]any{"Name": "After The Attack BV"})
	if err != nil {
		t.Fatal(err)
	}
	w.waitUntil("the change delivered after the attack in PostgreSQL", 90*time.Second, func() bool { return w.rowName(keys[0]) == "After The Attack BV" })
	stopWatching()

	mu.Lock()
	defer mu.Unlock()
	for _, err := range lookErrs {
		t.Error(err)
	}
	var worst time.Duration
	var took []time.Duration
	for _, pr := range probes {
		took = append(took, pr.took)
		worst = max(worst, pr.took)
		if pr.err != nil || pr.status != http.StatusOK {
			t.Errorf("/readyz at %s into the attack: status %d, %v (took %v)", pr.at.Sub(attackStart).Round(time.Millisecond), pr.status, pr.err, pr.took)
		}
	}
	slices.Sort(took)
	if len(probes) < 100 {
		t.Errorf("only %d probes of /readyz; the test measured too little", len(probes))
	}
	if maxOn > maxConns {
		t.Errorf("the process held %d connections on the callback's port at once, over the cap of %d", maxOn, maxConns)
	}
	if maxOn < maxConns {
		t.Errorf("the process held at most %d connections on the callback's port; the attack never reached the cap of %d, so the test shows nothing", maxOn, maxConns)
	}
	if maxFromOne > perClient {
		t.Errorf("the process held %d connections from one address, over the cap of %d", maxFromOne, perClient)
	}
	if bound := baseFDs + maxConns + 64; maxFDs > bound {
		t.Errorf("the process held %d descriptors, over the bound of %d (%d before the attack + the cap of %d + 64)", maxFDs, bound, baseFDs, maxConns)
	}
	if bound := baseG + maxConns + 64; maxG > bound {
		t.Errorf("the process ran %d goroutines, over the bound of %d (%d before the attack + the cap of %d + 64)", maxG, bound, baseG, maxConns)
	}
	if opened < 4*maxConns {
		t.Errorf("the attack opened %d connections, want many more than the cap of %d", opened, maxConns)
	}
	stopRun(t, p)
	log := p.stderr.String()
	if strings.Contains(log, "too many open files") {
		t.Errorf("the process ran out of descriptors:\n%s", log)
	}
	counts := summaryCounts(t, log)
	if counts["client_cap"] == 0 || counts["timeout"] == 0 {
		t.Errorf("the summary lines counted %v; want connections refused over the per-client cap and bodies cut by the read timeout", counts)
	}
	t.Logf("attack: %d slow connections opened in %v from 13 addresses against caps of %d in all and %d per address; the sync finished %v into it",
		opened, attackTook.Round(time.Millisecond), maxConns, perClient, syncDone.Round(time.Millisecond))
	t.Logf("held at most: %d connections on the callback's port, %d from one address; %d descriptors (%d before), %d goroutines (%d before)",
		maxOn, maxFromOne, maxFDs, baseFDs, maxG, baseG)
	t.Logf("/readyz: %d probes, each on a new connection: median %v, p99 %v, slowest %v; refusals summed up in the log: %v",
		len(took), took[len(took)/2], took[len(took)*99/100], worst, counts)
}

var summaryLine = regexp.MustCompile(`"by_reason":\{([^}]*)\}`)

// summaryCounts adds up the counts of every refusal summary line in a log.
func summaryCounts(t *testing.T, log string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, m := range summaryLine.FindAllStringSubmatch(log, -1) {
		for kv := range strings.SplitSeq(m[1], ",") {
			k, v, _ := strings.Cut(kv, ":")
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("summary line with %q: %v", m[0], err)
			}
			counts[strings.Trim(k, `"`)] += n
		}
	}
	return counts
}

// loggedRun is `exactsync run` (at LOG_LEVEL info) whose log a test reads while it runs.
type loggedRun struct {
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
	err    error
}

func (w *world) startLoggedRun(args ...string) *loggedRun {
	w.t.Helper()
	r := &loggedRun{cmd: w.cmd(map[string]string{"LOG_LEVEL": "info"}, append([]string{"run"}, args...)...), log: &lockedBuffer{}, exited: make(chan struct{})}
	r.cmd.Stdout, r.cmd.Stderr = io.Discard, r.log
	if err := r.cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { r.err = r.cmd.Wait(); close(r.exited) }()
	w.t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.exited
		w.mu.Lock()
		w.logs = append(w.logs, r.log.String())
		w.mu.Unlock()
	})
	return r
}

// stop sends SIGTERM and expects a clean exit within 30 s.
func (r *loggedRun) stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-r.exited:
		if r.err != nil {
			t.Errorf("exactsync run exited with %v after SIGTERM\nlog:\n%s", r.err, r.log)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("exactsync run did not exit within 30 s of SIGTERM")
	}
}

// forgedCall is one kind of call an attacker without the webhook secret can make, and the
// reason the refusal summary counts it under.
type forgedCall struct {
	name, method string
	body         []byte
	status       int
	reason       string
}

// forgedCalls are calls of every kind without a valid delivery, each with long values
// (marker repeated) in its fields, newlines and would-be log lines included.
func forgedCalls(marker string) []forgedCall {
	long := strings.Repeat(marker, 8000/len(marker))
	content := fmt.Sprintf(`{"Topic":%q,"ClientId":%q,"Division":101,"Action":%q,"Key":%q,"ExactOnlineEndpoint":%q}`,
		long+"\n{\"level\":\"error\",\"message\":\"forged\"}", long, long, long, long)
	other := exacttest.WebhookSignature("not-the-app-secret", []byte(content))
	return []forgedCall{
		{"wrong secret", "POST", []byte(`{"Content":` + content + `,"HashCode":"` + other + `"}`), http.StatusUnauthorized, "bad_signature"},
		{"no HashCode", "POST", []byte(`{"Content":` + content + `}`), http.StatusUnauthorized, "bad_signature"},
		{"lower-case HashCode", "POST", []byte(`{"Content":` + content + `,"HashCode":"` + strings.ToLower(other) + `"}`), http.StatusUnauthorized, "bad_signature"},
		{"long HashCode", "POST", []byte(`{"Content":{"Topic":"Accounts","Division":101},"HashCode":"` + long + `"}`), http.StatusUnauthorized, "bad_signature"},
		{"division of text", "POST", []byte(`{"Content":{"Topic":"Accounts","Division":"` + long + `\n{\"level\":\"error\"}"}}`), http.StatusBadRequest, "malformed"},
		{"member name", "POST", []byte(`{"` + long + `\u001b[31m":1,"Content":{}}`), http.StatusBadRequest, "malformed"},
		{"not JSON", "POST", []byte(long + "\x00\x1b[2J\r\n"), http.StatusBadRequest, "malformed"},
		{"too large", "POST", []byte(strings.Repeat(marker, (70<<10)/len(marker))), http.StatusRequestEntityTooLarge, "too_large"},
		{"empty", "POST", nil, http.StatusOK, "validation"},
		{"not POST", "DELETE", []byte(long), http.StatusMethodNotAllowed, "not_post"},
	}
}

// TestWebhookForgedDeliveriesLogBounded sends 10,000 calls without a valid delivery to the
// callback of `exactsync run`, of every kind (wrong, missing, lower-case and overlong
// HashCodes, malformed bodies, bodies over the limit, empty POSTs, other methods), with
// field values of 8 KB carrying newlines and would-be log lines. The log grows by less than
// 100 KB (a few summary lines, whatever the number of calls), every line of it is JSON, no
// value sent appears in it beyond a 64-byte escaped excerpt, the summary lines count every
// call by its reason, and no run is queued.
func TestWebhookForgedDeliveriesLogBounded(t *testing.T) {
	t.Parallel()
	const calls, bound, marker = 10_000, 100 << 10, "ZforgedZ"
	w, url := webhookWorld(t, exacttest.WebhookOptions{})
	w.env["EXACTSYNC_SCHEDULE_DEFAULT"] = "0 0 1 1 *"
	// One client address may use every connection: this test counts calls, not connections
	// (each 413 holds its connection half a second, as net/http does to avoid a reset).
	w.env["EXACTSYNC_WEBHOOK_MAX_CONNS_PER_CLIENT"] = strconv.Itoa(webhookDefaultMaxConns)
	r := w.startLoggedRun("--listen", freeAddr(t, w.env["EXACTSYNC_WEBHOOK_LISTEN"]))
	w.waitUntil("the subscriptions validated", 60*time.Second, func() bool {
		n := 0
		for _, s := range w.sim.WebhookSubscriptions() {
			if s.CallbackURL == url && s.Validated {
				n++
			}
		}
		return n == 2
	})
	w.waitUntil("the first runs", 60*time.Second, func() bool { return w.idle() })
	w.waitUntil("the validation calls logged", 30*time.Second, func() bool { return strings.Contains(r.log.String(), "webhook callback validated by Exact") })

	before := len(r.log.String())
	kinds := forgedCalls(marker)
	want := map[string]int{}
	statuses := make([]atomic.Int64, len(kinds))
	var next atomic.Int64
	var failed atomic.Value
	start := time.Now()
	var wg gosync.WaitGroup
	for range 8 {
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			for {
				i := int(next.Add(1) - 1)
				if i >= calls {
					return
				}
				k := kinds[i%len(kinds)]
				req, err := http.NewRequest(k.method, url, strings.NewReader(string(k.body)))
				if err != nil {
					failed.Store(err)
					return
				}
				resp, err := client.Do(req)
				if err != nil {
					failed.Store(fmt.Errorf("call %d (%s): %w", i, k.name, err))
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != k.status {
					failed.Store(fmt.Errorf("call %d (%s): status %d, want %d", i, k.name, resp.StatusCode, k.status))
				}
				statuses[i%len(kinds)].Add(1)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if err, _ := failed.Load().(error); err != nil {
		t.Error(err)
	}
	for i, k := range kinds {
		want[k.reason] += int(statuses[i].Load())
	}
	grewBeforeStop := len(r.log.String()) - before
	r.stop(t)
	logged := r.log.String()[before:]

	if len(logged) >= bound {
		t.Errorf("the log grew by %d bytes for %d forged calls, want under %d", len(logged), calls, bound)
	}
	for _, line := range strings.Split(strings.TrimSpace(logged), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("a log line is not JSON (a forged value broke it?): %q", line)
		}
	}
	if n := longestRun(logged, marker); n > 64 {
		t.Errorf("the log carries %d bytes of a value the forged calls sent, want at most a 64-byte excerpt", n)
	}
	got := summaryCounts(t, logged)
	extra := got["validation"] - want["validation"] // Exact's own validation calls, if not logged before
	got["validation"] = want["validation"]
	if fmt.Sprint(got) != fmt.Sprint(want) || extra < 0 || extra > 2 {
		t.Errorf("the summary lines counted %v (validation %+d), want %v", got, extra, want)
	}
	if n := w.count(`SELECT count(*) FROM exact_river.river_job WHERE args ? 'webhook'`); n != 0 {
		t.Errorf("forged calls queued %d runs", n)
	}
	t.Logf("%d forged calls in %v (%.0f/s): the log grew by %d bytes (%d before the stop), in %d summary lines; counted %v",
		calls, took.Round(time.Millisecond), float64(calls)/took.Seconds(), len(logged), grewBeforeStop, len(summaryLine.FindAllString(logged, -1)), want)
}

// webhookDefaultMaxConns is EXACTSYNC_WEBHOOK_MAX_CONNS's default.
const webhookDefaultMaxConns = webhook.DefaultMaxConns

// longestRun is the length of the longest run of marker repeated in s, in bytes.
func longestRun(s, marker string) int {
	longest := 0
	for i := strings.Index(s, marker); i >= 0; {
		n := 0
		for strings.HasPrefix(s[i+n:], marker) {
			n += len(marker)
		}
		longest = max(longest, n)
		j := strings.Index(s[i+n:], marker)
		if j < 0 {
			break
		}
		i += n + j
	}
	return longest
}
