package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/exactsync/exactsync/sink/sinktest"
)

// TestReadyzFollowsTheDatabaseFromTheStart starts `exactsync run` while PostgreSQL cannot
// be reached: the process stays up and says once that it waits; /readyz answers 503
// naming the wait while the worker has not started (the proxy is cut, so it cannot
// have), and 200 once it has. Cut again after the start, /readyz answers 503 naming the
// database while /healthz and /metrics go on; restored, 200 again; SIGTERM ends it
// cleanly. Every step waits for an event (a log line, the proxy's state), never for time.
func TestReadyzFollowsTheDatabaseFromTheStart(t *testing.T) {
	t.Parallel()
	ow := newOpsWorld(t, []int{101}, 50)
	ow.importToken()
	ow.proxy.Cut()
	p := ow.startServing()
	const waitLine = "cannot reach PostgreSQL while starting"
	if !eventually(60*time.Second, func() bool { return strings.Contains(p.stderr.String(), waitLine) }) {
		t.Fatalf("exactsync run did not say within 60 s that it waits for PostgreSQL:\n%s", p.stderr)
	}
	code, body := p.get(t, "/readyz")
	if code != 503 || !strings.HasPrefix(body, "worker: not started: waiting for PostgreSQL (attempt ") {
		t.Errorf("/readyz while the start waits: %d %q, want 503 naming the wait", code, body)
	}
	if c, _ := p.get(t, "/healthz"); c != 200 {
		t.Errorf("/healthz while the start waits: %d, want 200: the process is up", c)
	}
	if p.cmd.ProcessState != nil {
		t.Fatalf("exactsync run exited while PostgreSQL was cut: %v\n%s", p.cmd.ProcessState, p.stderr)
	}

	ow.proxy.Restore()
	if !eventually(60*time.Second, func() bool { code, body = p.try("/readyz"); return code == 200 }) {
		t.Fatalf("/readyz 60 s after the database came back: %d %q, want 200\nexactsync run's stderr:\n%s", code, body, p.stderr)
	}
	// One line when PostgreSQL goes, one when it answers, however many attempts between:
	// a server out of connection slots (another test's load) is an outage of its own.
	logs := p.stderr.String()
	if waits, backs := strings.Count(logs, waitLine), strings.Count(logs, "PostgreSQL answers again"); waits < 1 || waits != backs {
		t.Errorf("the log says %d times that it waits and %d times that PostgreSQL answers again, want as many, at least one (one line per change of state):\n%s",
			waits, backs, logs)
	}
	if n := strings.Count(logs, `"message":"worker started"`); n != 1 {
		t.Errorf("the log says %d times that the worker started, want once:\n%s", n, logs)
	}
	if strings.Contains(logs, `"level":"error"`) {
		t.Errorf("waiting for PostgreSQL logged an error:\n%s", logs)
	}

	// After the start, readiness is the database's.
	ow.proxy.Cut()
	if !eventually(30*time.Second, func() bool { code, body = p.try("/readyz"); return code == 503 }) {
		t.Fatalf("/readyz with the database cut after the start: %d %q, want 503\nexactsync run's stderr:\n%s", code, body, p.stderr)
	}
	if !strings.HasPrefix(body, "database: ") {
		t.Errorf("/readyz with the database cut: %q, want a first line naming the database", body)
	}
	if c, _ := p.get(t, "/healthz"); c != 200 {
		t.Errorf("/healthz with the database cut: %d, want 200", c)
	}
	if c, _ := p.get(t, "/metrics"); c != 200 {
		t.Errorf("/metrics with the database cut: %d, want 200 without the sync lag", c)
	}
	ow.proxy.Restore()
	if !eventually(60*time.Second, func() bool { code, body = p.try("/readyz"); return code == 200 }) {
		t.Fatalf("/readyz 60 s after the database came back: %d %q, want 200\nexactsync run's stderr:\n%s", code, body, p.stderr)
	}
	if body != "ok\n" {
		t.Errorf("/readyz recovered: %q, want ok", body)
	}
	p.stop(t)
}

