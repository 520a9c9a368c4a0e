package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/govcol/govcol/internal/pgcluster"
	"github.com/govcol/govcol/internal/store"
)

// newDevPostgresCommand starts (creating on first use) the quick start's throwaway Postgres cluster, sets up the
// same role split as `govctl db init` (owner, writer, reader, maintenance), and prints the writer's DSN as an export
// line, so that `eval "$(govctl dev postgres)"` points govcol at it as the writer role.
func newDevPostgresCommand() *cobra.Command {
	var dir string
	var port int
	var stop bool
	cmd := &cobra.Command{
		Use:   "postgres",
		Short: "Start the local throwaway Postgres cluster (created on first use) and print `export GOVCOL_PG_DSN=...` (the writer role's)",
		Long: "Creates a PostgreSQL cluster in <dir> with the server binaries on this machine (initdb, pg_ctl; as the " +
			"postgres user when run as root) listening on 127.0.0.1 with trust authentication, starts it when it is " +
			"not running, sets up the roles as `govctl db init` does (without passwords: the cluster trusts local " +
			"connections), and prints `export GOVCOL_PG_DSN=<writer dsn>` and `export GOVCOL_PG_READER_DSN=<reader dsn>`. " +
			"It is for local development only. --stop stops it.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return devPostgres(cmd.Context(), cmd.OutOrStdout(), dir, port, stop)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".govcol/pg", "cluster directory")
	cmd.Flags().IntVar(&port, "port", 0, "port on 127.0.0.1 (default: the one chosen at creation, else a free one)")
	cmd.Flags().BoolVar(&stop, "stop", false, "stop the cluster instead of starting it")
	return cmd
}

func devPostgres(ctx context.Context, stdout io.Writer, dir string, port int, stop bool) error {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c, err := pgcluster.Open(dir, port)
	if err != nil {
		return err
	}
	if stop {
		return c.Stop(ctx, "fast")
	}
	if err := c.Start(ctx); err != nil {
		return err
	}
	// The collector connects as the writer, as in production; a schema an earlier quick start created as the
	// superuser is handed to the owner role.
	res, err := store.InitDatabase(ctx, c.DSN("postgres"), store.DBInitOptions{NoPasswords: true, Adopt: true})
	if err != nil {
		return fmt.Errorf("setting up the audit roles: %w", err)
	}
	_, err = fmt.Fprintf(stdout, "# owner (migrations, retention policy): %s\nexport GOVCOL_PG_DSN=%s\nexport GOVCOL_PG_READER_DSN=%s\n",
		res.OwnerDSN, shellQuote(res.WriterDSN), shellQuote(res.ReaderDSN))
	return err
}
