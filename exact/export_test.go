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
