package sink

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// What other roles may read (migration 00012, README "Giving an application access"):
// readers are roles in the group ReaderGroup, which may read the schemas of records
// (exact) and exact_status and nothing else; row-level security limits each reader to the
// divisions exact_sync.readers lists for it. The SQL functions of the migration do the
// work; this file calls them under the migration lock, so that grants never race (two
// GRANTs of one object at once fail with "tuple concurrently updated").

// ReaderGroup is the group role of readers. Roles are the server's: every database
// exactsync writes grants this one group what it may read there, and each database's
// exact_sync.readers decides which rows a member sees in it.
const ReaderGroup = "exactsync_reader"

// Conditions of the reader commands, for errors.Is.
var (
	// ErrReaderName: the name cannot be a reader's role name.
	ErrReaderName = errors.New("not a valid reader name")
	// ErrRoleTaken: a role of that name exists and is not a reader.
	ErrRoleTaken = errors.New("role exists and is not a reader")
	// ErrNotReader: no reader of that name in this database.
	ErrNotReader = errors.New("no such reader")
	// ErrCannotCreateRoles: exactsync's role lacks CREATEROLE.
	ErrCannotCreateRoles = errors.New("exactsync's role cannot create roles")
	// ErrReaderPassword: the password cannot be stored as given.
	ErrReaderPassword = errors.New("unusable password")
)

// readerName is a name readers add accepts: a lower-case PostgreSQL identifier, written
// the same quoted or not.
var readerName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// CheckReaderName says why name cannot be a reader's role name; nil when it can.
func CheckReaderName(name string) error {
	switch {
	case !readerName.MatchString(name):
		return fmt.Errorf("%w: %q; use lower-case letters, digits and _, starting with a letter or _, at most 63 characters", ErrReaderName, name)
	case strings.HasPrefix(name, "pg_"):
		return fmt.Errorf("%w: %q; names starting with pg_ are PostgreSQL's", ErrReaderName, name)
	case name == ReaderGroup:
		return fmt.Errorf("%w: %q is the readers' group role", ErrReaderName, name)
	case slices.Contains([]string{"public", "none", "current_user", "current_role", "session_user", "user"}, name):
		return fmt.Errorf("%w: %q is reserved by PostgreSQL", ErrReaderName, name)
	}
	return nil
}