var inProcessAddr = regexp.MustCompile(`"addr":"([^"]+)"[^\n]*serving HTTP`)

// TestRunSurvivesTheDatabaseDroppingWhileItStarts takes PostgreSQL away at each step of
// run's start, as the worker's start met it in the field ("starting the worker: error
// initializing driver: unexpected EOF"): run tries again once it answers, /readyz
// answers 503 until the worker has started, and the process ends only when told to.
func TestRunSurvivesTheDatabaseDroppingWhileItStarts(t *testing.T) {
	if testing.Short() {
		t.Skip("cuts PostgreSQL while run starts; skipped with -short")
	}
	for _, step := range []string{stepMigrate, stepMigrateQueue, stepDivisions, stepStartWorker} {
		t.Run(step, func(t *testing.T) {
			t.Parallel()
			p := newInProcess(t)
			if r := p.run("auth", "import", "--refresh-token", p.sim.RefreshToken()); r.code != exitOK {
				t.Fatalf("import: %s", r)
			}
			dbURL, proxy := sinktest.Proxied(t, p.vars["DATABASE_URL"])
			p.vars["DATABASE_URL"] = dbURL
			p.vars["EXACT_DIVISIONS"] = "101"
			p.vars["LOG_FORMAT"] = "json"

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			stderr := &lockedBuffer{}
			const waitLine = "cannot reach PostgreSQL while starting"
			cut := make(chan int, 1) // the waiting lines logged before the cut
			didCut := false
			e := &env{ctx: ctx, stdin: strings.NewReader(""), stdout: &lockedBuffer{}, stderr: stderr,
				getenv: func(k string) string { return p.vars[k] },
				startHook: func(s string) {
					// The hook runs on run's goroutine, one step at a time; it cuts once.
					if s == step && !didCut {
						didCut = true
						cut <- strings.Count(stderr.String(), waitLine)
						proxy.Cut()
					}
				}}
			done := make(chan int, 1)
			go func() { done <- runEnv(e, []string{"run", "--listen", "127.0.0.1:0"}) }()

			var before int
			select {
			case before = <-cut:
			case <-time.After(60 * time.Second):
				t.Fatalf("run did not reach %q within 60 s:\n%s", step, stderr)
			}
			// The wait the cut caused: a line after those logged before it (the server
			// may have refused an earlier attempt on its own, out of connection slots).
			var addr string
			if !eventually(60*time.Second, func() bool {
				m := inProcessAddr.FindStringSubmatch(stderr.String())
				if m != nil {
					addr = m[1]
				}
				return m != nil && strings.Count(stderr.String(), waitLine) > before
			}) {
				t.Fatalf("run did not say within 60 s that it waits for PostgreSQL after a cut at %q:\n%s", step, stderr)
			}
			rp := &runProcess{addr: addr, stderr: stderr}
			if code, body := rp.try("/readyz"); code != 503 || !strings.HasPrefix(body, "worker: not started: waiting for PostgreSQL") {
				t.Errorf("/readyz while the start waits: %d %q, want 503 naming the wait", code, body)
			}
			select {
			case code := <-done:
				t.Fatalf("run exited with %d while PostgreSQL was cut at %q:\n%s", code, step, stderr)
			default:
			}
			proxy.Restore()
			var code int
			var body string
			if !eventually(60*time.Second, func() bool { code, body = rp.try("/readyz"); return code == 200 }) {
				t.Fatalf("/readyz 60 s after the database came back: %d %q, want 200\n%s", code, body, stderr)
			}
			cancel()
			select {
			case code := <-done:
				if code != exitOK {
					t.Errorf("run exited %d when told to stop, want 0:\n%s", code, stderr)
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("run did not stop within 60 s of its context's end")
			}
		})
	}
}
