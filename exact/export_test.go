package exact

import "context"

// Test-only API: what the tests call and no production code needs.

// Refresh rotates the token chain now, even when the stored access token is still valid.
// Like every refresh it runs under the store's row lock and never earlier than 570 s after
// the current access token was issued (§1.8): when it is too early it waits until then. If
// another process rotates the chain meanwhile, that rotation counts and no call is made.
// Terminal answers are handled as in AccessToken.
func (c *Client) Refresh(ctx context.Context) error {
	_, _, err := c.token(ctx, "", rotation{now: true})
	return err
}

// BaseURL returns the validated base URL, without a trailing slash.
func (c *Client) BaseURL() string { return c.baseStr }

// MemStore is the in-memory TokenStore of the tests, for the tests outside the package.
type MemStore = memStore

// NewMemStore returns a MemStore holding t.
func NewMemStore(t Token) *MemStore { return &memStore{tok: t} }

// SetToken replaces the stored token, as another process or a person would; an
// announcement in t (Pending.By set) is stored as made now, for t.Pending.Left.
func (s *memStore) SetToken(t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.Pending.By != "" {
		left := t.Pending.Left
		t = s.announce(t)
		s.until = s.clock().Add(left)
	}
	s.tok = t
}
