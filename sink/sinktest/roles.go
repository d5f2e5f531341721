package sinktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// NewScratchDatabase is NewMigratedDatabase for a test that changes the schema or its
// privileges (a table added, a grant made by hand): a copy of the migrated template of its
// own, dropped when the test ends and never handed to another test.
func NewScratchDatabase(t testing.TB) string {
	t.Helper()
	tpl, err := template()
	if err != nil {
		t.Fatalf("preparing the migrated template database: %v", err)
	}
	return newDatabase(t, tpl)
}

// NewRoleName returns a role name no other test of the server uses, for a role the test
// creates. Roles are the server's, shared by every test database: when the test ends,
// however it ends, the role is dropped if it exists, after what it owns and was granted
// in each database of databaseURLs is dropped (DROP OWNED BY), so that nothing keeps it.
func NewRoleName(t testing.TB, prefix string, databaseURLs ...string) string {
	t.Helper()
	suffix := make([]byte, 4)
	rand.Read(suffix)
	prefix = unsafeChars.ReplaceAllString(strings.ToLower(prefix), "_")
	if len(prefix) > 30 {
		prefix = prefix[:30]
	}
	name := "exactsync_test_" + prefix + "_" + hex.EncodeToString(suffix)
	ident := pgx.Identifier{name}.Sanitize()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		exists := func(conn *pgx.Conn) bool {
			var ok bool
			if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&ok); err != nil {
				t.Errorf("looking for test role %s: %v", name, err)
			}
			return ok
		}
		for _, u := range databaseURLs {
			conn, err := pgx.Connect(ctx, u)
			if err != nil {
				continue // the database is gone, and with it what the role had there
			}
			if exists(conn) {
				if _, err := conn.Exec(ctx, `DROP OWNED BY `+ident); err != nil {
					t.Errorf("dropping what test role %s owns: %v", name, err)
				}
			}
			conn.Close(ctx)
		}
		admin, err := pgx.Connect(ctx, ServerURL())
		if err != nil {
			t.Errorf("connecting to drop test role %s: %v", name, err)
			return
		}
		defer admin.Close(ctx)
		if _, err := admin.Exec(ctx, `DROP ROLE IF EXISTS `+ident); err != nil {
			t.Errorf("dropping test role %s: %v", name, err)
		}
	})
	return name
}

// ConnectAs returns databaseURL logging in as role instead (the test server trusts local
// connections, so no password is needed).
func ConnectAs(t testing.TB, databaseURL, role string) string {
	t.Helper()
	u, err := url.Parse(databaseURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return databaseURL + " user=" + role
	}
	u.User = url.User(role)
	return u.String()
}
