package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/govcol/govcol/internal/store"
	"github.com/govcol/govcol/internal/store/storeconfig"
)

// newDBCommand is `govctl db`: the audit database's roles.
func newDBCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Audit database administration (roles, migrations, retention policy)"}
	cmd.AddCommand(newDBInitCommand())
	return cmd
}

type dbInitFlags struct {
	dsn, table, checkpoints, prefix, envFile string
	retention                                []string
	rotate, adopt                            bool
}

func newDBInitCommand() *cobra.Command {
	var f dbInitFlags
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the owner, writer, reader and maintenance roles, migrate as the owner, grant, set the retention policy",
		Long: "Connects with --dsn (a superuser's, or a role with CREATEROLE) and sets up the audit database's role split " +
			"(exporter/postgresauditexporter/README.md, Roles and privileges): <prefix>_owner owns the schema and runs " +
			"the migrations; <prefix>_writer is the collector's (SELECT and INSERT only); <prefix>_reader is the audit " +
			"API's and govctl verify's (SELECT only); <prefix>_maintenance (NOLOGIN) owns the SECURITY DEFINER " +
			"retention functions, the only way records are deleted, within the policy --retention sets. New login roles " +
			"get random passwords (the server receives only SCRAM verifiers). It prints the three DSNs as export lines " +
			"(GOVCOL_PG_DSN is the writer's), or with --env-file writes them to that file (mode 0600) and prints them " +
			"without passwords. Idempotent: run it again after an upgrade, to change the policy, or with " +
			"--rotate-passwords.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return dbInit(cmd.Context(), cmd.OutOrStdout(), f)
		},
	}
	cmd.Flags().StringVar(&f.dsn, "dsn", "", "superuser (or CREATEROLE) DSN of the audit database (required)")
	cmd.Flags().StringVar(&f.table, "table", storeconfig.DefaultTable, "the exporter's table")
	cmd.Flags().StringVar(&f.checkpoints, "checkpoints-table", storeconfig.DefaultCheckpointsTable, "the exporter's checkpoints_table")
	cmd.Flags().StringVar(&f.prefix, "role-prefix", "govcol", "roles are <prefix>_owner, _writer, _reader, _maintenance")
	cmd.Flags().StringArrayVar(&f.retention, "retention", nil,
		"retention policy, repeatable: <request_type prefix>=<days> (\"=365\" or \"*=365\" for every request type); "+
			"the exporter's retention.categories must not be shorter")
	cmd.Flags().BoolVar(&f.rotate, "rotate-passwords", false, "set new passwords on login roles that exist already")
	cmd.Flags().BoolVar(&f.adopt, "adopt", false, "hand an audit schema another role created (single-role setup) to the owner role")
	cmd.Flags().StringVar(&f.envFile, "env-file", "", "write the export lines (with passwords) to this file, mode 0600")
	_ = cmd.MarkFlagRequired("dsn")
	return cmd
}

// dbParseRetention reads "<prefix>=<days>" flags.
func dbParseRetention(specs []string) ([]store.RetentionCategory, error) {
	var out []store.RetentionCategory
	seen := map[string]bool{}
	for _, s := range specs {
		prefix, days, ok := strings.Cut(s, "=")
		n, err := strconv.Atoi(days)
		if !ok || err != nil || n < 1 {
			return nil, fmt.Errorf("--retention %q: want <request_type prefix>=<days>, days at least 1", s)
		}
		if prefix == "*" {
			prefix = ""
		}
		if seen[prefix] {
			return nil, fmt.Errorf("--retention: category %q given twice", prefix)
		}
		seen[prefix] = true
		out = append(out, store.RetentionCategory{RequestTypePrefix: prefix, Days: n})
	}
	return out, nil
}

func dbInit(ctx context.Context, stdout io.Writer, f dbInitFlags) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if f.dsn == "" {
		return errors.New("--dsn is required")
	}
	ret, err := dbParseRetention(f.retention)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	res, err := store.InitDatabase(ctx, f.dsn, store.DBInitOptions{
		Table: f.table, CheckpointsTable: f.checkpoints, RolePrefix: f.prefix, Retention: ret,
		RotatePasswords: f.rotate, Adopt: f.adopt,
	})
	if err != nil {
		return err
	}
	lines := dbEnvLines(res)
	if f.envFile != "" {
		if err := dbWriteEnvFile(f.envFile, []byte(lines)); err != nil {
			return err
		}
		// Without passwords on the terminal.
		safe := *res
		safe.OwnerDSN, safe.WriterDSN, safe.ReaderDSN = dbStripPassword(res.OwnerDSN), dbStripPassword(res.WriterDSN), dbStripPassword(res.ReaderDSN)
		lines = dbEnvLines(&safe)
	}
	fmt.Fprintf(stdout, "# govcol audit database: schema version %d; roles %s (owner), %s (writer), %s (reader), %s (maintenance)\n",
		res.SchemaVersion, res.Roles.Owner, res.Roles.Writer, res.Roles.Reader, res.Roles.Maintenance)
	if res.Adopted != "" {
		fmt.Fprintf(stdout, "# the audit schema was owned by %s and now belongs to %s\n", res.Adopted, res.Roles.Owner)
	}
	if len(res.PasswordsSet) == 0 {
		fmt.Fprintln(stdout, "# passwords unchanged (roles existed): the DSNs below carry none; use --rotate-passwords for new ones")
	}
	if f.envFile != "" {
		fmt.Fprintf(stdout, "# DSNs with passwords written to %s (mode 0600)\n", f.envFile)
	}
	_, err = io.WriteString(stdout, lines)
	return err
}

func dbEnvLines(res *store.DBInitResult) string {
	return "export GOVCOL_PG_DSN=" + shellQuote(res.WriterDSN) + " # the collector (writer: SELECT, INSERT)\n" +
		"export GOVCOL_PG_READER_DSN=" + shellQuote(res.ReaderDSN) + " # the audit API and govctl verify (SELECT)\n" +
		"export GOVCOL_PG_OWNER_DSN=" + shellQuote(res.OwnerDSN) + " # migrations and policy only; never on a collector\n"
}

// dbStripPassword removes the password from a DSN (URL or key=value).
func dbStripPassword(dsn string) string {
	if i := strings.Index(dsn, "://"); i >= 0 {
		if at := strings.Index(dsn[i+3:], "@"); at >= 0 {
			userinfo := dsn[i+3 : i+3+at]
			if u, _, ok := strings.Cut(userinfo, ":"); ok {
				return dsn[:i+3] + u + dsn[i+3+at:]
			}
		}
		return dsn
	}
	var kept []string
	for _, f := range strings.Fields(dsn) {
		if !strings.HasPrefix(f, "password=") {
			kept = append(kept, f)
		}
	}
	return strings.Join(kept, " ")
}

// dbWriteEnvFile writes b to path through a temporary file created 0600 and renamed into place.
func dbWriteEnvFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(dbDirOf(path), ".govctl-env-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func dbDirOf(path string) string {
	if i := strings.LastIndex(path, "/"); i >= 0 {
		return path[:i+1]
	}
	return "."
}
