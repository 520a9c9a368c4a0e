package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/govcol/govcol/internal/pgcluster"
)

// newDevPostgresCommand starts (creating on first use) the quick start's throwaway Postgres cluster and prints its
// DSN as an export line, so that `eval "$(govctl dev postgres)"` points govcol at it.
func newDevPostgresCommand() *cobra.Command {
	var dir string
	var port int
	var stop bool
	cmd := &cobra.Command{
		Use:   "postgres",
		Short: "Start the local throwaway Postgres cluster (created on first use) and print `export GOVCOL_PG_DSN=...`",
		Long: "Creates a PostgreSQL cluster in <dir> with the server binaries on this machine (initdb, pg_ctl; as the " +
			"postgres user when run as root) listening on 127.0.0.1 with trust authentication, starts it when it is " +
			"not running, and prints `export GOVCOL_PG_DSN=<dsn>`. It is for local development only. --stop stops it.",
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
	_, err = fmt.Fprintf(stdout, "export GOVCOL_PG_DSN=%s\n", shellQuote(c.DSN("postgres")))
	return err
}
