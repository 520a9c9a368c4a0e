package store

import (
	"context"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/license"
)

// S3StoreConfig names the bucket as the s3decision exporter's configuration does (bucket, region, endpoint,
// s3_force_path_style); credentials come from the default AWS chain.
type S3StoreConfig struct {
	Bucket, Region, Endpoint string
	PathStyle                bool
}

// S3Store reads checkpoint objects from a bucket.
type S3Store struct {
	client *s3.Client
	bucket string
}

// NewS3Store builds the S3 client.
func NewS3Store(ctx context.Context, cfg S3StoreConfig) (*S3Store, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("decision store: AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.PathStyle
	})
	return &S3Store{client: client, bucket: cfg.Bucket}, nil
}

// List lists the keys under prefix (one request per 1,000 keys).
func (s *S3Store) List(ctx context.Context, prefix string, f func(key string)) error {
	p := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{Bucket: aws.String(s.bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("decision store: listing s3://%s/%s: %w", s.bucket, prefix, err)
		}
		for _, o := range page.Contents {
			f(aws.ToString(o.Key))
		}
	}
	return nil
}

// Get reads one object.
func (s *S3Store) Get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("decision store: reading s3://%s/%s: %w", s.bucket, key, err)
	}
	defer out.Body.Close()
	return io.ReadAll(io.LimitReader(out.Body, maxCheckpointObject))
}

// maxCheckpointObject bounds the body read of one checkpoint object (a checkpoint is well under 1 KiB, plus its
// withdrawn list).
const maxCheckpointObject = 1 << 20

// crossCheck runs integrity.CrossCheck against Postgres and adds, as warnings, the planned chains that have
// checkpoints in Postgres but no object in the store (the store is fail-open).
func crossCheck(ctx context.Context, pool *pgxpool.Pool, src Source, keys license.KeySet, jobs []chainJob) (map[string]*integrity.ChainReport, map[string]string, error) {
	failures, have, err := integrity.CrossCheck(ctx, src.Store, src.StorePrefix, src.Tenant, keys,
		func(ctx context.Context, cp *integrity.Checkpoint, key string) (*integrity.Failure, error) {
			return compareStored(ctx, pool, src, keys, cp, key)
		})
	if err != nil {
		return nil, nil, err
	}
	warnings := map[string]string{}
	for i := range jobs {
		j := &jobs[i]
		if len(j.ev.Checkpoints) > 0 && !have[j.id] {
			warnings[j.id] = integrity.NoObjectWarning
		}
	}
	return failures, warnings, nil
}

// compareStored checks that Postgres holds the record cp signed (or a signed retention marker accounts for it).
func compareStored(ctx context.Context, pool *pgxpool.Pool, src Source, keys license.KeySet, cp *integrity.Checkpoint, key string) (*integrity.Failure, error) {
	q := fmt.Sprintf(`SELECT record_hash FROM %s WHERE chain_id = $1 AND chain_seq = $2
		UNION ALL SELECT record_hash FROM %s WHERE chain_id = $1 AND chain_seq = $2`, src.Table, src.redeliveryTable())
	rows, err := pool.Query(ctx, q, cp.ChainID, cp.LastSeq)
	if err != nil {
		return nil, fmt.Errorf("cross-checking the decision store: %w", err)
	}
	var hashes []string
	for rows.Next() {
		var h *string
		if err := rows.Scan(&h); err != nil {
			rows.Close()
			return nil, fmt.Errorf("cross-checking the decision store: %w", err)
		}
		if h != nil {
			hashes = append(hashes, *h)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("cross-checking the decision store: %w", err)
	}
	for _, h := range hashes {
		if h == cp.LastHash {
			return nil, nil
		}
	}
	if len(hashes) > 0 {
		return &integrity.Failure{Kind: integrity.KindModified, Seq: cp.LastSeq, Detail: fmt.Sprintf(
			"record %d of chain %s in Postgres does not have the hash checkpoint object %s in the decision store signed", cp.LastSeq, cp.ChainID, key)}, nil
	}
	retained, err := retainedIn(ctx, pool, src, keys, cp.ChainID, cp.LastSeq)
	if err != nil || retained {
		return nil, err
	}
	return &integrity.Failure{Kind: integrity.KindDeleted, Seq: cp.LastSeq, Detail: fmt.Sprintf(
		"checkpoint object %s in the decision store signs chain %s up to record %d, but Postgres has no record %d of that chain (the chain, or its tail, was removed)",
		key, cp.ChainID, cp.LastSeq, cp.LastSeq)}, nil
}

// retainedIn reports whether a retention marker whose signature verifies covers seq of chain.
func retainedIn(ctx context.Context, pool *pgxpool.Pool, src Source, keys license.KeySet, chain string, seq int64) (bool, error) {
	var ok bool
	if err := pool.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", src.markersTable()).Scan(&ok); err != nil || !ok {
		return false, err
	}
	q := fmt.Sprintf(`SELECT tenant_id, chain_id, from_seq, to_seq, "count", category, reason, cutoff, deleted_at,
		coalesce(key_id, ''), coalesce(signature, '') FROM %s WHERE chain_id = $1 AND from_seq <= $2 AND to_seq >= $2`, src.markersTable())
	rows, err := pool.Query(ctx, q, chain, seq)
	if err != nil {
		return false, fmt.Errorf("cross-checking the decision store: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var m integrity.RetentionMarker
		if err := rows.Scan(&m.TenantID, &m.ChainID, &m.FromSeq, &m.ToSeq, &m.Count, &m.Category, &m.Reason, &m.Cutoff,
			&m.DeletedAt, &m.KeyID, &m.Signature); err != nil {
			return false, fmt.Errorf("cross-checking the decision store: %w", err)
		}
		if m.Verify(keys) == nil && m.Covers(chain, seq) {
			return true, nil
		}
	}
	return false, rows.Err()
}
