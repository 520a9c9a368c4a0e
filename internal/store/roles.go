package store

import (
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/govcol/govcol/internal/store/storeconfig"
)

// DBInitOptions configures InitDatabase (`govctl db init`).
type DBInitOptions struct {
	// Table and CheckpointsTable as in the exporter's configuration ("" = the defaults, audit_logs and
	// audit_checkpoints).
	Table, CheckpointsTable string
	// RolePrefix names the roles <prefix>_owner, <prefix>_writer, <prefix>_reader and <prefix>_maintenance
	// ("" = "govcol").
	RolePrefix string
	// Retention is written into the policy table (replacing the days of a category already there).
	Retention []RetentionCategory
	// RotatePasswords sets new passwords on login roles that exist already (new roles always get one).
	RotatePasswords bool
	// NoPasswords creates the login roles without passwords (a trust-authenticated local cluster: the quick start).
	NoPasswords bool
	// Adopt hands an existing audit schema owned by another role (a single-role setup, where the collector created
	// it) to the owner role: the tables, partitions, their sequences and the functions named after the table.
	Adopt bool
	// PartitionMonthsAhead as in the exporter's configuration (0 = the default, 3).
	PartitionMonthsAhead int
}

// DBRoles are the role names.
type DBRoles struct {
	Owner, Writer, Reader, Maintenance string
}

// DBInitResult is what InitDatabase set up. DSNs carry a password only for roles whose password it set.
type DBInitResult struct {
	Roles                          DBRoles
	OwnerDSN, WriterDSN, ReaderDSN string
	Created                        []string // roles created by this run
	PasswordsSet                   []string // roles whose password this run set
	SchemaVersion                  int
	Adopted                        string // the previous owner, when Adopt moved the schema
	RetentionFunctionOwner         string
}

// RoleNames returns the role names for prefix.
func RoleNames(prefix string) DBRoles {
	if prefix == "" {
		prefix = "govcol"
	}
	return DBRoles{Owner: prefix + "_owner", Writer: prefix + "_writer", Reader: prefix + "_reader", Maintenance: prefix + "_maintenance"}
}

var rolePrefixPattern = storeconfig.TablePattern

