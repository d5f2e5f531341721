package verify

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/exactsync/exactsync/dest"
	"github.com/exactsync/exactsync/exact"
	"github.com/exactsync/exactsync/exact/catalogue"
	"github.com/exactsync/exactsync/sync"
)

// Source is Exact Online as a verification reads it; *exact.Client implements it.
type Source interface {
	URL(division int, path string, query url.Values) string
	Page(ctx context.Context, division int, pageURL string) (*exact.Page, error)
	RateLimit(division int) exact.RateLimit
}

var _ Source = (*exact.Client)(nil)

// Store is the copy as a verification reads, repairs and records it.
type Store interface {
	RowCount(ctx context.Context, table string, division int) (int64, error)
	LedgerTotals(ctx context.Context, division int) ([]dest.LedgerGroup, error)
	Keys(ctx context.Context, table, keyColumn string, division int) ([]string, error)
	// RemoveKeys removes rows Exact no longer has, recording them in the deletions
	// trail under the connection and entity.
	RemoveKeys(ctx context.Context, connID int64, entity, table, keyColumn string, division int, keys []string) (int64, error)
	SaveVerification(ctx context.Context, v dest.Verification) error
}

// Syncer runs one sync of an entity of a division, and then the division's deletions:
// incremental for a zero Pass, a re-read since Pass.Since, or a full pass. WriteRecords
// writes records of an entity read by key from an endpoint without Timestamp, as
// sync.Runner.WriteRecords does.
type Syncer interface {
	Sync(ctx context.Context, division int, entity string, pass Pass) error
	WriteRecords(ctx context.Context, division int, entity string, recs []exact.Record) (sync.Written, error)
}

// Pass says how a Syncer reads: incremental (the zero Pass), from Since, or Full.
type Pass struct {
	Since time.Time
	Full  bool
}

// LedgerEntity is the entity whose control totals are compared with
// financial/ReportingBalance.
const LedgerEntity = "transaction_lines"

// ReportingBalance is the endpoint of the ledger's control totals (§3.16).
const ReportingBalance = "financial/ReportingBalance"

// Page sizes (§3.6, §3.13, §3.16).
const (
	balancePage = 60
	bulkPage    = 1000
)

// Options configure a Verifier; zero values mean the defaults.
type Options struct {
	Logger       zerolog.Logger
	ConnectionID int64
	// Repair repairs drift, then verifies the entity again.
	Repair bool
	// LastClean returns when the entity last verified clean in the division (zero: never),
	// the date a repair re-reads from; nil: repairs read in full.
	LastClean func(ctx context.Context, division int, entity string) (time.Time, error)
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// AfterExact, when set, is called after Exact's side of a comparison was read and
	// before the copy's: a test changes Exact there.
	AfterExact func(division int, entity string)
}

// Verifier verifies divisions.
type Verifier struct {
	opts Options
	src  Source
	st   Store
	sy   Syncer
}

// New returns a Verifier reading Exact through src and the copy through st, syncing
// through sy.
func New(opts Options, src Source, st Store, sy Syncer) *Verifier {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{opts: opts, src: src, st: st, sy: sy}
}

// CountPath returns the regular endpoint and $filter whose count is entity's population,
// or why Exact has none.
func CountPath(entity string) (path, filter, none string) {
	e, ok := catalogue.Lookup(entity)
	switch {
	case !ok:
		return "", "", "unknown entity"
	case e.Read != catalogue.ReadSync:
		path = e.Path
	case e.Regular == "":
		return "", "", "Exact names no regular endpoint for " + e.Path + ", so no count (§3.16)"
	default:
		path = e.Regular
	}
	return path, populationFilter(e), ""
}

// noGUID is a GUID no record has: "Key ne" it selects every record.
const noGUID = "guid'00000000-0000-0000-0000-000000000000'"

// populationFilter is the $filter that selects e's table's records: its Keep condition, or
// for a GUID key one every record passes, which satisfies Exact's mandatory filtering
// (§3.9) without changing the population counted (§3.16).
func populationFilter(e catalogue.Entity) string {
	if e.Keep != nil {
		return fmt.Sprintf("%s eq %t", e.Keep.Field, e.Keep.Equals)
	}
	for _, c := range e.Columns {
		if c.Field == e.Key && c.Type == catalogue.EdmGUID {
			return e.Key + " ne " + noGUID
		}
	}
	return ""
}

