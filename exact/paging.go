package exact

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Page is one decoded response of a collection endpoint.
type Page struct {
	Records []Record
	Next    string // __next verbatim (§3.6), "" on the last page
	Count   int64  // __count with $inlinecount=allpages (§3.5), -1 when absent
	Calls   int    // HTTP calls this page cost, retries included

	body []byte // the answer the records are read from; see Release
}

const (
	maxBody    = 64 << 20 // Exact's messages are at most 38 MB (§2.6)
	maxTooMany = 10       // 429s answered for one page before giving up
)

// Page GETs one page of division (0 for calls without a division, such as current/Me) and
// decodes it. pageURL is a URL built with URL or a __next link; it must be on the client's
// host, which is the only host that receives the access token.
//
// Rate limits (§2): before sending, a spent minute budget is waited out and a spent day budget
// returns *DailyLimitError without a call; a 429 waits for the reset it names (a daily 429
// returns *DailyLimitError). 5xx answers and timeouts are retried under the client's
// [RetryPolicy] (§2.5, §6.11). A 401 causes one forced refresh (the stored token is used
// instead if another process already replaced it) and one retry. Other 4xx answers return
// *APIError at once: retrying functional errors only spends the error budget (§2.5). A body
// that cannot be split into records (truncated, not the JSON envelope) is a failure like a
// 5xx, counted against the same attempts, and the last one returns *DecodeError: a page
// costs at most RetryPolicy.Attempts failing calls, whatever mix of failures it meets. A
// record that is bad on its own does not fail the page: it is returned with [Record.Err]
// set, and not fetched again.
func (c *Client) Page(ctx context.Context, division int, pageURL string) (*Page, error) {
	u, endpoint, err := c.checkPageURL(pageURL)
	if err != nil {
		return nil, err
	}
	var pb pageBody
	body, calls, err := c.sendChecked(ctx, http.MethodGet, division, u, endpoint, nil, callTrace{}, func(body []byte) error {
		var err error
		if pb, err = decodePage(endpoint, body); err != nil {
			// A body cut short is a transport failure, like a 5xx (§6.11): a firewall or
			// proxy that truncates answers does so at random.
			return pageError(endpoint, err)
		}
		return nil
	})
	if err != nil {
		return nil, withCalls(calls, err)
	}
	return &Page{Records: pb.records, Next: pb.next, Count: pb.count, Calls: calls, body: body}, nil
}

// callsError is an error of Page that made HTTP calls before it failed.
type callsError struct {
	calls int
	err   error
}

func (e *callsError) Error() string { return e.err.Error() }
func (e *callsError) Unwrap() error { return e.err }

func withCalls(calls int, err error) error {
	if calls == 0 {
		return err
	}
	return &callsError{calls: calls, err: err}
}

// CallsMade returns how many HTTP calls a failed Page made before it returned err
// (retries and answers it could not read included), so that a run's count of calls
// spent is complete; 0 when err says nothing of calls.
func CallsMade(err error) int {
	var ce *callsError
	if errors.As(err, &ce) {
		return ce.calls
	}
	return 0
}

// checkPageURL resolves pageURL against the base URL, refuses other hosts and schemes and
// URLs with user information, and returns the
// endpoint name used in errors and logs (path without host, version, division and query).
func (c *Client) checkPageURL(pageURL string) (string, string, error) {
	u, err := url.Parse(pageURL)
	if err != nil {
		return "", "", fmt.Errorf("invalid page URL: %v", err)
	}
	if !u.IsAbs() {
		u = c.base.ResolveReference(u)
	}
	if u.Scheme != c.base.Scheme || !strings.EqualFold(u.Host, c.base.Host) {
		return "", "", fmt.Errorf("refusing page URL on %s://%s: the client is configured for %s", u.Scheme, u.Host, c.baseStr)
	}
	if u.User != nil {
		// __next is a plain URL on the API host (§3.6); credentials in it are never Exact's.
		return "", "", fmt.Errorf("refusing page URL on %s://%s with user information in it", u.Scheme, u.Host)
	}
	return u.String(), endpointName(u.Path), nil
}

