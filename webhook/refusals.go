package webhook

import (
	"maps"
	"slices"
	"strconv"
	gosync "sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// Reasons the refusal summary counts besides the refused outcomes of a call
// (OutcomeBadSignature, OutcomeMalformed, OutcomeTooLarge, OutcomeTimeout) and the
// unsigned validation calls (OutcomeValidation).
const (
	// ReasonNotPost is a call with another method than POST, answered 405.
	ReasonNotPost = "not_post"
	// ReasonClientCap is a connection over the cap of its client address, closed at once.
	ReasonClientCap = "client_cap"
	// ReasonHTTP is a line of the HTTP server's own error log (a failed accept, a request
	// it could not read or a warning about one).
	ReasonHTTP = "http_error"
)

// DefaultSummaryEvery is how often, at most, the refusal summary is logged.
const DefaultSummaryEvery = time.Minute

// Bounds of what a summary line carries of what a caller sent.
const (
	excerptShort = 24 // a topic, a method
	excerptLong  = 64 // an error that quotes the request, a line of the server's log
)

// refusals counts the calls that carried no verified delivery (and the connections
// refused) by reason, keeping the first of each reason as a sample, until the next summary
// line. Its size is bounded by the number of reasons, whatever callers send.
type refusals struct {
	mu      gosync.Mutex
	counts  map[string]int
	samples map[string]string // reason → "client: detail"
	since   time.Time         // the first count since the last line
	last    time.Time         // when the last line was logged; zero: never
}

// add counts one refusal; detail must already be bounded and escaped (see excerpt).
func (r *refusals) add(now time.Time, reason, client, detail string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.counts == nil {
		r.counts, r.samples = map[string]int{}, map[string]string{}
	}
	if len(r.counts) == 0 {
		r.since = now
	}
	r.counts[reason]++
	if _, ok := r.samples[reason]; !ok {
		switch {
		case client == "":
			r.samples[reason] = detail
		case detail == "":
			r.samples[reason] = client
		default:
			r.samples[reason] = client + ": " + detail
		}
	}
}

// counted is how many refusals of reason are counted for the next line.
func (r *refusals) counted(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.counts[reason]
}

// log writes the summary line when there is something to say and the last line is at
// least every old (or force), and starts counting afresh. The first line comes at once, so
// that a wrong secret shows within a second; after it, one line per period at most.
func (r *refusals) log(log zerolog.Logger, now time.Time, every time.Duration, force bool) {
	r.mu.Lock()
	if len(r.counts) == 0 || !force && !r.last.IsZero() && now.Sub(r.last) < every {
		r.mu.Unlock()
		return
	}
	counts, samples, since := r.counts, r.samples, r.since
	r.counts, r.samples, r.last = map[string]int{}, map[string]string{}, now
	r.mu.Unlock()

	byReason, examples := zerolog.Dict(), zerolog.Dict()
	total := 0
	for _, reason := range slices.Sorted(maps.Keys(counts)) {
		byReason.Int(reason, counts[reason])
		examples.Str(reason, samples[reason])
		total += counts[reason]
	}
	if len(counts) == 1 && counts[OutcomeValidation] > 0 {
		log.Info().Int("calls", total).Time("since", since).
			Msg("webhook callback validated by Exact: unsigned validation calls answered 200 (Exact sends one after each new subscription)")
		return
	}
	log.Warn().Int("refused", total).Dict("by_reason", byReason).Dict("samples", examples).Time("since", since).
		Msg("webhook callback: calls without a valid delivery, and connections refused, since the last summary " +
			"(bad_signature alone: is EXACT_WEBHOOK_SECRET the app's webhook secret?)")
}

// excerpt returns at most n bytes of s (cut between characters), quoted as a Go string
// in ASCII, with … after the quotes when cut: all a log line may carry of a value that an
// unauthenticated caller chose. Control characters, invalid UTF-8 and characters beyond
// ASCII come out escaped, so that no value can forge or break a line.
func excerpt(s string, n int) string {
	cut := len(s) > n
	if cut {
		end := 0
		for end < len(s) {
			_, size := utf8.DecodeRuneInString(s[end:])
			if end+size > n {
				break
			}
			end += size
		}
		s = s[:end]
	}
	q := strconv.QuoteToASCII(s)
	if cut {
		q += "…"
	}
	return q
}
