package exact

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestReleasedPagesLendTheirBodies: pages read after others were released have their own
// records, whole, whichever buffer they were read into; Next is the page's own copy and
// survives the release; releasing twice, or a page without a body, changes nothing. In
// builds with the race detector a released body is overwritten, so that a value still
// read from it is garbage (the suite's syncs run so, and compare what they store).
func TestReleasedPagesLendTheirBodies(t *testing.T) {
	env := newTestEnv(t)
	host := strings.TrimPrefix(env.exact.srv.URL, "http://")
	page := func(n, records int) string {
		var b strings.Builder
		b.WriteString(`{"d":{"results":[`)
		for i := range records {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"ID":"p%d-r%d","Name":"%s"}`, n, i, strings.Repeat(string(rune('a'+n%26)), 40))
		}
		fmt.Fprintf(&b, `],"__next":"http://%s/api/v1/101/sync/CRM/Accounts?$skiptoken=%d"}}`, host, n)
		return b.String()
	}
	n := 0
	env.exact.setAPI(func(w http.ResponseWriter, r *http.Request) {
		n++
		writeJSON(w, 200, page(n, 50+n*10)) // each page larger than the one before
	})
	var prev *Page
	for i := 1; i <= 6; i++ {
		p, err := env.client.Page(context.Background(), 101, env.client.URL(101, "sync/CRM/Accounts", nil))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(p.Records), 50+i*10; got != want {
			t.Fatalf("page %d: %d records, want %d", i, got, want)
		}
		for j, r := range p.Records {
			if got, want := string(r.Field("ID")), fmt.Sprintf(`"p%d-r%d"`, i, j); got != want {
				t.Fatalf("page %d record %d: ID %s, want %s", i, j, got, want)
			}
		}
		if prev != nil {
			next := prev.Next
			first := prev.Records[0]
			prev.Release()
			prev.Release() // a second time: nothing
			if want := fmt.Sprintf("http://%s/api/v1/101/sync/CRM/Accounts?$skiptoken=%d", host, i-1); next != want || prev.Next != want {
				t.Errorf("Next after the release: %q, want %q", prev.Next, want)
			}
			if poisonReleased && string(first.Field("ID")) == fmt.Sprintf(`"p%d-r0"`, i-1) {
				t.Errorf("page %d still reads its records after the release: the body was not overwritten", i-1)
			}
		}
		prev = p
	}
	(&Page{}).Release()
	var none *Page
	none.Release()
}