// endpointName turns /api/v1/101/sync/CRM/Accounts into sync/CRM/Accounts.
func endpointName(path string) string {
	if i := strings.Index(path, "/api/v1/"); i >= 0 {
		path = path[i+len("/api/v1/"):]
		if j := strings.IndexByte(path, '/'); j > 0 && isDigits(path[:j]) {
			path = path[j+1:]
		}
	}
	return strings.Trim(path, "/")
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// send performs a call with the rate-limit, retry and 401 rules, with a JSON body (nil for
// none), and returns the body of the successful answer and the number of HTTP calls made.
// A POST, which Exact may have carried out before a failure, is not sent again after a
// network error, a timeout or a 5xx; a 401 or a 429 means it was not carried out, and it is
// sent again. Each HTTP call is a span; ct says how many calls of the same request came
// before and the wait since the last.
func (c *Client) send(ctx context.Context, method string, division int, pageURL, endpoint string, body []byte, ct callTrace) ([]byte, int, error) {
	return c.sendChecked(ctx, method, division, pageURL, endpoint, body, ct, nil)
}

// sendChecked is send with check, when not nil, run on the body of each 2xx answer: an
// error of check is a failure like a 5xx, retried under the same count of attempts, and
// the last one is returned as is.
func (c *Client) sendChecked(ctx context.Context, method string, division int, pageURL, endpoint string, body []byte, ct callTrace, check func([]byte) error) ([]byte, int, error) {
	repeatable := method != http.MethodPost
	calls, failures, tooMany := 0, 0, 0
	refreshed := false
	for {
		for {
			wait, err := c.limits.reserve(division, c.exactNow())
			if err != nil {
				return nil, calls, err
			}
			if wait == 0 {
				break
			}
			c.log.Debug().Int("division", division).Dur("wait_ms", wait).Msg("minute rate limit spent; waiting for its reset")
			if err := c.pause(ctx, Wait{Division: division, Duration: wait, Reason: WaitMinuteLimit}); err != nil {
				return nil, calls, err
			}
			ct.waited += wait
		}
		tok, _, err := c.token(ctx, "", rotation{})
		if err != nil {
			c.limits.release(division)
			return nil, calls, err
		}
		calls++
		sent := time.Now()
		sctx, span := c.startCall(ctx, method, endpoint, pageURL, division, ct)
		status, hdr, answer, err := c.do(sctx, method, pageURL, tok.AccessToken, body)
		if err == nil || ctx.Err() == nil { // a call cut short by the caller is no API's doing
			c.obs.Request(endpoint, division, status, time.Since(sent))
		}
		var expected int
		if err == nil {
			if status == http.StatusTooManyRequests {
				expected, _ = c.limits.dayLeft(division, c.exactNow()) // before the 429's headers replace it
			}
			c.limits.observe(division, hdr) // before the span ends, which records the budgets left
		}
		c.endCall(span, division, status, err)
		ct.retry, ct.waited = ct.retry+1, 0
		if err != nil {
			c.limits.release(division)
			if ctx.Err() != nil {
				return nil, calls, ctx.Err()
			}
			failures++
			err = fmt.Errorf("%s %s: %w", method, endpoint, err)
			if failures >= c.retry.Attempts || !retryable(err) || !repeatable {
				return nil, calls, err
			}
			wait, err := c.retryWait(ctx, failures, division, endpoint, err.Error())
			if err != nil {
				return nil, calls, err
			}
			ct.waited = wait
			continue
		}
		c.reportLimits(division)
		switch {
		case status >= 200 && status < 300:
			if check == nil {
				return answer, calls, nil
			}
			cerr := check(answer)
			if cerr == nil {
				return answer, calls, nil
			}
			failures++
			if failures >= c.retry.Attempts || !repeatable {
				return nil, calls, cerr
			}
			wait, err := c.retryWait(ctx, failures, division, endpoint, cerr.Error())
			if err != nil {
				return nil, calls, err
			}
			ct.waited = wait
		case status == http.StatusUnauthorized && !refreshed:
			refreshed = true
			c.log.Warn().Str("endpoint", endpoint).Int("division", division).Msg("access token rejected (401); refreshing it once")
			if _, _, err := c.token(ctx, tok.AccessToken, rotation{}); err != nil {
				return nil, calls, err
			}
		case status == http.StatusTooManyRequests:
			wait, err := c.limits.tooMany(division, hdr, c.exactNow())
			c.reportLimits(division)
			var daily *DailyLimitError
			if errors.As(err, &daily) {
				// The headers are the truth, not our count (§2.7): a day Exact ends while we
				// counted calls left was spent by others (another application of the licence,
				// or another process of this app), and we stop calling it (§2.4).
				daily.Expected = max(expected, 0)
				if daily.Expected > 0 {
					c.log.Warn().Str("endpoint", endpoint).Int("division", division).Int("expected_left", daily.Expected).
						Time("reset", daily.Reset).Msg("Exact ended the division's day before this app's budget was spent; other applications of the licence share a daily cap")
				}
			}
			if err != nil {
				return nil, calls, err
			}
			if tooMany++; tooMany > maxTooMany {
				return nil, calls, c.apiError(status, hdr, answer, endpoint, division)
			}
			c.log.Warn().Str("endpoint", endpoint).Int("division", division).Dur("wait_ms", wait).
				Msg("minute rate limit hit (429); waiting for its reset")
			if err := c.pause(ctx, Wait{Division: division, Duration: wait, Reason: WaitTooMany}); err != nil {
				return nil, calls, err
			}
			ct.waited = wait
		case status >= 500 || status == http.StatusRequestTimeout:
			failures++
			apiErr := c.apiError(status, hdr, answer, endpoint, division)
			if failures >= c.retry.Attempts || !repeatable {
				return nil, calls, apiErr
			}
			wait, err := c.retryWait(ctx, failures, division, endpoint, apiErr.Error())
			if err != nil {
				return nil, calls, err
			}
			ct.waited = wait
		default:
			return nil, calls, c.apiError(status, hdr, answer, endpoint, division)
		}
	}
}

// reportLimits tells the Observer division's remaining budgets, once any is known.
func (c *Client) reportLimits(division int) {
	if division <= 0 {
		return
	}
	if minute, day, ok := c.limits.remaining(division); ok {
		c.obs.RateLimit(division, minute, day)
	}
}

// retryWait backs off before retry number failures and returns how long it waited.
func (c *Client) retryWait(ctx context.Context, failures, division int, endpoint, msg string) (time.Duration, error) {
	wait := c.retry.Wait(failures)
	c.log.Warn().Str("endpoint", endpoint).Int("division", division).Int("attempt", failures).
		Int("max_attempts", c.retry.Attempts).Str("error", msg).Dur("wait_ms", wait).Msg("call failed; retrying")
	return wait, c.pause(ctx, Wait{Division: division, Duration: wait, Reason: WaitRetry})
}

// retryable reports whether a failed call may succeed when repeated.
func retryable(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return false
	}
	var certErr *tls.CertificateVerificationError
	return !errors.As(err, &certErr)
}