// secureReaders puts the tables of the schemas of records under the division policy and
// gives the group its grants (exact_sync.secure_readers()), and takes from PUBLIC what it
// was granted in exact_sync and exact_status, under the migration lock. Only what is
// missing or open is changed: a start with everything in place writes no catalog row.
func (s *Store) secureReaders(ctx context.Context) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
			return fmt.Errorf("securing the readers' access: taking the migration lock: %w", err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT exact_sync.secure_readers()`).Scan(&n); err != nil {
			return fmt.Errorf("securing the readers' access: %w", err)
		}
		if n > 0 {
			s.log.Info().Int("changes", n).Msg("applied the readers' grants and division policies")
		}
		var grants, functions bool
		err := tx.QueryRow(ctx, `
			SELECT bool_or(has_schema_privilege('public', n.oid, 'USAGE') OR has_schema_privilege('public', n.oid, 'CREATE')
			               OR EXISTS (SELECT 1 FROM pg_class c, aclexplode(c.relacl) a WHERE c.relnamespace = n.oid AND a.grantee = 0)),
			       bool_or(EXISTS (SELECT 1 FROM pg_proc p WHERE p.pronamespace = n.oid AND has_function_privilege('public', p.oid, 'EXECUTE')))
			FROM pg_namespace n WHERE n.nspname IN ('exact_sync', 'exact_status')`).Scan(&grants, &functions)
		if err != nil {
			return fmt.Errorf("reading what PUBLIC may do in exact_sync: %w", err)
		}
		if !grants && !functions {
			return nil
		}
		for _, schema := range []string{"exact_sync", "exact_status"} {
			for _, what := range []string{"SCHEMA " + schema, "ALL TABLES IN SCHEMA " + schema, "ALL SEQUENCES IN SCHEMA " + schema, "ALL FUNCTIONS IN SCHEMA " + schema} {
				if _, err := tx.Exec(ctx, `REVOKE ALL ON `+what+` FROM PUBLIC`); err != nil {
					return fmt.Errorf("revoking PUBLIC's privileges on %s: %w", strings.ToLower(what), err)
				}
			}
		}
		if grants {
			s.log.Warn().Msg("took back the privileges PUBLIC had been granted in exact_sync or exact_status: exact_sync holds the tokens and client secrets; applications read as readers (exactsync readers add)")
		}
		return nil
	})
}

// Reader is a role exactsync made for an application to read with.
type Reader struct {
	Name string
	// Divisions are the divisions the reader sees, sorted; nil for every division.
	Divisions []int
	// Login says whether the role may log in (a password was given).
	Login bool
	// Missing says that the role is gone from the server (dropped by hand, or by
	// readers remove in another database); the reader sees nothing.
	Missing bool
	// Member says whether the role is a member of ReaderGroup; without it, it reads
	// nothing.
	Member               bool
	CreatedAt, UpdatedAt time.Time
}

// AddReader makes name a reader of this database that sees divisions (nil or empty: every
// division). A new role is created NOLOGIN, or LOGIN with password when one is given; the
// password reaches PostgreSQL only as a SCRAM-SHA-256 verifier. A reader that exists
// already (here, or made by exactsync for another database of the server) is updated: its
// divisions are replaced, and its password when one is given. It makes the group role
// ReaderGroup first when missing, which needs CREATEROLE, as creating the reader does.
// created is false for an update.
func (s *Store) AddReader(ctx context.Context, name string, divisions []int, password string) (created bool, err error) {
	if err := CheckReaderName(name); err != nil {
		return false, err
	}
	var verifier string
	if password != "" {
		if verifier, err = scramVerifier(password); err != nil {
			return false, err
		}
	}
	divs, err := normalDivisions(divisions)
	if err != nil {
		return false, err
	}
	for attempt := 1; ; attempt++ {
		created, err = s.addReader(ctx, name, divs, verifier)
		var pgErr *pgconn.PgError
		if attempt < 3 && errors.As(err, &pgErr) && (pgErr.Code == "42710" || pgErr.Code == "23505") {
			continue // the role was created at the same moment for another database: update it
		}
		if err != nil {
			return false, fmt.Errorf("adding reader %s: %w", name, err)
		}
		return created, nil
	}
}

func (s *Store) addReader(ctx context.Context, name string, divs []int32, verifier string) (created bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.readersPrelude(ctx, tx, name); err != nil {
			return err
		}
		var exists, super, member, listed bool
		err := tx.QueryRow(ctx, `
			SELECT true, r.rolsuper OR r.rolbypassrls,
			       EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
			               WHERE m.member = r.oid AND g.rolname = $2),
			       EXISTS (SELECT 1 FROM exact_sync.readers x WHERE x.role_name = r.rolname)
			FROM pg_roles r WHERE r.rolname = $1`, name, ReaderGroup).Scan(&exists, &super, &member, &listed)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		role, group := pgx.Identifier{name}.Sanitize(), pgx.Identifier{ReaderGroup}.Sanitize()
		switch {
		case exists && super:
			return fmt.Errorf("%w: %s is a superuser or bypasses row-level security; choose another name", ErrRoleTaken, name)
		case exists && !member && !listed:
			return fmt.Errorf("%w: %s is a role of this server that exactsync did not make a reader; choose another name, or drop that role first", ErrRoleTaken, name)
		case exists:
			if verifier != "" {
				if _, err := tx.Exec(ctx, `ALTER ROLE `+role+` LOGIN PASSWORD `+quoteLiteral(verifier)); err != nil {
					return err
				}
			}
			if !member {
				if _, err := tx.Exec(ctx, `GRANT `+group+` TO `+role); err != nil {
					return err
				}
			}
		default:
			login := `NOLOGIN`
			if verifier != "" {
				login = `LOGIN PASSWORD ` + quoteLiteral(verifier)
			}
			if _, err := tx.Exec(ctx, `CREATE ROLE `+role+` `+login+` NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT IN ROLE `+group); err != nil {
				return err
			}
			created = true
		}
		_, err = tx.Exec(ctx, `
			INSERT INTO exact_sync.readers (role_name, divisions) VALUES ($1, $2)
			ON CONFLICT (role_name) DO UPDATE SET divisions = EXCLUDED.divisions, updated_at = now()`, name, divs)
		return err
	})
	return created, err
}

// readersPrelude takes the migration lock in tx, checks that name is not exactsync's own
// role, makes the group role when missing and gives it its grants.
func (s *Store) readersPrelude(ctx context.Context, tx pgx.Tx, name string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	var self string
	var canCreate bool
	if err := tx.QueryRow(ctx, `SELECT current_user, rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user`).Scan(&self, &canCreate); err != nil {
		return err
	}
	if name == self {
		return fmt.Errorf("%w: %s is exactsync's own role", ErrReaderName, name)
	}
	if !canCreate {
		return fmt.Errorf("%w: as a superuser, run ALTER ROLE %s CREATEROLE, then try again", ErrCannotCreateRoles, ident(self))
	}
	var ok bool
	if err := tx.QueryRow(ctx, `SELECT exact_sync.create_reader_group()`).Scan(&ok); err != nil {
		return fmt.Errorf("creating the group role %s: %w", ReaderGroup, err)
	}
	if !ok {
		return fmt.Errorf("%w: the group role %s is missing", ErrCannotCreateRoles, ReaderGroup)
	}
	if _, err := tx.Exec(ctx, `SELECT exact_sync.secure_readers()`); err != nil {
		return fmt.Errorf("granting the group role %s its access: %w", ReaderGroup, err)
	}
	return nil
}

// RemoveReader drops the reader name: its row in exact_sync.readers and its role, which
// is the server's (so a reader exactsync made for several databases of one server goes
// from all of them). Its open sessions lose access at once. A role already gone only
// loses its row; gone reports that.
func (s *Store) RemoveReader(ctx context.Context, name string) (gone bool, err error) {
	if err := CheckReaderName(name); err != nil {
		return false, err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockID); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM exact_sync.readers WHERE role_name = $1`, name)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: %s is not a reader of this database (exactsync readers list shows them)", ErrNotReader, name)
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, name).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			gone = true
			return nil
		}
		_, err = tx.Exec(ctx, `DROP ROLE `+pgx.Identifier{name}.Sanitize())
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "2BP01" { // dependent_objects_still_exist
			return fmt.Errorf("role %s still owns objects or holds privileges granted by hand (%s): in each database concerned run REASSIGN OWNED BY %[1]s TO <another role>; DROP OWNED BY %[1]s, then remove it again",
				name, oneLine(pgErr.Detail))
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("removing reader %s: %w", name, err)
	}
	return gone, nil
}

