package statuspage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// many is the data of 1,000 divisions of two entities: division 1000's accounts refused,
// division 500's contacts late, the rest fresh.
func many() *Data {
	d := &Data{Now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC), Entities: []string{"accounts", "contacts"},
		Intervals: map[string]time.Duration{"accounts": 15 * time.Minute, "contacts": 15 * time.Minute}}
	for div := 1; div <= 1000; div++ {
		for _, e := range d.Entities {
			c := Cell{Division: div, Entity: e, Status: "ok", Lag: 5 * time.Minute}
			switch {
			case div == 1000 && e == "accounts":
				c.Status = "refused"
			case div == 500 && e == "contacts":
				c.Lag = 2 * time.Hour
			}
			d.Cells = append(d.Cells, c)
		}
		d.Budget = append(d.Budget, DivisionBudget{Division: div, Used: div, Limit: 5000})
	}
	d.Failures = []Failure{{Connection: 1, Division: 1000, Entity: "accounts", Status: "refused",
		Reason: `403 Forbidden: <script>alert(1)</script>`, Fix: "grant the app its scope"}}
	return d
}

func TestBuildPagesWorstFirst(t *testing.T) {
	v := build(many(), 1)
	if v.Divisions != 1000 || v.Pages != 1000/PageSize || len(v.Rows) != PageSize {
		t.Fatalf("got %d divisions, %d pages, %d rows; want 1000, %d, %d", v.Divisions, v.Pages, len(v.Rows), 1000/PageSize, PageSize)
	}
	if v.Rows[0].Division != 1000 || v.Rows[1].Division != 500 {
		t.Errorf("first rows: divisions %d, %d; want 1000 (failed), 500 (late)", v.Rows[0].Division, v.Rows[1].Division)
	}
	if got := v.Rows[0].Cells[0]; got.Class != classFail || got.Text != "refused" {
		t.Errorf("the refused cell: got %+v", got)
	}
	if got := v.Rows[1].Cells[1]; got.Class != classLate || got.Text != "2h" {
		t.Errorf("the late cell: got %+v", got)
	}
	want := []summary{{Entity: "accounts", OK: 999, Fail: 1}, {Entity: "contacts", OK: 999, Late: 1}}
	if fmt.Sprint(v.Summary) != fmt.Sprint(want) {
		t.Errorf("summary: got %v, want %v", v.Summary, want)
	}
	if len(v.Budget.Bars) != PageSize || v.BudgetOthers != 1000-PageSize || v.Budget.Bars[0].Label != "division 1000" {
		t.Errorf("budget: %d bars, %d others, first %q; want %d, %d, division 1000", len(v.Budget.Bars), v.BudgetOthers, v.Budget.Bars[0].Label, PageSize, 1000-PageSize)
	}
	last := build(many(), 99)
	if last.Page != last.Pages || last.NextURL != "" || last.PrevURL == "" || last.Last != 1000 {
		t.Errorf("a page past the end: got page %d of %d, next %q, prev %q, last %d", last.Page, last.Pages, last.NextURL, last.PrevURL, last.Last)
	}
}

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(Handler(func(context.Context) (*Data, error) { return many(), nil }, zerolog.Nop()))
	defer srv.Close()
	body := get(t, srv.URL+"/?page=2", http.StatusOK)
	for _, want := range []string{"Division 1000, accounts", "403 Forbidden: &lt;script&gt;", "→ grant the app its scope", "page 2 of 20", `href="?page=3"`, "<svg"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") {
		t.Error("a reason is not escaped")
	}

	failing := httptest.NewServer(Handler(func(context.Context) (*Data, error) {
		return nil, errors.New("reading the sync states:\n cannot reach PostgreSQL")
	}, zerolog.Nop()))
	defer failing.Close()
	if got := get(t, failing.URL, http.StatusServiceUnavailable); got != "status page: reading the sync states: cannot reach PostgreSQL\n" {
		t.Errorf("got %q", got)
	}
}

func get(t *testing.T, url string, status int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("GET %s: %d, want %d:\n%s", url, resp.StatusCode, status, b)
	}
	return string(b)
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -5000: "-5,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