// InitDatabase sets up the role split on the database dsn points to (README, Roles and privileges). dsn must be a
// superuser's (or a role with CREATEROLE that may create in the public schema and grant on the audit objects). It is
// idempotent: run it again after an upgrade or to rotate passwords.
//
//   - owner (LOGIN): owns the tables and runs the migrations; for DBAs and upgrades, never the collector.
//   - writer (LOGIN): the collector. SELECT and INSERT on the records, re-deliveries and checkpoints; SELECT on the
//     retention markers, policy and schema version; EXECUTE on the partition, retention and signing functions.
//     No UPDATE, DELETE or TRUNCATE, and not the owner (it cannot drop or disable the triggers).
//   - reader (LOGIN): the audit API and `govctl verify`. SELECT only.
//   - maintenance (NOLOGIN): owns the SECURITY DEFINER retention functions and holds the only DELETE; no session can
//     become it, so those functions are the only way to delete.
func InitDatabase(ctx context.Context, dsn string, opts DBInitOptions) (*DBInitResult, error) {
	if opts.Table == "" {
		opts.Table = storeconfig.DefaultTable
	}
	if opts.CheckpointsTable == "" {
		opts.CheckpointsTable = storeconfig.DefaultCheckpointsTable
	}
	if opts.PartitionMonthsAhead == 0 {
		opts.PartitionMonthsAhead = 3
	}
	if opts.RolePrefix == "" {
		opts.RolePrefix = "govcol"
	}
	if err := (storeconfig.Tables{Records: opts.Table, Checkpoints: opts.CheckpointsTable}).Validate(); err != nil {
		return nil, err
	}
	if !rolePrefixPattern.MatchString(opts.RolePrefix) {
		return nil, fmt.Errorf("role prefix must match %s", rolePrefixPattern)
	}
	for _, c := range opts.Retention {
		if c.Days < 1 {
			return nil, fmt.Errorf("retention category %q: days must be at least 1", c.RequestTypePrefix)
		}
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connecting: %s", SafeError(err))
	}
	defer conn.Close(context.Background())
	roles := RoleNames(opts.RolePrefix)
	res := &DBInitResult{Roles: roles}
	id := func(s string) string { return pgx.Identifier{s}.Sanitize() }
	exec := func(sql string, args ...any) error {
		if _, err := conn.Exec(ctx, sql, args...); err != nil {
			label := sql
			if i := strings.Index(label, " PASSWORD "); i >= 0 {
				label = label[:i] + " PASSWORD ..." // never the verifier
			}
			if len(label) > 100 {
				label = label[:100] + "..."
			}
			return fmt.Errorf("%s: %s", label, SafeError(err))
		}
		return nil
	}

	var super, createRole bool
	if err := conn.QueryRow(ctx, "SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user").Scan(&super, &createRole); err != nil {
		return nil, err
	}
	if !super && !createRole {
		return nil, errors.New("the DSN's role may not create roles: use a superuser's DSN (or a role with CREATEROLE)")
	}

	// 1. Roles.
	passwords := map[string]string{}
	for _, r := range []struct {
		name  string
		login bool
	}{{roles.Owner, true}, {roles.Writer, true}, {roles.Reader, true}, {roles.Maintenance, false}} {
		var exists, isSuper bool
		if err := conn.QueryRow(ctx, "SELECT count(*) > 0, coalesce(bool_or(rolsuper), false) FROM pg_roles WHERE rolname = $1", r.name).Scan(&exists, &isSuper); err != nil {
			return nil, err
		}
		if isSuper {
			return nil, fmt.Errorf("role %s exists and is a superuser: it cannot be one of the audit roles", r.name)
		}
		attrs := "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT"
		if r.login {
			attrs += " LOGIN"
		} else {
			attrs += " NOLOGIN"
		}
		if !exists {
			if err := exec("CREATE ROLE " + id(r.name) + " " + attrs); err != nil {
				return nil, err
			}
			res.Created = append(res.Created, r.name)
		} else if err := exec("ALTER ROLE " + id(r.name) + " " + attrs); err != nil {
			return nil, err
		}
		if r.login && !opts.NoPasswords && (!exists || opts.RotatePasswords) {
			pw, verifier, err := newPassword()
			if err != nil {
				return nil, err
			}
			// The server receives only a SCRAM-SHA-256 verifier, never the password (statement logs stay clean).
			if err := exec("ALTER ROLE " + id(r.name) + " PASSWORD '" + verifier + "'"); err != nil {
				return nil, err
			}
			passwords[r.name] = pw
			res.PasswordsSet = append(res.PasswordsSet, r.name)
		}
	}
	// No audit role may be a member of another (the writer must never act as the owner or the maintenance role).
	var memberships int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member
		JOIN pg_roles g ON g.oid = m.roleid WHERE r.rolname = ANY($1) AND g.rolname = ANY($1)`,
		[]string{roles.Owner, roles.Writer, roles.Reader, roles.Maintenance}).Scan(&memberships); err != nil {
		return nil, err
	}
	if memberships > 0 {
		return nil, errors.New("an audit role is a member of another audit role: revoke those memberships first")
	}

	// 2. The schema: the owner creates in the current schema; the others only use it.
	var schema, dbName string
	if err := conn.QueryRow(ctx, "SELECT current_schema(), current_database()").Scan(&schema, &dbName); err != nil {
		return nil, err
	}
	if err := exec("GRANT USAGE, CREATE ON SCHEMA " + id(schema) + " TO " + id(roles.Owner)); err != nil {
		return nil, err
	}
	if err := exec("GRANT USAGE ON SCHEMA " + id(schema) + " TO " + id(roles.Writer) + ", " + id(roles.Reader) + ", " + id(roles.Maintenance)); err != nil {
		return nil, err
	}
	if err := exec("GRANT CONNECT, TEMPORARY ON DATABASE " + id(dbName) + " TO " + id(roles.Writer)); err != nil {
		return nil, err
	}
	if err := exec("GRANT CONNECT ON DATABASE " + id(dbName) + " TO " + id(roles.Owner) + ", " + id(roles.Reader)); err != nil {
		return nil, err
	}
	t, cp := opts.Table, opts.CheckpointsTable
	tables := storeconfig.Tables{Records: t, Checkpoints: cp}
	var tableOwner *string
	if err := conn.QueryRow(ctx, "SELECT pg_get_userbyid(relowner)::text FROM pg_class WHERE oid = to_regclass($1)", id(t)).Scan(&tableOwner); err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err
	}
	if tableOwner != nil && *tableOwner != roles.Owner && opts.Adopt {
		if err := adopt(ctx, conn, t, cp, roles.Owner); err != nil {
			return nil, err
		}
		res.Adopted = *tableOwner
	} else if tableOwner != nil && *tableOwner != roles.Owner {
		return nil, fmt.Errorf("%s exists and is owned by %s (a single-role setup): make %s its owner first, e.g. "+
			"`REASSIGN OWNED BY %s TO %s` in this database (all of that role's objects here), or run this again with "+
			"--adopt (hands the audit tables, partitions and functions to the owner)",
			t, *tableOwner, roles.Owner, id(*tableOwner), id(roles.Owner))
	}

	// 3. Migrations, partitions and the policy, as the owner.
	if err := exec("SET ROLE " + id(roles.Owner)); err != nil {
		return nil, err
	}
	if err := Migrate(ctx, conn, tables); err != nil {
		_, _ = conn.Exec(ctx, "RESET ROLE")
		return nil, err
	}
	if err := EnsurePartitions(ctx, conn, tables, time.Now(), opts.PartitionMonthsAhead); err != nil {
		_, _ = conn.Exec(ctx, "RESET ROLE")
		return nil, fmt.Errorf("creating partitions: %s", SafeError(err))
	}
	if err := SyncRetentionPolicy(ctx, conn, tables, opts.Retention); err != nil {
		_, _ = conn.Exec(ctx, "RESET ROLE")
		return nil, fmt.Errorf("retention policy: %s", SafeError(err))
	}
	if err := exec("RESET ROLE"); err != nil {
		return nil, err
	}
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM "+id(tables.SchemaVersion())).Scan(&res.SchemaVersion); err != nil {
		return nil, err
	}

	// 4. Retention belongs to the maintenance role; grants.
	del := id(tables.Function("retention_delete")) + "(text, timestamptz, int)"
	sign := id(tables.Function("retention_sign")) + "(bigint, text, text)"
	parts := id(tables.Function("ensure_partitions")) + "(date, int)"
	markers, policy, redeliveries := id(tables.RetentionMarkers()), id(tables.RetentionPolicy()), id(tables.Redeliveries())
	records, checkpoints, version := id(t), id(cp), id(tables.SchemaVersion())
	w, r, m := id(roles.Writer), id(roles.Reader), id(roles.Maintenance)
	for _, sql := range []string{
		"ALTER FUNCTION " + del + " OWNER TO " + m,
		"ALTER FUNCTION " + sign + " OWNER TO " + m,
		// Whatever an earlier setup granted, the writer and reader hold only what is granted below.
		"REVOKE ALL ON " + strings.Join([]string{records, redeliveries, checkpoints, markers, policy, version}, ", ") + " FROM " + w + ", " + r + ", " + m,
		"REVOKE ALL ON FUNCTION " + del + ", " + sign + ", " + parts + " FROM PUBLIC, " + r,
		"GRANT SELECT, INSERT ON " + records + ", " + redeliveries + ", " + checkpoints + " TO " + w,
		"GRANT SELECT ON " + markers + ", " + policy + ", " + version + " TO " + w,
		"GRANT EXECUTE ON FUNCTION " + del + ", " + sign + ", " + parts + " TO " + w,
		"GRANT SELECT ON " + strings.Join([]string{records, redeliveries, checkpoints, markers, policy, version}, ", ") + " TO " + r,
		"GRANT SELECT ON " + policy + " TO " + m,
		"GRANT SELECT, DELETE ON " + records + ", " + redeliveries + " TO " + m,
		"GRANT SELECT, INSERT ON " + markers + " TO " + m,
		"GRANT UPDATE (key_id, signature) ON " + markers + " TO " + m,
	} {
		if err := exec(sql); err != nil {
			return nil, err
		}
	}
	// The chain registry (a later migration) when present: the collector registers chains, readers verify them.
	var chains *string
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1)::text", id(tables.Chains())).Scan(&chains); err != nil {
		return nil, err
	}
	if chains != nil {
		for _, sql := range []string{
			"REVOKE ALL ON " + id(tables.Chains()) + " FROM " + w + ", " + r + ", " + m,
			"GRANT SELECT, INSERT ON " + id(tables.Chains()) + " TO " + w,
			"GRANT SELECT ON " + id(tables.Chains()) + " TO " + r,
		} {
			if err := exec(sql); err != nil {
				return nil, err
			}
		}
	}
	res.RetentionFunctionOwner = roles.Maintenance

	// 5. DSNs, from the given one with the role (and its password when set here) in place of the user.
	var err2 error
	if res.OwnerDSN, err2 = roleDSN(dsn, roles.Owner, passwords[roles.Owner]); err2 != nil {
		return nil, err2
	}
	res.WriterDSN, _ = roleDSN(dsn, roles.Writer, passwords[roles.Writer])
	res.ReaderDSN, _ = roleDSN(dsn, roles.Reader, passwords[roles.Reader])
	return res, nil
}

// roleDSN is dsn (a postgres:// URL or a libpq key=value string) with user and password replaced.
func roleDSN(dsn, user, password string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", errors.New("the DSN is not a valid URL")
		}
		if password != "" {
			u.User = url.UserPassword(user, password)
		} else {
			u.User = url.User(user)
		}
		return u.String(), nil
	}
	var kept []string
	for _, f := range strings.Fields(dsn) {
		if k, _, _ := strings.Cut(f, "="); k != "user" && k != "password" {
			kept = append(kept, f)
		}
	}
	kept = append(kept, "user="+user)
	if password != "" {
		kept = append(kept, "password="+password)
	}
	return strings.Join(kept, " "), nil
}

// newPassword returns a random password and its SCRAM-SHA-256 verifier (RFC 5802/7677, as Postgres stores it).
func newPassword() (password, verifier string, err error) {
	b := make([]byte, 24)
	salt := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	if _, err := rand.Read(salt); err != nil {
		return "", "", err
	}
	password = base64.RawURLEncoding.EncodeToString(b)
	const iterations = 4096
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return "", "", err
	}
	mac := func(key []byte, msg string) []byte {
		h := hmac.New(sha256.New, key)
		h.Write([]byte(msg))
		return h.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	serverKey := mac(salted, "Server Key")
	enc := base64.StdEncoding.EncodeToString
	return password, fmt.Sprintf("SCRAM-SHA-256$%d:%s$%s:%s", iterations, enc(salt), enc(stored[:]), enc(serverKey)), nil
}

// adopt makes owner the owner of every audit object: the tables named table, table_*, checkpoints (partitions,
// re-deliveries, markers, policy, version, chain registry) and the functions named table_*.
func adopt(ctx context.Context, conn *pgx.Conn, table, checkpoints, owner string) error {
	rows, err := conn.Query(ctx, `SELECT format('ALTER %s %I.%I OWNER TO %I',
			CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, n.nspname, c.relname, $3::text)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'S')
		  AND (c.relname = $1 OR starts_with(c.relname, $1 || '_') OR c.relname = $2)
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND c.relkind = 'S')
		UNION ALL
		SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure, $3::text)
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = current_schema() AND starts_with(p.proname, $1 || '_')`, table, checkpoints, owner)
	if err != nil {
		return err
	}
	stmts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, sql := range stmts {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("adopting the audit schema: %s", SafeError(err))
		}
	}
	return nil
}