// BulkPath returns the bulk endpoint that serves entity's records (§3.13), "" for none.
func BulkPath(entity string) string {
	e, ok := catalogue.Lookup(entity)
	if !ok || e.Read != catalogue.ReadSync {
		return ""
	}
	p := "bulk/" + strings.TrimPrefix(e.Path, "sync/")
	if slices.Contains(bulkPaths, p) {
		return p
	}
	return ""
}

// bulkPaths are the bulk endpoints of §3.13.
var bulkPaths = []string{"bulk/CRM/Accounts", "bulk/CRM/Addresses", "bulk/CRM/Contacts", "bulk/CRM/Quotations",
	"bulk/CRM/QuotationLines", "bulk/Cashflow/Payments", "bulk/Cashflow/Receivables", "bulk/Documents/Documents",
	"bulk/Documents/DocumentAttachments", "bulk/Financial/GLAccounts", "bulk/Financial/GLClassifications",
	"bulk/Financial/TransactionLines", "bulk/Logistics/Items", "bulk/Logistics/SalesItemPrices",
	"bulk/SalesInvoice/SalesInvoices", "bulk/SalesInvoice/SalesInvoiceLines", "bulk/SalesOrder/SalesOrders",
	"bulk/SalesOrder/SalesOrderLines", "bulk/SalesOrder/GoodsDeliveries", "bulk/SalesOrder/GoodsDeliveryLines"}

// Calls forecasts the calls one verification of a division costs when it finds nothing:
// one count per entity that has one, and for transaction_lines the ReportingBalance pages
// of ledgerGroups groups (60 a page, at least one call).
func Calls(entities []string, ledgerGroups int) int {
	n := 0
	for _, name := range entities {
		if _, _, none := CountPath(name); none == "" {
			n++
		}
		if name == LedgerEntity {
			n += ledgerCalls(ledgerGroups)
		}
	}
	return n
}

func ledgerCalls(groups int) int { return max(1, (groups+balancePage-1)/balancePage) }