// do sends one request (a JSON body when body is not nil) and reads the whole answer
// within RequestTimeout.
func (c *Client) do(ctx context.Context, method, pageURL, accessToken string, body []byte) (int, http.Header, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, c.requestTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, pageURL, rd)
	if err != nil {
		return 0, nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json") // §3.4
	}
	req.Header.Set("Accept", "application/json") // XML otherwise (§3.4)
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return 0, nil, nil, fmt.Errorf("no answer from %s within %s", c.base.Host, c.requestTimeout)
		}
		return 0, nil, nil, networkError(c.base.Host, err)
	}
	defer resp.Body.Close()
	answer, err := readBody(resp, &c.bodyHint)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return 0, nil, nil, fmt.Errorf("reading the answer of %s took longer than %s", c.base.Host, c.requestTimeout)
		}
		return 0, nil, nil, networkError(c.base.Host, fmt.Errorf("reading the answer: %w", err))
	}
	return resp.StatusCode, resp.Header, answer, nil
}

// readBody reads a whole answer. Without a Content-Length (Exact's pages
// come chunked) the buffer starts at the size of the largest body read so
// far, hint, rather than growing by doubling through every page: records are
// views into the body, so each page needs a buffer of its own, a released page's
// (Page.Release) or a new one.
func readBody(resp *http.Response, hint *atomic.Int64) ([]byte, error) {
	size := int(max(64<<10, min(hint.Load(), maxBody)+bytes.MinRead))
	if n := resp.ContentLength; n > 0 && n <= maxBody {
		size = int(n) + bytes.MinRead
	}
	buf := newBodyBuffer(size)
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxBody+1)); err != nil {
		return nil, err
	}
	if buf.Len() > maxBody {
		return nil, fmt.Errorf("answer larger than %d MB", maxBody>>20)
	}
	if n := int64(buf.Len()); n > hint.Load() {
		hint.Store(n)
	}
	return buf.Bytes(), nil
}

