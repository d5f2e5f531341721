package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/config"
	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/exacttest"
	"github.com/exactsync/exactsync/internal/metrics"
	"github.com/exactsync/exactsync/internal/statuspage"
	"github.com/exactsync/exactsync/sink/sinktest"
	"github.com/exactsync/exactsync/sync"
)

// screenshotDirVar names a directory for the status page's screenshot; unset, it goes to
// the test's temporary directory.
const screenshotDirVar = "EXACTSYNC_SCREENSHOT_DIR"

// chromium finds Debian's chromium (or another Chrome) on PATH.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Skip("no chromium on PATH (Debian: apt-get install chromium); the status page was not tested in a browser")
	return ""
}

// TestStatusPageInBrowser syncs two divisions from the simulator, one of which Exact
// refuses (the app lost its scope), serves the run process's --listen with a token, and
// opens the status page in headless Chromium on a phone's screen: it shows the failing
// division with Exact's reason and doctor's fix, fits the screen's width, and the
// screenshot is written (EXACTSYNC_SCREENSHOT_DIR, else the test's directory). /metrics and
// the page refuse a request without the token; the probes do not.
func TestStatusPageInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a browser; skipped with -short")
	}
	browser := chromium(t)
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	sim := exacttest.NewServer(exacttest.Options{ClientID: testClientID, ClientSecret: testClientSecret, Divisions: []int{101, 102}, Accounts: 5, Seed: 7,
		DailyLimit: 5000, MinutelyLimit: 60, Start: time.Now()}) // Exact's day is today's: the page counts its calls
	t.Cleanup(sim.Close)
	st := sinktest.NewStore(t)
	conn := sinktest.NewConnection(t, st, sim.URL, testClientID, sim.RefreshToken())
	client, err := exact.New(exact.Config{BaseURL: sim.URL, ClientID: testClientID, ClientSecret: testClientSecret, Logger: zerolog.Nop()},
		sync.NewTokenStore(st, conn.ID))
	if err != nil {
		t.Fatal(err)
	}
	runner := sync.NewRunner(sync.Config{Logger: zerolog.Nop(), Enabled: []string{"accounts"}}, st, st, st)
	sim.RevokeDivision(102)
	for _, div := range []int{101, 102} {
		for _, entity := range []string{"accounts", sync.DeletionsJob} {
			res, err := runner.Run(ctx, client, sync.Job{ConnectionID: conn.ID, Division: div, Entity: entity})
			if want := map[int]string{101: dest.RunOK, 102: dest.RunRefused}[div]; res.Status != want {
				t.Fatalf("division %d, %s: run %s (%v), want %s", div, entity, res.Status, err, want)
			}
		}
	}

	const token = "0123456789abcdef0123456789abcdef"
	cfg := &config.Config{Entities: []string{"accounts"}}
	page := statuspage.Handler(statusSource(cfg, st, map[string]time.Duration{"accounts": 15 * time.Minute, sync.DeletionsJob: 15 * time.Minute}, time.UTC), zerolog.Nop())
	addr, stop, err := serve(ctx, "127.0.0.1:0", token, metrics.New(metrics.Config{}), page, st, nil, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	base := "http://" + addr
	for _, tt := range []struct {
		path, auth string
		want       int
	}{
		{"/", "", http.StatusUnauthorized},
		{"/", "Bearer wrong-token-wrong-token-wrong", http.StatusUnauthorized},
		{"/metrics", "", http.StatusUnauthorized},
		{"/metrics", "Bearer " + token, http.StatusOK},
		{"/healthz", "", http.StatusOK},
		{"/", "Bearer " + token, http.StatusOK},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+tt.path, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("GET %s with %q: %d, want %d", tt.path, tt.auth, resp.StatusCode, tt.want)
		}
		if strings.Contains(string(body), token) {
			t.Errorf("GET %s echoes the token", tt.path)
		}
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()
	if _, err := chromedp.Call(bctx, network.Enable, network.EnableParams{}); err != nil {
		t.Fatalf("the browser: %v", err)
	}
	if _, err := chromedp.Call(bctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{
		Headers: network.Headers{"Authorization": "Bearer " + token}}); err != nil {
		t.Fatalf("the browser: %v", err)
	}
	if err := chromedp.Do(bctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile),
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(chromedp.CSS("#failures")),
	); err != nil {
		t.Fatalf("the browser: %v", err)
	}
	text, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("main")))
	if err != nil {
		t.Fatalf("the page's text: %v", err)
	}
	fits, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth <= window.innerWidth`))
	if err != nil {
		t.Fatalf("the page's width: %v", err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("the screenshot: %v", err)
	}
	for _, want := range []string{
		"Division 102, accounts", "refused", // the failing division
		"not within division scope",                     // Exact's reason
		"grant the app its scope in Exact's App Center", // doctor's fix
		"division 101", // the budget's chart
		"Connections", "Quarantined records",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the page lacks %q:\n%s", want, text)
		}
	}
	if !regexp.MustCompile(`division 101\s*[1-9][0-9,]* / 5,000`).MatchString(text) {
		t.Errorf("the budget's chart shows no call of division 101 against its 5,000:\n%s", text)
	}
	if strings.Contains(text, "Division 101,") {
		t.Errorf("the page lists division 101, which synced, as failing:\n%s", text)
	}
	if !fits {
		t.Error("the page is wider than a phone's screen of 390 px")
	}
	dir := os.Getenv(screenshotDirVar)
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "statuspage.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(shot) < 1000 {
		t.Errorf("a screenshot of %d bytes", len(shot))
	}
	t.Logf("screenshot: %s (%d bytes)", path, len(shot))
}
