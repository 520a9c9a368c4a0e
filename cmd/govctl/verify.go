package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/license"
	"github.com/govcol/govcol/internal/store"
	"github.com/govcol/govcol/internal/store/storeconfig"
)

type verifyOptions struct {
	dsn, tenant, since, jwks, table, checkpoints string
	keys                                         []string
	asJSON                                       bool
	workers                                      int
	// The decision store to cross-check checkpoints against (the s3decision exporter's bucket or local_dir).
	storeBucket, storeLocalDir, storePrefix, storeRegion, storeEndpoint string
	storePathStyle                                                      bool
}

// errVerifyFailed makes the command exit non-zero after printing the report.
var errVerifyFailed = errors.New("the audit trail did not verify")

func newVerifyCommand() *cobra.Command {
	var o verifyOptions
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit trail in Postgres: hashes, chain links, gaps and signed checkpoints",
		Long: "Reads every hash chain (one per collector run and tenant) from Postgres and reports, per chain, the " +
			"records checked and every failure with its kind: modified, inserted, reordered, deleted (a gap, or " +
			"records a checkpoint signed are missing), bad_signature, uncovered_tail (records after the last signed " +
			"checkpoint). Exits 1 when anything fails. Checkpoint signatures are checked against the public keys " +
			"given (PEM files, or a JWKS), so rotated-out keys stay usable for verification. With --store-bucket or " +
			"--store-local-dir it also cross-checks the checkpoint objects the s3decision exporter shipped: every " +
			"chain with one must exist in Postgres and reach its last_seq with the same hash (a chain with none " +
			"there is a warning only: the store is fail-open).",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVerify(cmd.Context(), cmd.OutOrStdout(), o, time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dsn, "dsn", "", "Postgres DSN (default $GOVCOL_PG_DSN)")
	f.StringVar(&o.tenant, "tenant", "", "verify only this tenant's chains")
	f.StringVar(&o.since, "since", "", "verify from the first record received at or after this time (RFC 3339, or a duration such as 24h)")
	f.StringArrayVar(&o.keys, "key", nil, "checkpoint public key, PEM (repeatable)")
	f.StringVar(&o.jwks, "jwks", "", "checkpoint public keys as a JWKS file")
	f.StringVar(&o.table, "table", storeconfig.DefaultTable, "audit table")
	f.StringVar(&o.checkpoints, "checkpoints-table", storeconfig.DefaultCheckpointsTable, "checkpoints table")
	f.BoolVar(&o.asJSON, "json", false, "print the report as JSON")
	f.IntVar(&o.workers, "parallel", 0, "chains verified at once, one connection each (default 2 per CPU, at most 8)")
	f.StringVar(&o.storeBucket, "store-bucket", "", "cross-check against the checkpoint objects in this S3 bucket (the s3decision exporter's bucket)")
	f.StringVar(&o.storeLocalDir, "store-local-dir", "", "cross-check against the checkpoint objects in this directory (the s3decision exporter's local_dir)")
	f.StringVar(&o.storePrefix, "store-prefix", "", "the s3decision exporter's prefix")
	f.StringVar(&o.storeRegion, "store-region", "", "S3 region (default: the AWS configuration's)")
	f.StringVar(&o.storeEndpoint, "store-endpoint", "", "S3 endpoint URL (S3-compatible stores)")
	f.BoolVar(&o.storePathStyle, "store-s3-force-path-style", false, "path-style S3 addressing (S3-compatible stores)")
	return cmd
}