// Readers lists the readers of this database by name.
func (s *Store) Readers(ctx context.Context) ([]Reader, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT x.role_name, x.divisions, x.created_at, x.updated_at,
		       coalesce(r.rolcanlogin, false), r.oid IS NULL,
		       EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
		               WHERE m.member = r.oid AND g.rolname = $1)
		FROM exact_sync.readers x LEFT JOIN pg_roles r ON r.rolname = x.role_name
		ORDER BY x.role_name`, ReaderGroup)
	if err != nil {
		return nil, fmt.Errorf("listing readers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Reader, error) {
		var r Reader
		var divs []int32
		err := row.Scan(&r.Name, &divs, &r.CreatedAt, &r.UpdatedAt, &r.Login, &r.Missing, &r.Member)
		for _, d := range divs {
			r.Divisions = append(r.Divisions, int(d))
		}
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("listing readers: %w", err)
	}
	return out, nil
}

// Access is who may read what exactsync keeps in this database.
type Access struct {
	// Self is exactsync's role (the session's).
	Self string
	// SecretReaders are the roles other than exactsync's own (its session's role and the
	// roles it is a member of), superusers and PostgreSQL's predefined roles that can read
	// exact_sync.connections, which holds the tokens and client secrets; only "PUBLIC"
	// when every role can.
	SecretReaders []string
	// Superusers are the superusers other than Self, which can read everything.
	Superusers []string
	// GroupExists says whether the group role ReaderGroup exists; CanCreateRoles whether
	// exactsync's role may create it and the readers.
	GroupExists, CanCreateRoles bool
	// Unprotected are the tables of the schemas of records without row-level security or
	// without the division policy: readers limited to some divisions would see every
	// division there until the next migrate.
	Unprotected []string
}

// Access reads who may read exact_sync.connections, and whether the readers' protection
// is complete. It changes nothing.
func (s *Store) Access(ctx context.Context) (Access, error) {
	var a Access
	err := s.pool.QueryRow(ctx, `
		SELECT current_user,
		       CASE WHEN has_schema_privilege('public', 'exact_sync', 'USAGE')
		                 AND has_any_column_privilege('public', 'exact_sync.connections', 'SELECT')
		            THEN ARRAY['PUBLIC']
		            ELSE array(WITH RECURSIVE own(oid) AS (
		                  SELECT oid FROM pg_roles WHERE rolname = current_user
		                  UNION SELECT m.roleid FROM pg_auth_members m JOIN own ON m.member = own.oid)
		              SELECT r.rolname::text FROM pg_roles r
		              WHERE NOT r.rolsuper AND r.rolname !~ '^pg_' AND r.oid NOT IN (SELECT oid FROM own)
		                AND has_schema_privilege(r.oid, 'exact_sync', 'USAGE')
		                AND has_any_column_privilege(r.oid, 'exact_sync.connections', 'SELECT')
		              ORDER BY 1) END,
		       array(SELECT r.rolname::text FROM pg_roles r WHERE r.rolsuper AND r.rolname <> current_user ORDER BY 1),
		       EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1),
		       (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user),
		       array(SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		             WHERE n.nspname = ANY (exact_sync.reader_schemas()) AND c.relkind IN ('r', 'p')
		               AND (NOT c.relrowsecurity OR NOT EXISTS (
		                   SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'exactsync_divisions'))
		             ORDER BY 1)`, ReaderGroup).
		Scan(&a.Self, &a.SecretReaders, &a.Superusers, &a.GroupExists, &a.CanCreateRoles, &a.Unprotected)
	if err != nil {
		return Access{}, fmt.Errorf("reading who may read exact_sync.connections: %w", err)
	}
	return a, nil
}

// Seen is what a session sees of the database: the accounts of each division in
// exact.accounts, and whether it may read exact_sync.connections.
type Seen struct {
	Accounts       map[int]int
	SecretsVisible bool
}

// SeenBy connects to databaseURL (as a reader, say) and reads what that session sees,
// as an application logged in that way would.
func SeenBy(ctx context.Context, databaseURL string) (Seen, error) {
	seen := Seen{Accounts: map[int]int{}}
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		cfg, _ := pgx.ParseConfig(databaseURL)
		if cfg == nil {
			return seen, fmt.Errorf("connecting: %w", err)
		}
		return seen, connectError(hostPort(cfg.Config), cfg.Database, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT division, count(*) FROM exact.accounts GROUP BY division`)
	if err != nil {
		return seen, fmt.Errorf("reading exact.accounts: %w", err)
	}
	var d, n int
	if _, err := pgx.ForEachRow(rows, []any{&d, &n}, func() error { seen.Accounts[d] = n; return nil }); err != nil {
		return seen, fmt.Errorf("reading exact.accounts: %w", err)
	}
	_, err = conn.Exec(ctx, `SELECT 1 FROM exact_sync.connections LIMIT 1`)
	seen.SecretsVisible = err == nil
	return seen, nil
}

// normalDivisions sorts divisions and drops repeats; nil stays nil (every division).
func normalDivisions(divisions []int) ([]int32, error) {
	if len(divisions) == 0 {
		return nil, nil
	}
	out := make([]int32, 0, len(divisions))
	for _, d := range divisions {
		if d <= 0 || d > 1<<31-1 {
			return nil, fmt.Errorf("%d is not a division code", d)
		}
		out = append(out, int32(d))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// ident writes a role name as SQL needs it: bare when it can be, else quoted.
func ident(name string) string {
	if readerName.MatchString(name) {
		return name
	}
	return pgx.Identifier{name}.Sanitize()
}

// oneLine keeps a message on one line.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
