package statuspage

import (
	"cmp"
	"context"
	_ "embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"
)

// PageSize is the most divisions the grid shows at once, and the most bars of the chart
// of the day's budget.
const PageSize = 50

// MaxFailures is the most failures listed; the rest are counted.
const MaxFailures = 100

// Source gathers the page's data at each request.
type Source func(ctx context.Context) (*Data, error)

//go:embed page.html
var pageHTML string

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"num": thousands,
}).Parse(pageHTML))

// Handler serves the page from src; ?page=N shows the grid's Nth page of divisions. When
// src fails, it answers 503 with the reason on one line, and logs it.
func Handler(src Source, log zerolog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		d, err := src(ctx)
		w.Header().Set("Cache-Control", "no-store")
		if err != nil {
			log.Warn().Err(err).Msg("serving the status page")
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "status page: "+strings.Join(strings.Fields(err.Error()), " "))
			return
		}
		n, _ := strconv.Atoi(r.URL.Query().Get("page"))
		v := build(d, n)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, v); err != nil {
			log.Warn().Err(err).Msg("rendering the status page")
		}
	})
}

// Cell classes, from best to worst.
const (
	classOK    = "ok"    // the last successful run is recent
	classLate  = "late"  // more than three schedule intervals ago
	classNever = "never" // never succeeded yet, and not failing
	classFail  = "fail"  // the last run failed
	classNone  = "none"  // not synced in the division
)

// failing says whether a run's status is a failure the page lists: not a success, not
// one in progress, not stopped by a shutdown or a lost lock (both go on by themselves).
func failing(status string) bool {
	switch status {
	case "", "ok", "running", "canceled", "lock_lost":
		return false
	}
	return true
}

type view struct {
	Now         string
	Connections []Connection
	Failures    []Failure
	MoreFail    int

	Entities  []string
	Summary   []summary
	Rows      []row
	Divisions int
	Page      int
	Pages     int
	First     int
	Last      int
	PrevURL   string
	NextURL   string

	Budget       chart
	BudgetOthers int // divisions beyond the chart
	BudgetUsed   int
	Calls        chart

	Quarantined      []Quarantined
	QuarantinedTotal int
}

type summary struct {
	Entity                string
	OK, Late, Fail, Never int
}

type row struct {
	Division int
	Cells    []cell
}

type cell struct {
	Class, Text, Title string
}

// chart is a bar chart drawn as inline SVG.
type chart struct {
	Height int
	Bars   []bar
}

type bar struct {
	Y            int
	Label, Value string
	Width, Scale float64 // the bar's width, and its full scale (the day's limit)
	Over         bool    // past 90% of the scale
}

const (
	barHeight = 22
	barLeft   = 110.0 // labels to the left of the bars
	barSpan   = 150.0 // the full scale
)

