package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/govcol/govcol/exporter/s3decisionexporter"
	"github.com/govcol/govcol/internal/store/storeconfig"
)

type decisionsOptions struct {
	dsn, bucket, localDir, prefix, region, endpoint, sse, sseKey, lockMode, layout, selection, since, until string
	pathStyle, asJSON                                                                                       bool
	lockDays, maxRecords, concurrency                                                                       int
	settle, putTimeout                                                                                      time.Duration
}

func newDecisionsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "decisions",
		Short: "Operate the decision store (the s3decision exporter's bucket or directory)",
	}
	cmd.AddCommand(newDecisionsBackfillCommand())
	return cmd
}

func newDecisionsBackfillCommand() *cobra.Command {
	def := s3decisionexporter.NewFactory().CreateDefaultConfig().(*s3decisionexporter.Config)
	var o decisionsOptions
	cmd := &cobra.Command{
		Use:   "backfill --since T --until T (--bucket B | --local-dir D)",
		Short: "Ship the selected decisions stored in Postgres that the decision store lacks, for an event-time range",
		Long: "Reads audit_logs (read-only; the reader role is enough) for records whose event time is in [since, until), " +
			"evaluates the exporter's selection on each, lists what the store holds and puts the selected decisions " +
			"it lacks, exactly as the collector's reconciler does (same keys in the per_decision layout; objects named " +
			"after their first decision id in the batched layout). Records received less than --settle ago are left " +
			"to the live path. Give the same bucket, prefix, layout and selection as the exporter's configuration. " +
			"The reconciler's watermark is neither read nor moved. Credentials come from the standard AWS chain.",
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDecisionsBackfill(cmd.Context(), cmd.OutOrStdout(), o, time.Now())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dsn, "dsn", "", "Postgres DSN (default $GOVCOL_PG_READER_DSN, else $GOVCOL_PG_DSN)")
	f.StringVar(&o.since, "since", "", "start of the event-time range: RFC 3339, or a duration before now such as 24h (required)")
	f.StringVar(&o.until, "until", "", "end of the range, exclusive: RFC 3339 or a duration before now (default now)")
	f.StringVar(&o.bucket, "bucket", "", "destination bucket")
	f.StringVar(&o.localDir, "local-dir", "", "destination directory instead of a bucket")
	f.StringVar(&o.prefix, "prefix", def.Prefix, "key prefix")
	f.StringVar(&o.region, "region", def.Region, "bucket region")
	f.StringVar(&o.endpoint, "endpoint", "", "S3-compatible endpoint")
	f.BoolVar(&o.pathStyle, "path-style", false, "path-style addressing (most S3-compatible stores)")
	f.StringVar(&o.sse, "server-side-encryption", "", "AES256 or aws:kms")
	f.StringVar(&o.sseKey, "sse-kms-key-id", "", "KMS key for aws:kms")
	f.StringVar(&o.lockMode, "object-lock-mode", "", "GOVERNANCE or COMPLIANCE")
	f.IntVar(&o.lockDays, "object-lock-retain-days", 0, "Object Lock retention in days")
	f.StringVar(&o.layout, "layout", def.Layout, "per_decision or batched")
	f.StringVar(&o.selection, "selection", def.Selection, "OTTL condition selecting the decisions (the exporter's selection)")
	f.IntVar(&o.maxRecords, "max-records", def.Batch.MaxRecords, "decisions per object in the batched layout")
	f.IntVar(&o.concurrency, "concurrency", def.Reconcile.PutConcurrency, "puts at once")
	f.DurationVar(&o.settle, "settle", def.Reconcile.Settle, "leave records received less than this long ago to the live path")
	f.DurationVar(&o.putTimeout, "put-timeout", def.PutTimeout, "bound on one put")
	f.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	return cmd
}

// parseWhen reads an RFC 3339 time or a duration before now.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration", s)
	}
	return t, nil
}

func runDecisionsBackfill(ctx context.Context, out io.Writer, o decisionsOptions, now time.Time) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.since == "" {
		return errors.New("--since is required")
	}
	since, err := parseWhen(o.since, now)
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	until := now
	if o.until != "" {
		if until, err = parseWhen(o.until, now); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
	}
	if !since.Before(until) {
		return errors.New("--since must be before --until")
	}
	dsn := storeconfig.DSN(o.dsn, storeconfig.EnvReaderDSN, storeconfig.EnvDSN)
	if dsn == "" {
		return errors.New("--dsn, GOVCOL_PG_READER_DSN or GOVCOL_PG_DSN is required")
	}
	cfg := s3decisionexporter.NewFactory().CreateDefaultConfig().(*s3decisionexporter.Config)
	cfg.Bucket, cfg.LocalDir, cfg.Prefix, cfg.Region, cfg.Endpoint = o.bucket, o.localDir, o.prefix, o.region, o.endpoint
	cfg.S3ForcePathStyle, cfg.ServerSideEncryption, cfg.SSEKMSKeyID = o.pathStyle, o.sse, o.sseKey
	cfg.ObjectLock = s3decisionexporter.ObjectLockConfig{Mode: o.lockMode, RetainDays: o.lockDays}
	cfg.Layout, cfg.Selection, cfg.Batch.MaxRecords = o.layout, o.selection, o.maxRecords
	cfg.Reconcile.PostgresDSN = configopaque.String(dsn)
	cfg.Reconcile.PutConcurrency, cfg.Reconcile.Settle, cfg.PutTimeout = o.concurrency, o.settle, o.putTimeout
	if cfg.Layout == s3decisionexporter.LayoutBatched && cfg.Reconcile.Settle <= cfg.Batch.FlushInterval+cfg.PutTimeout {
		// The flush interval is the exporter's; the settle check only matters for a running live path.
		cfg.Batch.FlushInterval = cfg.Reconcile.Settle / 2
		cfg.PutTimeout = min(cfg.PutTimeout, cfg.Reconcile.Settle/4)
	}
	start := time.Now()
	res, err := s3decisionexporter.Backfill(ctx, cfg, since, until, nil)
	elapsed := time.Since(start)
	if o.asJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		report := map[string]any{"since": since.UTC(), "until": until.UTC(), "rows": res.Rows, "selected": res.Selected,
			"present": res.Present, "missing": res.Missing, "shipped": res.Shipped, "seconds": elapsed.Seconds()}
		if err != nil {
			report["error"] = err.Error()
		}
		if e := enc.Encode(report); e != nil {
			return e
		}
	} else {
		fmt.Fprintf(out, "%s .. %s: %d records, %d selected, %d already in the store, %d missing, %d shipped (%.1fs)\n",
			since.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339), res.Rows, res.Selected, res.Present,
			res.Missing, res.Shipped, elapsed.Seconds())
	}
	return err
}
