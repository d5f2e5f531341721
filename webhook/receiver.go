package webhook

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/exact/catalogue"
)

// Defaults of the Config fields.
const (
	DefaultWindow  = 2 * time.Second
	DefaultEvery   = time.Minute
	DefaultMaxBody = 64 << 10 // a delivery is well under 1 KB
	// DeletionsEntity is the Target.Entity of the division's deletions run, queued after
	// a Delete (it equals sync.DeletionsJob).
	DeletionsEntity = "deletions"
)

// Outcomes of a delivery, as the Observer is told.
const (
	OutcomeOK           = "ok"            // verified; a run is queued
	OutcomeDebounced    = "debounced"     // verified; its run was queued already
	OutcomeUnknownTopic = "unknown_topic" // verified; no enabled entity has the topic
	OutcomeBadSignature = "bad_signature" // 401
	OutcomeMalformed    = "malformed"     // 400: not a delivery
	OutcomeTooLarge     = "too_large"     // 413
	OutcomeTimeout      = "timeout"       // 408: the body did not arrive within the server's read timeout
	OutcomeValidation   = "validation"    // the empty POST after a subscription
)

// Target is one run a Receiver asks for.
type Target struct {
	ClientID string // the app the delivery named (ClientId)
	Division int
	// Entity names the run: an entity (the first enabled one of its endpoint), or
	// DeletionsEntity for the division's deletions.
	Entity string
	Topics []string  // the topics of the deliveries it answers
	First  time.Time // when the first of them arrived
}

// Trigger queues a run. It is called from the Receiver's own goroutine, never from the
// handler, so it may be slow.
type Trigger interface {
	Trigger(ctx context.Context, t Target) error
}

// LaterError is returned by a Trigger that may not queue the run before At (another
// process queued one within Config.Every); the Receiver asks again then.
type LaterError struct{ At time.Time }

func (e *LaterError) Error() string {
	return "a webhook-triggered run was queued less than a minute ago; next at " + e.At.Format(time.RFC3339)
}

// Seen is the last delivery of a division and topic, for `exactsync webhooks status`.
type Seen struct {
	ClientID   string
	Division   int
	Topic      string
	Action     string
	Outcome    string
	At         time.Time
	Deliveries int // since the last flush
}

// Recorder stores the last deliveries seen; it is called from the Receiver's goroutine.
type Recorder interface {
	RecordWebhookDeliveries(ctx context.Context, seen []Seen) error
}

// Observer is told of every delivery and of every webhook-triggered run that committed,
// for metrics. It must not block.
type Observer interface {
	Delivered(topic, outcome string)
	// Committed is told how long after its first delivery a run's rows committed.
	Committed(entity string, latency time.Duration)
}

// NopObserver observes nothing.
type NopObserver struct{}

func (NopObserver) Delivered(string, string)        {}
func (NopObserver) Committed(string, time.Duration) {}

// Config configures a Receiver. Zero values mean the defaults.
type Config struct {
	// Secret is the app's webhook secret (EXACT_WEBHOOK_SECRET). Required.
	Secret []byte
	// Entities are the enabled entities; a topic covering none of them is ignored.
	Entities []string
	// Trigger queues the runs. Required.
	Trigger Trigger
	// Recorder stores the last delivery per division and topic; nil stores nothing.
	Recorder Recorder
	Observer Observer // default NopObserver
	Logger   zerolog.Logger
	// Window is how long deliveries for one division and entity are gathered into one run
	// (default 2s).
	Window time.Duration
	// Every bounds the webhook-triggered runs of one entity and division (default 1m).
	Every time.Duration
	// MaxBody bounds a request's body (default 64 KiB); a larger one gets 413.
	MaxBody int64
	// TriggerTimeout bounds one call of the Trigger (default 30s).
	TriggerTimeout time.Duration
	// RecordTimeout bounds one call of the Recorder (default 10s). Recording runs beside
	// the triggering, so a slow database delays no run.
	RecordTimeout time.Duration
	// SummaryEvery is how often, at most, the calls without a valid delivery are logged,
	// as one line of counts by reason (default 1m).
	SummaryEvery time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

type runKey struct {
	client   string
	division int
	entity   string
}

type pending struct {
	due    time.Time
	first  time.Time
	topics []string
}

type seenKey struct {
	client   string
	division int
	topic    string
}

// Receiver is the webhook callback: an http.Handler plus the goroutine that fires the
// debounced runs. It is safe for concurrent use.
type Receiver struct {
	cfg    Config
	log    zerolog.Logger
	topics map[string][]string // lower-case topic → job entities

	mu      gosync.Mutex
	pending map[runKey]*pending
	last    map[runKey]time.Time // when the last run of a key was fired
	seen    map[seenKey]Seen     // not yet recorded
	ignored map[string]bool      // unknown topics logged already
	wake    chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}

	recording gosync.WaitGroup // at most one flush at a time
	flushing  bool

	refusals refusals
}

