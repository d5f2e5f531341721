package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/sink"
	"github.com/exactsync/exactsync/sink/sinktest"
	"github.com/exactsync/exactsync/sync"
)

// The token stress test: stressProcesses OS processes (this test binary run again as
// TestHelperProcessTokenStress), each with stressGoroutines goroutines asking one shared
// connection for access tokens, through its own sink.Store on one database and its own
// exact.Client, across stressLifetimes token lifetimes moved with the simulator's clock.
const (
	stressProcesses  = 8
	stressGoroutines = 16
	stressLifetimes  = 20
	stressChildEnv   = "EXACTSYNC_STRESS_CHILD"
	stressSecret     = "stress-secret-0123456789"
)

// The clock moves in phases, frozen in between; every goroutine of every process asks for
// tokens in every phase. A lifetime is two phases: at +300 s nothing may be refreshed; at
// +575 s (25 s left, 5 s past the 570 s rule, §1.8) exactly one process refreshes.
var stressSteps = []struct {
	advance time.Duration
	refresh bool
}{{300 * time.Second, false}, {275 * time.Second, true}}

func TestTokenRefreshAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("a multi-process stress test; skipped with -short")
	}
	t.Parallel()
	sim := exacttest.NewServer(exacttest.Options{ClientID: testClientID, ClientSecret: stressSecret, FreezeClock: true})
	t.Cleanup(sim.Close)
	dbURL := sinktest.NewDatabase(t)
	ctx := context.Background()
	st, err := sink.Open(ctx, sink.Config{DatabaseURL: dbURL, MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	conn := sinktest.NewConnection(t, st, sim.URL, testClientID, sim.RefreshToken())

	lines := make(chan childLine, 1024)
	children := make([]*stressChild, stressProcesses)
	for i := range children {
		children[i] = startStressChild(t, i, lines, map[string]string{
			"STRESS_SIM_URL": sim.URL, "STRESS_DB_URL": dbURL, "STRESS_CONN_ID": strconv.FormatInt(conn.ID, 10),
		})
	}

	// phase runs one phase in every child and returns the token calls it cost.
	phase := 0
	runPhase := func() int {
		t.Helper()
		before := sim.Stats()
		for _, c := range children {
			c.send(fmt.Sprintf("phase %d", phase))
		}
		waiting := stressProcesses
		deadline := time.After(30 * time.Second)
		for waiting > 0 {
			select {
			case l := <-lines:
				switch {
				case l.text == fmt.Sprintf("done %d", phase):
					waiting--
				case strings.HasPrefix(l.text, "error "):
					t.Errorf("process %d, phase %d: %s", l.child, phase, strings.TrimPrefix(l.text, "error "))
				case l.text == "exit":
					t.Fatalf("process %d ended in phase %d:\n%s", l.child, phase, children[l.child].stderr())
				}
			case <-deadline:
				t.Fatalf("phase %d: %d processes did not finish within 30s", phase, waiting)
			}
		}
		after := sim.Stats()
		phase++
		return after.TotalTokenCalls() - before.TotalTokenCalls()
	}

	// Lifetime 0 starts the chain from the imported refresh token.
	if got := runPhase(); got != 1 {
		t.Errorf("first lifetime: %d token calls, want 1", got)
	}
	perLifetime := map[int]int{}
	for lifetime := 1; lifetime <= stressLifetimes; lifetime++ {
		calls := 0
		for _, step := range stressSteps {
			sim.Advance(step.advance)
			n := runPhase()
			if !step.refresh && n != 0 {
				t.Errorf("lifetime %d at +%s: %d token calls, want 0 (the token is valid)", lifetime, step.advance, n)
			}
			calls += n
		}
		perLifetime[calls]++
		if calls != 1 {
			t.Errorf("lifetime %d: %d token calls, want 1", lifetime, calls)
		}
	}

	var processCalls int64
	for _, c := range children {
		c.stdin.Close()
	}
	reported := map[int]bool{}
	for len(reported) < len(children) {
		select {
		case l := <-lines:
			if n, ok := strings.CutPrefix(l.text, "token-calls "); ok {
				v, _ := strconv.ParseInt(n, 10, 64)
				processCalls += v
				reported[l.child] = true
			} else if l.text == "exit" && !reported[l.child] {
				t.Errorf("process %d ended without its summary:\n%s", l.child, children[l.child].stderr())
				reported[l.child] = true
			}
		case <-time.After(20 * time.Second):
			t.Fatal("processes did not report their token calls within 20s")
		}
	}
	for _, c := range children {
		if err := c.wait(); err != nil {
			t.Errorf("process %d: %v\n%s", c.id, err, c.stderr())
		}
	}

	stats := sim.Stats()
	t.Logf("%d processes × %d goroutines, %d lifetimes (%d phases): token calls %v, lifetimes by token calls %v, current/Me calls %d",
		stressProcesses, stressGoroutines, stressLifetimes, phase, stats.TokenCalls, perLifetime, stats.Calls(0, "current/Me"))
	if got, want := stats.TokenCalls["refresh_token/ok"], stressLifetimes+1; got != want || stats.TotalTokenCalls() != want {
		t.Errorf("token calls %v, want exactly %d successful refreshes and nothing else", stats.TokenCalls, want)
	}
	if stats.RefreshReuseRejections != 0 || stats.EarlyRefreshRejections != 0 {
		t.Errorf("rejections: old refresh token used %d, too early %d; want none", stats.RefreshReuseRejections, stats.EarlyRefreshRejections)
	}
	if stats.Unauthorized != 0 {
		t.Errorf("%d calls with a refused access token, want 0", stats.Unauthorized)
	}
	if want := int64(stats.TotalTokenCalls()); processCalls != want {
		t.Errorf("the processes counted %d token calls, the simulator %d", processCalls, want)
	}
	if want := phase * stressProcesses * stressGoroutines; stats.Calls(0, "current/Me") != want {
		t.Errorf("%d current/Me calls, want %d (one per goroutine and phase)", stats.Calls(0, "current/Me"), want)
	}
}

type childLine struct {
	child int
	text  string
}

type stressChild struct {
	id    int
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    gosync.Mutex
	errb  strings.Builder
	done  chan struct{}
}

func (c *stressChild) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errb.Write(p)
}

