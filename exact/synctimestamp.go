package exact

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// SyncPoint is where a sync endpoint's stream reaches a date: the answer of
// read/sync/Sync/SyncTimestamp (§3.10, §3.16).
type SyncPoint struct {
	// Found is false when no record of the endpoint was modified on or after the date.
	Found bool
	// Timestamp (TimeStampAsBigInt) is the row version of the first record modified on or
	// after the date; a read with "Timestamp gt Timestamp-1" brings it and every record
	// after it.
	Timestamp int64
	Modified  time.Time // that record's Modified
	Calls     int       // HTTP calls the answer cost, retries included
}

// SyncTimestamp asks read/sync/Sync/SyncTimestamp where the stream of a sync endpoint
// reaches since (§3.10, §3.16). endpoint is the sync endpoint's name, its last path
// segment ("TransactionLines"). Exact answers it for some endpoints only (not Accounts):
// for the others the refusal comes back as *APIError with status 400. The envelope and
// the JSON type of TimeStampAsBigInt are UNCONFIRMED: both envelopes of §3.5 and a number or
// a string are read.
func (c *Client) SyncTimestamp(ctx context.Context, division int, endpoint string, since time.Time) (SyncPoint, error) {
	q := url.Values{"modified": {"datetime'" + DateTimeLiteral(since) + "'"}, "endPoint": {"'" + endpoint + "'"}}
	p, err := c.Page(ctx, division, c.URL(division, "read/sync/Sync/SyncTimestamp", q))
	if err != nil {
		return SyncPoint{Calls: CallsMade(err)}, fmt.Errorf("asking read/sync/Sync/SyncTimestamp of %s for division %d: %w", endpoint, division, err)
	}
	sp := SyncPoint{Calls: p.Calls}
	if len(p.Records) == 0 {
		return sp, nil
	}
	r := p.Records[0]
	if err := r.Err(); err != nil {
		return sp, fmt.Errorf("reading read/sync/Sync/SyncTimestamp of %s for division %d: %w", endpoint, division, err)
	}
	ts, ok, err := Int64(r.Field("TimeStampAsBigInt"))
	if err == nil && !ok {
		err = fmt.Errorf("TimeStampAsBigInt is null")
	}
	if err != nil {
		return sp, fmt.Errorf("reading read/sync/Sync/SyncTimestamp of %s for division %d: %w", endpoint, division, err)
	}
	sp.Found, sp.Timestamp = true, ts
	sp.Modified, _, _ = Date(r.Field("Modified"))
	return sp, nil
}