func build(d *Data, pageNo int) view {
	v := view{Now: d.Now.UTC().Format("2006-01-02 15:04:05 UTC"), Connections: d.Connections, Entities: d.Entities}

	v.Failures = slices.Clone(d.Failures)
	slices.SortStableFunc(v.Failures, func(a, b Failure) int {
		return cmp.Or(b.At.Compare(a.At), cmp.Compare(a.Division, b.Division), cmp.Compare(a.Entity, b.Entity))
	})
	if len(v.Failures) > MaxFailures {
		v.MoreFail = len(v.Failures) - MaxFailures
		v.Failures = v.Failures[:MaxFailures]
	}

	// The grid: a cell per division and entity, the summary per entity, divisions worst first.
	type key struct {
		division int
		entity   string
	}
	cells := map[key]Cell{}
	var divisions []int
	for _, c := range d.Cells {
		k := key{c.Division, c.Entity}
		if old, ok := cells[k]; ok && worse(d, old, c) {
			continue
		}
		cells[k] = c
		divisions = append(divisions, c.Division)
	}
	slices.Sort(divisions)
	divisions = slices.Compact(divisions)
	sums := make([]summary, len(d.Entities))
	score := map[int]float64{}
	all := map[int][]cell{}
	for _, div := range divisions {
		var cs []cell
		for i, e := range d.Entities {
			c, ok := cells[key{div, e}]
			vc := viewCell(d, c, ok)
			cs = append(cs, vc)
			switch vc.Class {
			case classOK:
				sums[i].OK++
			case classLate:
				sums[i].Late++
				score[div] += 1000
			case classFail:
				sums[i].Fail++
				score[div] += 1000000
			case classNever:
				sums[i].Never++
			}
			if ok && c.Lag > 0 {
				score[div] += math.Min(c.Lag.Hours(), 999)
			}
		}
		all[div] = cs
	}
	for i, e := range d.Entities {
		sums[i].Entity = e
	}
	v.Summary = sums
	slices.SortStableFunc(divisions, func(a, b int) int { return cmp.Or(cmp.Compare(score[b], score[a]), cmp.Compare(a, b)) })
	v.Divisions = len(divisions)
	v.Pages = max(1, (len(divisions)+PageSize-1)/PageSize)
	v.Page = min(max(pageNo, 1), v.Pages)
	from, to := (v.Page-1)*PageSize, min(v.Page*PageSize, len(divisions))
	for _, div := range divisions[from:to] {
		v.Rows = append(v.Rows, row{Division: div, Cells: all[div]})
	}
	v.First, v.Last = from+1, to
	if v.Page > 1 {
		v.PrevURL = "?page=" + strconv.Itoa(v.Page-1)
	}
	if v.Page < v.Pages {
		v.NextURL = "?page=" + strconv.Itoa(v.Page+1)
	}

	// The day's budget: the divisions that used most.
	budget := slices.Clone(d.Budget)
	slices.SortStableFunc(budget, func(a, b DivisionBudget) int {
		return cmp.Or(cmp.Compare(float64(b.Used)/float64(max(b.Limit, 1)), float64(a.Used)/float64(max(a.Limit, 1))), cmp.Compare(a.Division, b.Division))
	})
	for _, b := range budget {
		v.BudgetUsed += b.Used
	}
	if len(budget) > PageSize {
		v.BudgetOthers = len(budget) - PageSize
		budget = budget[:PageSize]
	}
	for i, b := range budget {
		frac := float64(b.Used) / float64(max(b.Limit, 1))
		v.Budget.Bars = append(v.Budget.Bars, bar{Y: i * barHeight, Label: "division " + strconv.Itoa(b.Division),
			Value: thousands(b.Used) + " / " + thousands(b.Limit), Width: barSpan * math.Min(frac, 1), Scale: barSpan, Over: frac >= 0.9})
	}
	v.Budget.Height = len(v.Budget.Bars) * barHeight

	most := 1
	for _, c := range d.Calls {
		most = max(most, c.Calls)
	}
	for i, c := range d.Calls {
		v.Calls.Bars = append(v.Calls.Bars, bar{Y: i * barHeight, Label: c.Entity, Value: thousands(c.Calls),
			Width: barSpan * float64(c.Calls) / float64(most), Scale: barSpan})
	}
	v.Calls.Height = len(v.Calls.Bars) * barHeight

	v.Quarantined = d.Quarantined
	for _, q := range d.Quarantined {
		v.QuarantinedTotal += q.Records
	}
	return v
}

// worse says whether a is behind b (of two connections to one division).
func worse(d *Data, a, b Cell) bool {
	ra, rb := rank(d, a), rank(d, b)
	if ra != rb {
		return ra > rb
	}
	return a.Lag > b.Lag
}

func rank(d *Data, c Cell) int {
	switch classOf(d, c) {
	case classFail:
		return 3
	case classLate:
		return 2
	case classNever:
		return 1
	}
	return 0
}

func classOf(d *Data, c Cell) string {
	switch {
	case failing(c.Status):
		return classFail
	case c.Lag < 0:
		return classNever
	case c.Lag > 3*cmp.Or(d.Intervals[c.Entity], time.Hour):
		return classLate
	}
	return classOK
}

func viewCell(d *Data, c Cell, ok bool) cell {
	if !ok {
		return cell{Class: classNone, Text: "", Title: "not synced in this division"}
	}
	class := classOf(d, c)
	since := "never succeeded"
	if c.Lag >= 0 {
		since = "last success " + short(c.Lag) + " ago"
	}
	title := fmt.Sprintf("division %d, %s: %s", c.Division, c.Entity, since)
	if c.Status != "" {
		title = fmt.Sprintf("division %d, %s: last run %s, %s", c.Division, c.Entity, c.Status, since)
	}
	switch class {
	case classFail:
		return cell{Class: class, Text: c.Status, Title: title}
	case classNever:
		return cell{Class: class, Text: "–", Title: title}
	}
	return cell{Class: class, Text: short(c.Lag), Title: title}
}

// short writes a duration in its largest unit: 45s, 12m, 3h, 2d.
func short(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d.Minutes())) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d.Hours())) + "h"
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}

// thousands writes n with commas: 12,345.
func thousands(n int) string {
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}