func (c *stressChild) stderr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.errb.String()
}

func (c *stressChild) send(line string) {
	_, _ = io.WriteString(c.stdin, line+"\n")
}

func (c *stressChild) wait() error {
	<-c.done
	return c.cmd.Wait()
}

func startStressChild(t *testing.T, id int, lines chan<- childLine, env map[string]string) *stressChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcessTokenStress$", "-test.count=1")
	cmd.Env = append(os.Environ(), stressChildEnv+"=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	c := &stressChild{id: id, cmd: cmd, done: make(chan struct{})}
	cmd.Stderr = c
	var err error
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- childLine{child: id, text: sc.Text()}
		}
		lines <- childLine{child: id, text: "exit"}
	}()
	t.Cleanup(func() {
		c.stdin.Close()
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	return c
}

// TestHelperProcessTokenStress is one process of TestTokenRefreshAcrossProcesses. For each
// "phase N" line on stdin it reads the simulator's clock, lets every goroutine ask for an
// access token a few times and prove it with a current/Me call, and prints "done N";
// problems are printed as "error …" lines. When stdin ends it prints its token calls.
func TestHelperProcessTokenStress(t *testing.T) {
	if os.Getenv(stressChildEnv) == "" {
		t.Skip("a child process of TestTokenRefreshAcrossProcesses")
	}
	os.Exit(stressChildMain())
}

func stressChildMain() int {
	ctx := context.Background()
	out := &lockedWriter{w: os.Stdout}
	connID, err := strconv.ParseInt(os.Getenv("STRESS_CONN_ID"), 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	st, err := sink.Open(ctx, sink.Config{DatabaseURL: os.Getenv("STRESS_DB_URL"), MaxConns: 2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer st.Close()
	clock := &remoteClock{url: os.Getenv("STRESS_SIM_URL") + "/_sim/clock"}
	client, err := exact.New(exact.Config{
		BaseURL:      os.Getenv("STRESS_SIM_URL"),
		ClientID:     testClientID,
		ClientSecret: stressSecret,
		Logger:       zerolog.Nop(),
		Now:          clock.Now,
		// The clock is frozen within a phase: a client that wants to wait has misjudged.
		Sleep: func(_ context.Context, d time.Duration) error {
			return fmt.Errorf("the client wanted to wait %s", d)
		},
	}, sync.NewTokenStore(st, connID))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}

	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		var phase int
		if _, err := fmt.Sscanf(sc.Text(), "phase %d", &phase); err != nil {
			out.println("error unknown command " + strconv.Quote(sc.Text()))
			continue
		}
		// The simulator's clock does not move during a phase: one reading over HTTP is
		// the time on both sides for the whole phase.
		if err := clock.read(ctx); err != nil {
			out.println("error reading the simulator's clock: " + err.Error())
		}
		var wg gosync.WaitGroup
		start := make(chan struct{})
		for range stressGoroutines {
			wg.Go(func() {
				<-start
				for range 4 {
					if _, err := client.AccessToken(ctx); err != nil {
						out.println("error AccessToken: " + err.Error())
						return
					}
				}
				if _, err := client.Me(ctx); err != nil {
					out.println("error current/Me: " + err.Error())
				}
			})
		}
		close(start)
		wg.Wait()
		out.println(fmt.Sprintf("done %d", phase))
	}
	out.println(fmt.Sprintf("token-calls %d", client.TokenCalls()))
	return 0
}

// remoteClock is the simulator's clock as read over HTTP (GET /_sim/clock).
type remoteClock struct {
	url string
	now atomic.Int64 // unix nanoseconds
}

func (c *remoteClock) Now() time.Time { return time.Unix(0, c.now.Load()).UTC() }

func (c *remoteClock) read(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Now time.Time `json:"now"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return err
	}
	c.now.Store(body.Now.UnixNano())
	return nil
}

type lockedWriter struct {
	mu gosync.Mutex
	w  io.Writer
}

func (l *lockedWriter) println(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, strings.ReplaceAll(s, "\n", " "))
}
