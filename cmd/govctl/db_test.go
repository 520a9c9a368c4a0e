package main

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/govcol/govcol/internal/pgtest"
)

var exportLine = regexp.MustCompile(`(?m)^export (GOVCOL_PG_[A-Z_]*DSN)='([^']*)'`)

func exportsOf(out string) map[string]string {
	m := map[string]string{}
	for _, g := range exportLine.FindAllStringSubmatch(out, -1) {
		m[g[1]] = g[2]
	}
	return m
}

// `govctl db init` creates the roles, migrates as the owner and prints the writer's DSN as GOVCOL_PG_DSN; the
// collector's DSN cannot delete (issue 17 finding 1); a second run is idempotent and keeps the passwords.
func TestDBInitRolesAndDSNs(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	ctx := context.Background()
	prefix := fmt.Sprintf("dbinit%d", time.Now().UnixNano()%1_000_000_000) // roles are cluster-wide
	run := func(args ...string) string {
		var out bytes.Buffer
		root := newRootCommand()
		root.SetOut(&out)
		root.SetArgs(append([]string{"db", "init", "--dsn", dsn, "--role-prefix", prefix, "--retention", "claude_code_api_=30", "--retention", "*=365"}, args...))
		require.NoError(t, root.ExecuteContext(ctx))
		return out.String()
	}
	out := run()
	env := exportsOf(out)
	require.Contains(t, env, "GOVCOL_PG_DSN", out)
	require.Contains(t, env, "GOVCOL_PG_READER_DSN")
	require.Contains(t, env, "GOVCOL_PG_OWNER_DSN")
	assert.Equal(t, prefix+"_writer", userOf(t, env["GOVCOL_PG_DSN"]))
	assert.Equal(t, prefix+"_reader", userOf(t, env["GOVCOL_PG_READER_DSN"]))
	assert.NotEmpty(t, passwordOf(t, env["GOVCOL_PG_DSN"]))

	w, err := pgx.Connect(ctx, env["GOVCOL_PG_DSN"])
	require.NoError(t, err)
	defer w.Close(ctx)
	var user string
	var days int
	require.NoError(t, w.QueryRow(ctx, "SELECT current_user::text, (SELECT days FROM audit_logs_retention_policy WHERE category = 'claude_code_api_')").Scan(&user, &days))
	assert.Equal(t, prefix+"_writer", user)
	assert.Equal(t, 30, days)
	_, err = w.Exec(ctx, "BEGIN; SET LOCAL govcol.retention = 'on'; DELETE FROM audit_logs WHERE chain_seq <= 10; COMMIT")
	require.Error(t, err)
	_, _ = w.Exec(ctx, "ROLLBACK")
	_, err = w.Exec(ctx, "BEGIN; SET LOCAL govcol.retention = 'on'; DELETE FROM audit_checkpoints; COMMIT")
	require.Error(t, err)
	_, _ = w.Exec(ctx, "ROLLBACK")

	// The server never saw a password: the role stores a SCRAM verifier.
	admin, err := pgx.Connect(ctx, dsn)
	require.NoError(t, err)
	defer admin.Close(ctx)
	var verifier string
	require.NoError(t, admin.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", prefix+"_writer").Scan(&verifier))
	assert.True(t, strings.HasPrefix(verifier, "SCRAM-SHA-256$4096:"), verifier)

	// Again: idempotent, passwords kept (the DSNs carry none), policy updated.
	out2 := run("--retention", "sdk_=90")
	assert.Contains(t, out2, "passwords unchanged")
	assert.Empty(t, passwordOf(t, exportsOf(out2)["GOVCOL_PG_DSN"]))
	assert.NotContains(t, out2, passwordOf(t, env["GOVCOL_PG_DSN"]))
	var verifier2 string
	require.NoError(t, admin.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", prefix+"_writer").Scan(&verifier2))
	assert.Equal(t, verifier, verifier2)

	// --env-file: the passwords go to a 0600 file, the terminal gets the DSNs without them.
	envFile := filepath.Join(t.TempDir(), "db.env")
	out3 := run("--rotate-passwords", "--env-file", envFile)
	st, err := os.Stat(envFile)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	b, err := os.ReadFile(envFile)
	require.NoError(t, err)
	fileEnv := exportsOf(string(b))
	pw := passwordOf(t, fileEnv["GOVCOL_PG_DSN"])
	require.NotEmpty(t, pw)
	assert.NotEqual(t, passwordOf(t, env["GOVCOL_PG_DSN"]), pw, "rotated")
	assert.Equal(t, prefix+"_writer", userOf(t, exportsOf(out3)["GOVCOL_PG_DSN"]))
	assert.Empty(t, passwordOf(t, exportsOf(out3)["GOVCOL_PG_DSN"]))
	assert.NotContains(t, out3, pw)
}

// The quick start's `govctl dev postgres` prints the writer role's DSN as GOVCOL_PG_DSN.
func TestDevPostgresPrintsWriterDSN(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pg")
	var out bytes.Buffer
	require.NoError(t, devPostgres(context.Background(), &out, dir, 0, false))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = devPostgres(ctx, &bytes.Buffer{}, dir, 0, true)
	})
	env := exportsOf(out.String())
	require.Contains(t, env, "GOVCOL_PG_DSN", out.String())
	ctx := context.Background()
	c, err := pgx.Connect(ctx, env["GOVCOL_PG_DSN"])
	require.NoError(t, err)
	defer c.Close(ctx)
	var user string
	var owns bool
	require.NoError(t, c.QueryRow(ctx, "SELECT current_user::text, pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'audit_logs'::regclass), 'USAGE')").Scan(&user, &owns))
	assert.Equal(t, "govcol_writer", user)
	assert.False(t, owns, "the quick start's collector does not own the schema")
	_, err = c.Exec(ctx, "BEGIN; SET LOCAL govcol.retention = 'on'; DELETE FROM audit_logs; COMMIT")
	require.Error(t, err)
	// Running it again (the next `make run`) is idempotent.
	var again bytes.Buffer
	require.NoError(t, devPostgres(context.Background(), &again, dir, 0, false))
	assert.Equal(t, env["GOVCOL_PG_DSN"], exportsOf(again.String())["GOVCOL_PG_DSN"])
}

func userOf(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	return u.User.Username()
}

func passwordOf(t *testing.T, dsn string) string {
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	pw, _ := u.User.Password()
	return pw
}