// Division verifies the entities of division, in the order given, records each in the
// store and returns them. An error is one that stopped the verification (the store, a
// failed call); the findings are in the results.
func (v *Verifier) Division(ctx context.Context, division int, entities []string) ([]dest.Verification, error) {
	var out []dest.Verification
	for _, name := range entities {
		res, err := v.entity(ctx, division, name)
		out = append(out, res...)
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (v *Verifier) entity(ctx context.Context, division int, name string) ([]dest.Verification, error) {
	ent, ok := catalogue.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("verifying %s: unknown entity", name)
	}
	log := v.opts.Logger.With().Str("entity", name).Int("division", division).Logger()
	var out []dest.Verification
	tried := map[string]bool{}
	after := ""
	for {
		res, err := v.compareTwice(ctx, division, ent)
		if err != nil {
			return out, err
		}
		if after != "" {
			res.Note = strings.TrimSpace(res.Note + " (after repair: " + after + ")")
		}
		log.Info().Str("status", res.Status).Int("differences", len(res.Differences)).Int("calls", res.Calls).Msg("verified")
		if res.Status == dest.VerifyDrift && v.opts.Repair && v.sy != nil {
			res.Repair, err = v.repair(ctx, division, ent, res, tried)
			switch {
			case errors.Is(err, sync.ErrBudgetReserve):
				// A full pass waits for the day's reset; the drift stays reported.
				res.Repair, res.Note = "", strings.TrimSpace(res.Note+" the repair's full pass waits: the division's day budget is at its reserve")
			case errors.Is(err, errFetchWaits):
				res.Repair, res.Note = "", strings.TrimSpace(res.Note+" the repair's read by key waits: it would take the division's day budget into its reserve")
			case err != nil:
				return out, err
			}
		}
		if err := v.st.SaveVerification(ctx, res); err != nil {
			return out, err
		}
		out = append(out, res)
		if res.Repair == "" {
			return out, nil
		}
		log.Info().Str("repair", res.Repair).Msg("repaired; verifying again")
		after = res.Repair
	}
}

// compareTwice compares, and when that differs syncs the entity and compares again.
func (v *Verifier) compareTwice(ctx context.Context, division int, ent catalogue.Entity) (dest.Verification, error) {
	res := dest.Verification{ConnectionID: v.opts.ConnectionID, Division: division, Entity: ent.Name, Started: v.opts.Now(), ExactCount: -1}
	need := 1
	if ent.Name == LedgerEntity {
		// The ReportingBalance pages, as many as the copy's groups make.
		groups, err := v.st.LedgerTotals(ctx, division)
		if err != nil {
			return res, err
		}
		need += ledgerCalls(len(groups))
	}
	if v.intoReserve(division, need) {
		res.Status, res.Note, res.Finished = dest.VerifySkipped, "the division's day budget is near its reserve", v.opts.Now()
		return res, nil
	}
	if err := v.compare(ctx, division, ent, &res); err != nil {
		return res, err
	}
	if len(res.Differences) > 0 && v.sy != nil {
		if err := v.sy.Sync(ctx, division, ent.Name, Pass{}); err != nil {
			return res, fmt.Errorf("syncing %s of division %d before comparing again: %w", ent.Name, division, err)
		}
		res.Resynced = true
		calls := res.Calls
		if v.intoReserve(division, need) {
			// Unconfirmed differences are no drift: the comparison waits for budget.
			res.Status, res.Finished = dest.VerifySkipped, v.opts.Now()
			res.Note = fmt.Sprintf("%d differences not confirmed: comparing again would take the division's day budget into its reserve", len(res.Differences))
			return res, nil
		}
		if err := v.compare(ctx, division, ent, &res); err != nil {
			return res, err
		}
		res.Calls += calls
	}
	res.Finished = v.opts.Now()
	return res, nil
}

// intoReserve reports whether n more calls would take the division's day budget, as Exact
// last said it, below the reserve.
func (v *Verifier) intoReserve(division, n int) bool {
	rl := v.src.RateLimit(division)
	return rl.Known && rl.DailyLimit > 0 && float64(rl.DailyRemaining-n) < sync.BudgetReserve*float64(rl.DailyLimit)
}

// compare reads Exact's side, then the copy's, and sets res's counts and differences.
func (v *Verifier) compare(ctx context.Context, division int, ent catalogue.Entity, res *dest.Verification) error {
	res.Differences, res.Calls, res.Groups, res.Note = nil, 0, 0, ""
	path, filter, none := CountPath(ent.Name)
	res.ExactCount = -1
	if none == "" {
		n, calls, err := v.count(ctx, division, path, filter, ent.Key)
		res.Calls += calls
		switch {
		case refusal(err):
			none = fmt.Sprintf("Exact refused the count of %s: %v", path, err)
		case err != nil:
			return fmt.Errorf("counting %s of division %d: %w", ent.Name, division, err)
		default:
			res.ExactCount = n
		}
	}
	var exactLedger map[dest.LedgerKey]total
	ledgerNote := ""
	if ent.Name == LedgerEntity {
		l, calls, err := v.balance(ctx, division)
		res.Calls += calls
		switch {
		case refusal(err):
			// A company without the module, an app without the scope: the counts are
			// compared all the same, and the note says why the totals were not.
			ledgerNote = fmt.Sprintf("Exact refused %s, so no ledger totals: %v", ReportingBalance, err)
		case err != nil:
			return fmt.Errorf("reading %s of division %d: %w", ReportingBalance, division, err)
		default:
			exactLedger = l
		}
	}
	if v.opts.AfterExact != nil {
		v.opts.AfterExact(division, ent.Name)
	}
	local, err := v.st.RowCount(ctx, ent.Table, division)
	if err != nil {
		return err
	}
	res.LocalCount = local
	if res.ExactCount >= 0 && res.ExactCount != local {
		res.Differences = append(res.Differences, dest.Difference{Kind: "count", Exact: res.ExactCount, Local: local})
	}
	if exactLedger != nil {
		groups, err := v.st.LedgerTotals(ctx, division)
		if err != nil {
			return err
		}
		diffs, n := compareLedger(exactLedger, groups)
		res.Differences = append(res.Differences, diffs...)
		res.Groups = n
	}
	note := strings.TrimSpace(none + "; " + ledgerNote)
	note = strings.Trim(note, "; ")
	switch {
	case len(res.Differences) > 0:
		res.Status, res.Note = dest.VerifyDrift, note
	case none != "" && exactLedger == nil:
		res.Status, res.Note = dest.VerifyNoCount, note
	default:
		res.Status, res.Note = dest.VerifyClean, note
	}
	return nil
}

// refusal reports whether err is Exact's answer that it will not serve the request (a
// 4xx other than 401 and 429): no count or no totals to compare, not a failure.
func refusal(err error) bool {
	var ae *exact.APIError
	return errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Status != 401 && ae.Status != 429
}

// count asks Exact how many records path holds that filter selects: $inlinecount=allpages
// on one record (§3.16).
func (v *Verifier) count(ctx context.Context, division int, path, filter, key string) (int64, int, error) {
	q := url.Values{"$inlinecount": {"allpages"}, "$top": {"1"}, "$select": {key}}
	if filter != "" {
		q.Set("$filter", filter)
	}
	p, err := v.src.Page(ctx, division, v.src.URL(division, path, q))
	if err != nil {
		return 0, exact.CallsMade(err), err
	}
	if p.Count < 0 {
		return 0, p.Calls, fmt.Errorf("%s answered without __count", path)
	}
	return p.Count, p.Calls, nil
}

// total is one ledger group's count and exact amount.
type total struct {
	count  int64
	amount *big.Rat
}

// balance reads financial/ReportingBalance of division, every year, and adds its rows up
// per group (§3.16: "add up the API's rows per key first").
func (v *Verifier) balance(ctx context.Context, division int) (map[dest.LedgerKey]total, int, error) {
	q := url.Values{"$select": {"ReportingYear,ReportingPeriod,GLAccount,CostCenterCode,CostUnitCode,Type,Status,Count,Amount"}}
	next := v.src.URL(division, ReportingBalance, q)
	out := map[dest.LedgerKey]total{}
	calls := 0
	for next != "" {
		p, err := v.src.Page(ctx, division, next)
		if err != nil {
			return nil, calls + exact.CallsMade(err), err
		}
		calls += p.Calls
		for _, r := range p.Records {
			k, t, err := balanceRow(r)
			if err != nil {
				return nil, calls, err
			}
			cur, ok := out[k]
			if !ok {
				cur = total{amount: new(big.Rat)}
			}
			cur.count += t.count
			cur.amount.Add(cur.amount, t.amount)
			out[k] = cur
		}
		next = p.Next
	}
	return out, calls, nil
}

func balanceRow(r exact.Record) (dest.LedgerKey, total, error) {
	var k dest.LedgerKey
	if err := r.Err(); err != nil {
		return k, total{}, err
	}
	ints := []struct {
		name string
		dst  *int
	}{{"ReportingYear", &k.Year}, {"ReportingPeriod", &k.Period}, {"Type", &k.Type}, {"Status", &k.Status}}
	for _, f := range ints {
		n, _, err := exact.Int64(r.Field(f.name))
		if err != nil {
			return k, total{}, fmt.Errorf("%s: %w", f.name, err)
		}
		*f.dst = int(n)
	}
	var err error
	if k.GLAccount, _, err = exact.GUID(r.Field("GLAccount")); err != nil {
		return k, total{}, fmt.Errorf("GLAccount: %w", err)
	}
	if k.CostCenter, _, err = exact.Code(r.Field("CostCenterCode")); err != nil {
		return k, total{}, fmt.Errorf("CostCenterCode: %w", err)
	}
	if k.CostUnit, _, err = exact.Code(r.Field("CostUnitCode")); err != nil {
		return k, total{}, fmt.Errorf("CostUnitCode: %w", err)
	}
	n, _, err := exact.Int64(r.Field("Count"))
	if err != nil {
		return k, total{}, fmt.Errorf("Count: %w", err)
	}
	amount, ok, err := exact.Decimal(r.Field("Amount"))
	if err != nil {
		return k, total{}, fmt.Errorf("Amount: %w", err)
	}
	t := total{count: n, amount: new(big.Rat)}
	if ok {
		if _, good := t.amount.SetString(amount); !good {
			return k, total{}, fmt.Errorf("Amount %q is not a number", amount)
		}
	}
	return k, t, nil
}

// cent is half a cent: amounts closer than that agree to the cent.
var halfCent = big.NewRat(1, 200)

// compareLedger compares Exact's groups with the copy's and returns a difference per group
// that differs or is on one side only, in the groups' order, and the number of groups.
func compareLedger(exactSide map[dest.LedgerKey]total, local []dest.LedgerGroup) ([]dest.Difference, int) {
	localSide := map[dest.LedgerKey]total{}
	for _, g := range local {
		a, ok := new(big.Rat).SetString(g.Amount)
		if !ok {
			a = new(big.Rat)
		}
		cur, seen := localSide[g.LedgerKey]
		if seen {
			a.Add(a, cur.amount)
			g.Count += cur.count
		}
		localSide[g.LedgerKey] = total{count: g.Count, amount: a}
	}
	keys := map[dest.LedgerKey]bool{}
	for k := range exactSide {
		keys[k] = true
	}
	for k := range localSide {
		keys[k] = true
	}
	var out []dest.Difference
	zero := total{amount: new(big.Rat)}
	for k := range keys {
		e, ok := exactSide[k]
		if !ok {
			e = zero
		}
		l, ok := localSide[k]
		if !ok {
			l = zero
		}
		diff := new(big.Rat).Sub(e.amount, l.amount)
		if e.count == l.count && diff.Abs(diff).Cmp(halfCent) < 0 {
			continue
		}
		key := k
		out = append(out, dest.Difference{Kind: "ledger", LedgerKey: &key, ExactCount: e.count, LocalCount: l.count,
			ExactAmount: decimalText(e.amount), LocalAmount: decimalText(l.amount)})
	}
	slices.SortFunc(out, func(a, b dest.Difference) int { return compareKeys(*a.LedgerKey, *b.LedgerKey) })
	return out, len(keys)
}

func compareKeys(a, b dest.LedgerKey) int {
	return cmp.Or(cmp.Compare(a.Year, b.Year), cmp.Compare(a.Period, b.Period), strings.Compare(a.GLAccount, b.GLAccount),
		strings.Compare(a.CostCenter, b.CostCenter), strings.Compare(a.CostUnit, b.CostUnit),
		cmp.Compare(a.Type, b.Type), cmp.Compare(a.Status, b.Status))
}

// decimalText writes r with the digits it needs, up to 8 after the point.
func decimalText(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	s := r.FloatString(8)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

// repair does one repair of res's drift not tried yet and says which ("" when none is
// left).
func (v *Verifier) repair(ctx context.Context, division int, ent catalogue.Entity, res dest.Verification, tried map[string]bool) (string, error) {
	extra := res.ExactCount >= 0 && res.LocalCount > res.ExactCount
	if extra && !tried["id_set"] && BulkPath(ent.Name) != "" {
		tried["id_set"] = true
		removed, err := v.idSet(ctx, division, ent, res.LocalCount)
		if err != nil {
			return "", err
		}
		if removed > 0 {
			return "id_set", nil
		}
	}
	if !tried["since"] && !tried["full"] && v.opts.LastClean != nil && ent.Read != catalogue.ReadFull {
		tried["since"] = true
		at, err := v.opts.LastClean(ctx, division, ent.Name)
		if err != nil {
			return "", err
		}
		if !at.IsZero() {
			how := "since " + at.UTC().Format(time.RFC3339)
			if err := v.sy.Sync(ctx, division, ent.Name, Pass{Since: at}); err != nil {
				return "", fmt.Errorf("repairing %s of division %d (%s): %w", ent.Name, division, how, err)
			}
			return how, nil
		}
	}
	if !tried["full"] {
		tried["full"] = true
		if err := v.sy.Sync(ctx, division, ent.Name, Pass{Full: true}); err != nil {
			return "", fmt.Errorf("repairing %s of division %d (full pass): %w", ent.Name, division, err)
		}
		return "full", nil
	}
	// Rows still missing after a full pass are records the sync endpoint does not serve:
	// read them by key.
	missing := res.ExactCount >= 0 && res.LocalCount < res.ExactCount
	if missing && !tried["id_fetch"] && BulkPath(ent.Name) != "" {
		tried["id_fetch"] = true
		n, err := v.idFetch(ctx, division, ent, res.ExactCount, res.ExactCount-res.LocalCount)
		if err != nil {
			return "", err
		}
		if n > 0 {
			return "id_fetch", nil
		}
	}
	return "", nil
}

// exactKeys pages the entity's bulk endpoint for the keys of its population (§3.13).
func (v *Verifier) exactKeys(ctx context.Context, division int, ent catalogue.Entity) (map[string]bool, error) {
	q := url.Values{"$select": {ent.Key}}
	if f := populationFilter(ent); f != "" {
		q.Set("$filter", f)
	}
	path := BulkPath(ent.Name)
	next := v.src.URL(division, path, q)
	seen := map[string]bool{}
	for next != "" {
		p, err := v.src.Page(ctx, division, next)
		if err != nil {
			return nil, fmt.Errorf("reading the keys of %s for division %d: %w", path, division, err)
		}
		for _, r := range p.Records {
			k, ok, err := exact.GUID(r.Field(ent.Key))
			if err != nil || !ok {
				continue // a key that is not a GUID names no row of ours
			}
			seen[k] = true
		}
		next = p.Next
	}
	return seen, nil
}

// idSet reads the entity's keys from its bulk endpoint and removes the stored rows whose
// key did not come (§3.12, §3.13), and returns how many it removed.
func (v *Verifier) idSet(ctx context.Context, division int, ent catalogue.Entity, rows int64) (int64, error) {
	if v.intoReserve(division, int(rows/bulkPage)+1) {
		return 0, nil
	}
	seen, err := v.exactKeys(ctx, division, ent)
	if err != nil {
		return 0, err
	}
	local, err := v.st.Keys(ctx, ent.Table, ent.KeyColumn, division)
	if err != nil {
		return 0, err
	}
	var gone []string
	for _, k := range local {
		if !seen[k] {
			gone = append(gone, k)
		}
	}
	if len(gone) == 0 {
		return 0, nil
	}
	return v.st.RemoveKeys(ctx, v.opts.ConnectionID, ent.Name, ent.Table, ent.KeyColumn, division, gone)
}

// errFetchWaits: reading records by key would take the division's day into its reserve.
var errFetchWaits = errors.New("reading by key waits for budget")

// MaxURL is the longest URL Exact accepts, percent-encoded (§2.6).
const MaxURL = 6000

// idFetch reads the entity's keys from its bulk endpoint, then the records of the keys
// the copy lacks, by key from the same endpoint with the catalogue's fields ($filter of
// "ID eq guid'…' or …" within MaxURL), and writes them through the Syncer (the sync's
// conversion and quarantine, at the lowest version, which the sync endpoint's next
// version of the record replaces). It returns how many records it read. rows is Exact's
// count and missing how many the copy lacks, for the budget: it reads nothing that would
// take the division's day into its reserve (errFetchWaits when it read nothing for that).
func (v *Verifier) idFetch(ctx context.Context, division int, ent catalogue.Entity, rows, missing int64) (int, error) {
	if v.intoReserve(division, int(rows/bulkPage)+1+int(missing/keysPerCall)+1) {
		return 0, errFetchWaits
	}
	seen, err := v.exactKeys(ctx, division, ent)
	if err != nil {
		return 0, err
	}
	local, err := v.st.Keys(ctx, ent.Table, ent.KeyColumn, division)
	if err != nil {
		return 0, err
	}
	for _, k := range local {
		delete(seen, k)
	}
	lacking := make([]string, 0, len(seen))
	for k := range seen {
		lacking = append(lacking, k)
	}
	slices.Sort(lacking)
	sel, err := sync.KeyedSelect(ent.Name)
	if err != nil {
		return 0, err
	}
	path := BulkPath(ent.Name)
	read := 0
	for len(lacking) > 0 {
		if v.intoReserve(division, 1) {
			if read > 0 {
				break // what was read is written; the next repair reads the rest
			}
			return 0, errFetchWaits
		}
		var next string
		next, lacking = v.keyedURL(division, path, sel, ent.Key, lacking)
		for next != "" {
			p, err := v.src.Page(ctx, division, next)
			if err != nil {
				return read, fmt.Errorf("reading records of %s by key for division %d: %w", path, division, err)
			}
			if _, err := v.sy.WriteRecords(ctx, division, ent.Name, p.Records); err != nil {
				return read, err
			}
			read += len(p.Records)
			next = p.Next
		}
	}
	return read, nil
}

// keysPerCall is about how many keys one read by key asks for within MaxURL: a budget
// estimate only; keyedURL fills each URL to MaxURL.
const keysPerCall = 80

// keyedURL returns the URL that reads from path as many of keys as fit in MaxURL (at
// least one), and the keys left.
func (v *Verifier) keyedURL(division int, path, sel, key string, keys []string) (string, []string) {
	build := func(n int) string {
		terms := make([]string, n)
		for i, k := range keys[:n] {
			terms[i] = key + " eq guid'" + k + "'"
		}
		return v.src.URL(division, path, url.Values{"$select": {sel}, "$filter": {strings.Join(terms, " or ")}})
	}
	// The largest n whose URL fits: the URL grows with n.
	lo, hi := 1, len(keys)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if len(build(mid)) <= MaxURL {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return build(lo), keys[lo:]
}