// apiError builds the *APIError of a failed call from Exact's error body (§4.1) and the
// Reason header (§4.3).
func (c *Client) apiError(status int, hdr http.Header, body []byte, endpoint string, division int) *APIError {
	e := &APIError{Status: status, Endpoint: endpoint, Division: division, Reason: c.redact(hdr.Get("Reason"))}
	var eb struct {
		Error struct {
			Code    json.RawMessage `json:"code"`
			Message struct {
				Value string `json:"value"`
			} `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &eb) == nil {
		e.Code = strings.Trim(string(eb.Error.Code), `"`)
		e.Message = eb.Error.Message.Value
	} else if t := strings.TrimSpace(string(body)); t != "" && len(t) <= 300 && !strings.Contains(t, "<") {
		e.Message = t // non-JSON bodies happen (§6.5); HTML login pages are left out
	}
	if e.Message == "" && status == http.StatusUnauthorized {
		e.Message = "the access token was rejected"
	}
	e.Message = c.redact(e.Message)
	return e
}

// Me is the authorized user (current/Me, §3.2).
type Me struct {
	UserID          string
	FullName, Email string
	CurrentDivision int // the division last used in Exact's web UI; do not sync by it (§6.10)
}

// Me returns the user who authorized the app. The call does not count towards rate limits (§2.1).
func (c *Client) Me(ctx context.Context) (Me, error) {
	p, err := c.Page(ctx, 0, c.URL(0, "current/Me", nil))
	if err != nil {
		return Me{}, fmt.Errorf("reading current/Me: %w", err)
	}
	if len(p.Records) == 0 {
		return Me{}, errors.New("reading current/Me: the answer has no record")
	}
	r := p.Records[0]
	if err := r.Err(); err != nil {
		return Me{}, fmt.Errorf("reading current/Me: %w", err)
	}
	var me Me
	var errs []error
	var div int32
	me.UserID, _, err = GUID(r.Field("UserID"))
	errs = append(errs, fieldErr("UserID", err))
	me.FullName, _, err = String(r.Field("FullName"))
	errs = append(errs, fieldErr("FullName", err))
	me.Email, _, err = String(r.Field("Email"))
	errs = append(errs, fieldErr("Email", err))
	div, _, err = Int32(r.Field("CurrentDivision"))
	errs = append(errs, fieldErr("CurrentDivision", err))
	me.CurrentDivision = int(div)
	if err := errors.Join(errs...); err != nil {
		return Me{}, fmt.Errorf("reading current/Me: %w", err)
	}
	return me, nil
}

// Division statuses, as system/Divisions reports them (§3.3).
const (
	DivisionInactive = 0
	DivisionActive   = 1
	DivisionArchived = 2
)

// Division is a division (company) the user can access (system/Divisions, §3.3).
type Division struct {
	Code        int
	Description string
	Status      int // DivisionInactive, DivisionActive or DivisionArchived
	Current     bool
	// MoveDate is when Exact last moved the division to another database,
	// zero if never. A move regenerates every Timestamp of the division, so
	// stored sync cursors mean nothing after it (§3.10, §6.9).
	MoveDate time.Time
}

// Divisions lists the divisions the authorizing user can access (§3.3). The list needs a
// division in the URL, and each division has its own day budget (§2.1), so one spent
// division must not hide the others: the user's current division is tried first, then
// each of via in order. A division whose day budget the client knows to be spent (see
// SpentDay) is skipped without a call, and one that answers with a spent day gives way to
// the next; so does one that answers 403, such as a current division the app was not
// granted (§3.3, §6.9). When every candidate's day is spent, the error is a
// *DailyLimitError; when every candidate answered 403, it is the current division's
// *APIError.
func (c *Client) Divisions(ctx context.Context, via ...int) ([]Division, error) {
	me, err := c.Me(ctx)
	if err != nil {
		return nil, err
	}
	if me.CurrentDivision <= 0 && len(via) == 0 {
		return nil, errors.New("listing divisions: current/Me names no current division")
	}
	tried := map[int]bool{}
	var last, denied error
	for _, d := range append([]int{me.CurrentDivision}, via...) {
		if d <= 0 || tried[d] {
			continue
		}
		tried[d] = true
		out, err := c.divisionsVia(ctx, d)
		var (
			daily *DailyLimitError
			api   *APIError
		)
		switch {
		case errors.As(err, &daily):
			c.log.Info().Int("division", d).Time("resumes", daily.Reset).
				Msg("listing divisions: this division's day budget is spent; trying through another")
			last = err
		case errors.As(err, &api) && api.Status == http.StatusForbidden:
			c.log.Warn().Int("division", d).Str("reason", api.Reason).Bool("current", d == me.CurrentDivision).
				Msg("listing divisions: this division refuses the app (403); trying through another")
			if denied == nil {
				denied = err
			}
		default:
			return out, err
		}
	}
	if last != nil {
		return nil, last
	}
	if denied != nil {
		return nil, denied
	}
	return nil, errors.New("listing divisions: no division to list them through")
}

// divisionsVia lists the divisions through division via.
func (c *Client) divisionsVia(ctx context.Context, via int) ([]Division, error) {
	next := c.URL(via, "system/Divisions", url.Values{"$select": {"Code,Description,Status,Current,DivisionMoveDate"}})
	var out []Division
	for page := 1; next != ""; page++ {
		p, err := c.Page(ctx, via, next)
		if err != nil {
			return nil, fmt.Errorf("listing divisions through division %d, page %d: %w", via, page, err)
		}
		for _, r := range p.Records {
			if err := r.Err(); err != nil {
				return nil, fmt.Errorf("listing divisions, page %d: %w", page, err)
			}
			code, ok, err := Int32(r.Field("Code"))
			if err != nil || !ok {
				return nil, fmt.Errorf("listing divisions, page %d: a division without a valid Code: %v", page, err)
			}
			d := Division{Code: int(code)}
			d.Description, _, _ = String(r.Field("Description"))
			status, _, _ := Int32(r.Field("Status"))
			d.Status = int(status)
			d.Current, _, _ = Bool(r.Field("Current"))
			if d.MoveDate, _, err = Date(r.Field("DivisionMoveDate")); err != nil {
				return nil, fmt.Errorf("listing divisions, page %d: division %d: DivisionMoveDate: %w", page, code, err)
			}
			out = append(out, d)
		}
		next = p.Next
	}
	return out, nil
}

// SpentDay tells the client that division's day budget is spent until reset, as another
// process or an earlier run saw it (exact_sync.rate_limits): the client then calls that
// division nothing before reset, not even to learn so from a 429 (§2.4).
//
// Reset is on Exact's clock, like the X-RateLimit-Reset header; the client judges it on
// its estimate of that clock at each call.
func (c *Client) SpentDay(division int, reset time.Time) {
	if !reset.IsZero() {
		c.limits.spentDay(division, reset)
	}
}

func fieldErr(name string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", name, err)
}