// New checks cfg and builds a Receiver; Start starts its goroutine.
func New(cfg Config) (*Receiver, error) {
	if len(cfg.Secret) == 0 || cfg.Trigger == nil {
		return nil, errors.New("webhook: Config.Secret and Trigger are required")
	}
	cfg.Window = cmp.Or(cfg.Window, DefaultWindow)
	cfg.Every = cmp.Or(cfg.Every, DefaultEvery)
	cfg.MaxBody = cmp.Or(cfg.MaxBody, DefaultMaxBody)
	cfg.TriggerTimeout = cmp.Or(cfg.TriggerTimeout, 30*time.Second)
	cfg.RecordTimeout = cmp.Or(cfg.RecordTimeout, 10*time.Second)
	cfg.SummaryEvery = cmp.Or(cfg.SummaryEvery, DefaultSummaryEvery)
	if cfg.Observer == nil {
		cfg.Observer = NopObserver{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Receiver{
		cfg: cfg, log: cfg.Logger, topics: jobEntities(cfg.Entities),
		pending: map[runKey]*pending{}, last: map[runKey]time.Time{}, seen: map[seenKey]Seen{},
		ignored: map[string]bool{}, wake: make(chan struct{}, 1),
	}, nil
}

// jobEntities maps each topic of the enabled entities to the runs it triggers: one per
// endpoint, named by the first enabled entity read from it (as the schedules name them).
func jobEntities(enabled []string) map[string][]string {
	first := map[string]string{} // path → first enabled entity
	for _, name := range enabled {
		if e, ok := catalogue.Lookup(name); ok && first[e.Path] == "" {
			first[e.Path] = name
		}
	}
	out := map[string][]string{}
	for _, name := range enabled {
		e, ok := catalogue.Lookup(name)
		if !ok || e.Deprecated {
			continue
		}
		for _, t := range e.WebhookTopics {
			k := strings.ToLower(t)
			if job := first[e.Path]; !slices.Contains(out[k], job) {
				out[k] = append(out[k], job)
			}
		}
	}
	return out
}

// Topics are the webhook topics of the enabled entities, sorted: the subscriptions
// exactsync wants in every division.
func Topics(enabled []string) []string {
	var out []string
	for _, name := range enabled {
		if e, ok := catalogue.Lookup(name); ok && !e.Deprecated {
			for _, t := range e.WebhookTopics {
				if !slices.Contains(out, t) {
					out = append(out, t)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// ServeHTTP answers one call of Exact: 405 for anything but POST, 413 for a body over
// MaxBody, 408 for one that did not arrive within the server's read timeout, 200 for the
// validation call (an empty body, §3.14), 400 for what is not a delivery, 401 for a
// delivery without a valid HashCode, 200 for a verified delivery, which is handed to the
// debouncer before the answer. It never waits for a run.
//
// Anyone can call it, so nothing a call without a valid HashCode sent is logged as such:
// such calls are counted by reason and summed up in one line a minute at most, with a
// short, escaped excerpt of one call of each reason (see Config.SummaryEvery).
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	client := clientName(clientKey(r.RemoteAddr))
	if r.Method != http.MethodPost {
		rc.Refused(ReasonNotPost, client, "method "+excerpt(r.Method, excerptShort))
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, rc.cfg.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		var netErr net.Error
		switch {
		case errors.As(err, &tooLarge):
			rc.refuse(w, OutcomeTooLarge, http.StatusRequestEntityTooLarge, client, fmt.Sprintf("body over %d bytes", rc.cfg.MaxBody))
		case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
			rc.refuse(w, OutcomeTimeout, http.StatusRequestTimeout, client, fmt.Sprintf("body incomplete after %d bytes", len(body)))
		default:
			rc.refuse(w, OutcomeMalformed, http.StatusBadRequest, client, "body unreadable after "+strconv.Itoa(len(body))+" bytes")
		}
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		// Exact's validation call after a subscription: an empty POST expecting 200 (§3.14).
		rc.Refused(OutcomeValidation, client, "")
		rc.answer(w, "", OutcomeValidation, http.StatusOK)
		return
	}
	d, err := Parse(body)
	if err != nil {
		rc.refuse(w, OutcomeMalformed, http.StatusBadRequest, client, excerpt(err.Error(), excerptLong))
		return
	}
	if !Verify(rc.cfg.Secret, d) {
		rc.refuse(w, OutcomeBadSignature, http.StatusUnauthorized, client,
			fmt.Sprintf("topic %s, division %d, HashCode %s", excerpt(d.Topic, excerptShort), d.Division, hashShape(d.HashCode)))
		return
	}
	outcome := rc.accept(d)
	rc.log.Debug().Str("topic", d.Topic).Int("division", d.Division).Str("action", d.Action).Str("outcome", outcome).Msg("webhook delivery")
	rc.answer(w, d.Topic, outcome, http.StatusOK)
}

// Refused counts a call or connection that carried no verified delivery, for the next
// summary line; detail must be bounded and escaped already. The Server calls it too.
func (rc *Receiver) Refused(reason, client, detail string) {
	rc.refusals.add(rc.cfg.Now(), reason, client, detail)
}

// refuse answers a call without a valid delivery and counts it.
func (rc *Receiver) refuse(w http.ResponseWriter, outcome string, status int, client, detail string) {
	rc.Refused(outcome, client, detail)
	rc.answer(w, "", outcome, status)
}

// hashShape describes a HashCode that did not verify without repeating it.
func hashShape(h string) string {
	switch {
	case h == "":
		return "missing"
	case len(h) == sha256.Size*2 && strings.Trim(h, "0123456789ABCDEF") == "":
		return "of the right form, not matching"
	case len(h) == sha256.Size*2 && strings.Trim(h, "0123456789abcdefABCDEF") == "":
		return "not in upper case"
	default:
		return fmt.Sprintf("of %d bytes, not 64 upper-case hex digits", len(h))
	}
}

func (rc *Receiver) answer(w http.ResponseWriter, topic, outcome string, status int) {
	rc.cfg.Observer.Delivered(topic, outcome)
	w.WriteHeader(status)
}

// accept hands a verified delivery to the debouncer and returns its outcome.
func (rc *Receiver) accept(d Delivery) string {
	now := rc.cfg.Now()
	jobs := rc.topics[strings.ToLower(d.Topic)]
	if len(jobs) > 0 && d.Action == ActionDelete {
		jobs = append(slices.Clone(jobs), DeletionsEntity)
	}
	outcome := OutcomeUnknownTopic
	if len(jobs) > 0 {
		outcome = OutcomeDebounced
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	sk := seenKey{d.ClientID, d.Division, d.Topic}
	s := rc.seen[sk]
	rc.seen[sk] = Seen{ClientID: d.ClientID, Division: d.Division, Topic: d.Topic, Action: d.Action, At: now, Deliveries: s.Deliveries + 1}
	if len(jobs) == 0 {
		s := rc.seen[sk]
		s.Outcome = outcome
		rc.seen[sk] = s
		if !rc.ignored[strings.ToLower(d.Topic)] {
			rc.ignored[strings.ToLower(d.Topic)] = true
			rc.log.Warn().Str("topic", d.Topic).Int("division", d.Division).
				Msg("webhook topic of no enabled entity; its deliveries are ignored (`exactsync webhooks sync` removes unwanted subscriptions)")
		}
		return outcome
	}
	wake := false
	for _, job := range jobs {
		k := runKey{d.ClientID, d.Division, job}
		if p := rc.pending[k]; p != nil {
			if !slices.Contains(p.topics, d.Topic) {
				p.topics = append(p.topics, d.Topic)
			}
			continue
		}
		due := now.Add(rc.cfg.Window)
		if last, ok := rc.last[k]; ok && last.Add(rc.cfg.Every).After(due) {
			due = last.Add(rc.cfg.Every)
		}
		rc.pending[k] = &pending{due: due, first: now, topics: []string{d.Topic}}
		outcome, wake = OutcomeOK, true
	}
	s = rc.seen[sk]
	s.Outcome = outcome
	rc.seen[sk] = s
	if wake {
		select {
		case rc.wake <- struct{}{}:
		default:
		}
	}
	return outcome
}

// Start starts the goroutine that fires the due runs and records the deliveries seen. It
// runs until Stop, whatever becomes of ctx.
func (rc *Receiver) Start(ctx context.Context) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.done != nil {
		return errors.New("webhook: receiver started twice")
	}
	ctx, rc.cancel = context.WithCancel(context.WithoutCancel(ctx))
	rc.done = make(chan struct{})
	go rc.loop(ctx)
	return nil
}

// Stop stops the goroutine and waits for it (or for ctx). Runs still gathering
// deliveries are not queued: the schedules catch up.
func (rc *Receiver) Stop(ctx context.Context) error {
	rc.mu.Lock()
	cancel, done := rc.cancel, rc.done
	rc.mu.Unlock()
	if done == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (rc *Receiver) loop(ctx context.Context) {
	defer close(rc.done)
	const flushEvery = time.Second
	timer := time.NewTimer(flushEvery)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			rc.recording.Wait()
			rc.flush(context.Background())
			rc.refusals.log(rc.log, rc.cfg.Now(), rc.cfg.SummaryEvery, true)
			return
		case <-timer.C:
		case <-rc.wake:
		}
		rc.refusals.log(rc.log, rc.cfg.Now(), rc.cfg.SummaryEvery, false)
		next := rc.Fire(ctx)
		rc.mu.Lock()
		start := !rc.flushing && len(rc.seen) > 0
		rc.flushing = rc.flushing || start
		rc.mu.Unlock()
		if start {
			rc.recording.Add(1)
			go func() {
				defer rc.recording.Done()
				rc.flush(ctx)
				rc.mu.Lock()
				rc.flushing = false
				rc.mu.Unlock()
			}()
		}
		wait := flushEvery
		if !next.IsZero() {
			wait = min(max(next.Sub(rc.cfg.Now()), time.Millisecond), flushEvery)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
	}
}

// Fire triggers every run that is due and returns when the next one is (zero for none).
// The Receiver's goroutine calls it; tests with their own clock may call it directly.
func (rc *Receiver) Fire(ctx context.Context) time.Time {
	now := rc.cfg.Now()
	rc.mu.Lock()
	var due []Target
	for k, p := range rc.pending {
		if !p.due.After(now) {
			due = append(due, Target{ClientID: k.client, Division: k.division, Entity: k.entity, Topics: p.topics, First: p.first})
			delete(rc.pending, k)
			rc.last[k] = now
		}
	}
	rc.mu.Unlock()
	// Entities before the deletions run of their division, which reads what they left.
	slices.SortFunc(due, func(a, b Target) int {
		return cmp.Or(cmp.Compare(a.Division, b.Division), cmp.Compare(boolInt(a.Entity == DeletionsEntity), boolInt(b.Entity == DeletionsEntity)),
			strings.Compare(a.Entity, b.Entity))
	})
	for _, t := range due {
		if ctx.Err() != nil {
			break
		}
		rc.trigger(ctx, t)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var next time.Time
	for _, p := range rc.pending {
		if next.IsZero() || p.due.Before(next) {
			next = p.due
		}
	}
	return next
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// trigger calls the Trigger for one run; a LaterError puts the run back for its time.
func (rc *Receiver) trigger(ctx context.Context, t Target) {
	tctx, cancel := context.WithTimeout(ctx, rc.cfg.TriggerTimeout)
	err := rc.cfg.Trigger.Trigger(tctx, t)
	cancel()
	log := rc.log.With().Int("division", t.Division).Str("entity", t.Entity).Strs("topics", t.Topics).Logger()
	var later *LaterError
	switch {
	case err == nil:
		log.Info().Dur("since_delivery_ms", rc.cfg.Now().Sub(t.First)).Msg("webhook: incremental run queued")
	case errors.As(err, &later):
		rc.mu.Lock()
		k := runKey{t.ClientID, t.Division, t.Entity}
		if p := rc.pending[k]; p != nil {
			p.first = minTime(p.first, t.First)
			p.due = maxTime(p.due, later.At)
		} else {
			rc.pending[k] = &pending{due: later.At, first: t.First, topics: t.Topics}
		}
		rc.mu.Unlock()
		log.Debug().Time("next", later.At).Msg("webhook: another process queued this run within the minute; asking again then")
	case ctx.Err() != nil:
	default:
		log.Warn().Err(err).Msg("webhook: run not queued; the schedule catches up")
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// flush hands the deliveries seen since the last flush to the Recorder.
func (rc *Receiver) flush(ctx context.Context) {
	if rc.cfg.Recorder == nil {
		return
	}
	rc.mu.Lock()
	if len(rc.seen) == 0 {
		rc.mu.Unlock()
		return
	}
	seen := make([]Seen, 0, len(rc.seen))
	for _, s := range rc.seen {
		seen = append(seen, s)
	}
	rc.seen = map[seenKey]Seen{}
	rc.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, rc.cfg.RecordTimeout)
	defer cancel()
	if err := rc.cfg.Recorder.RecordWebhookDeliveries(ctx, seen); err != nil && ctx.Err() == nil {
		rc.log.Warn().Err(fmt.Errorf("recording %d webhook deliveries: %w", len(seen), err)).Msg("webhook: last deliveries not stored")
	}
}