func runVerify(ctx context.Context, out io.Writer, o verifyOptions, now time.Time) error {
	if ctx == nil {
		ctx = context.Background()
	}
	dsn := storeconfig.DSN(o.dsn)
	if dsn == "" {
		return errors.New("--dsn or GOVCOL_PG_DSN is required")
	}
	if err := (storeconfig.Tables{Records: o.table, Checkpoints: o.checkpoints}).Validate(); err != nil {
		return err // the names go into SQL: only plain identifiers
	}
	if len(o.keys) == 0 && o.jwks == "" {
		return errors.New("give the checkpoint public keys with --key or --jwks")
	}
	keys, err := license.LoadKeySet(o.keys, o.jwks)
	if err != nil {
		return err
	}
	src := store.Source{Table: o.table, CheckpointsTable: o.checkpoints, Tenant: o.tenant}
	if o.since != "" {
		if d, err := time.ParseDuration(o.since); err == nil {
			src.Since = now.Add(-d)
		} else if src.Since, err = time.Parse(time.RFC3339Nano, o.since); err != nil {
			return fmt.Errorf("--since %q is neither RFC 3339 nor a duration", o.since)
		}
	}
	switch {
	case o.storeBucket != "" && o.storeLocalDir != "":
		return errors.New("--store-bucket and --store-local-dir are exclusive")
	case o.storeBucket != "":
		if src.Store, err = store.NewS3Store(ctx, store.S3StoreConfig{Bucket: o.storeBucket, Region: o.storeRegion,
			Endpoint: o.storeEndpoint, PathStyle: o.storePathStyle}); err != nil {
			return err
		}
	case o.storeLocalDir != "":
		if st, err := os.Stat(o.storeLocalDir); err != nil || !st.IsDir() {
			return fmt.Errorf("--store-local-dir %s is not a directory", o.storeLocalDir)
		}
		src.Store = integrity.DirStore{Dir: o.storeLocalDir}
	case o.storePrefix != "" || o.storeRegion != "" || o.storeEndpoint != "" || o.storePathStyle:
		return errors.New("the --store-* options need --store-bucket or --store-local-dir")
	}
	src.StorePrefix = o.storePrefix
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return errors.New("the DSN is not a valid Postgres connection string")
	}
	// One connection per chain read at once, and one for the small tables.
	src.Workers = o.workers
	if src.Workers <= 0 {
		src.Workers = store.DefaultWorkers()
	}
	pcfg.MaxConns = int32(src.Workers + 1)
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err == nil {
		err = pool.Ping(ctx)
	}
	if err != nil {
		return errors.New("cannot connect to Postgres with the given DSN")
	}
	defer pool.Close()
	// Verification streams (bounded memory) and allocates per record: trade a little memory for less GC.
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	start := time.Now()
	rep, err := store.VerifyPostgres(ctx, pool, src, keys)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if o.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		for _, c := range rep.Chains {
			status := "OK"
			if !c.OK() {
				f := c.Failures[0]
				status = fmt.Sprintf("FAILED: %s at seq %d: %s", f.Kind, f.Seq, f.Detail)
				if len(c.Failures) > 1 {
					status += fmt.Sprintf(" (+%d more)", len(c.Failures)-1)
				}
			}
			if c.FailuresOmitted > 0 {
				status += fmt.Sprintf(" (+%d more not listed)", c.FailuresOmitted)
			}
			notes := ""
			if c.Withdrawn > 0 {
				notes += fmt.Sprintf(" (%d withdrawn: refused downstream, never stored)", c.Withdrawn)
			}
			if c.Sealed {
				notes += " (sealed after a crash by a later run)"
			}
			if len(c.Lost) > 0 {
				notes += fmt.Sprintf(" (lost in the crash, never stored: %s)", c.Lost)
			}
			if c.Retained > 0 {
				notes += fmt.Sprintf(" (%d removed by retention, signed markers)", c.Retained)
			}
			if c.ChainID == "" {
				fmt.Fprintf(out, "unchained records (tenant %s): %d records: %s\n", c.TenantID, c.Records, status)
				continue
			}
			fmt.Fprintf(out, "chain %s (tenant %s): %d records, seq %d..%d, signed to %d by %d checkpoints%s: %s\n",
				c.ChainID, c.TenantID, c.Records, c.FirstSeq, c.LastSeq, c.CoveredTo, c.Checkpoints, notes, status)
			for _, w := range c.Warnings {
				fmt.Fprintf(out, "  warning: %s\n", w)
			}
		}
		fmt.Fprintf(out, "%d chains, %d records checked in %s (%d chains registered)\n", len(rep.Chains), rep.Records(),
			elapsed.Round(time.Millisecond), rep.Registered)
	}
	if !rep.OK() {
		return errVerifyFailed
	}
	return nil
}
