package integrity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/govcol/govcol/internal/license"
)

// CheckpointStore reads the checkpoint objects the s3decision exporter ships beside the decisions, at
// <prefix>/checkpoints/<chain_id, path-escaped>/<last_seq, 20 digits>.json: an S3 bucket (S3Store) or its local_dir
// form (DirStore).
type CheckpointStore interface {
	// List hands every key under prefix to f.
	List(ctx context.Context, prefix string, f func(key string)) error
	// Get returns an object's body.
	Get(ctx context.Context, key string) ([]byte, error)
}

// DirStore is the s3decision exporter's local_dir layout.
type DirStore struct{ Dir string }

// List walks the directory under prefix; temporary files of writes in progress (".…") are skipped.
func (d DirStore) List(_ context.Context, prefix string, f func(key string)) error {
	root := filepath.Join(d.Dir, filepath.FromSlash(prefix))
	return filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == root {
				return fs.SkipAll
			}
			return err
		}
		if de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(d.Dir, path)
		if err != nil {
			return err
		}
		f(filepath.ToSlash(rel))
		return nil
	})
}

// Get reads one file.
func (d DirStore) Get(_ context.Context, key string) ([]byte, error) {
	return os.ReadFile(filepath.Join(d.Dir, filepath.FromSlash(key)))
}

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

// maxObjectsTried bounds the checkpoint objects read per chain: the newest whose signature verifies is compared
// with Postgres (older ones are implied by the chain's links, which verify checks); the ones before it that fail
// their signature are reported.
const maxObjectsTried = 8

// storeObject is one checkpoint object named by its key.
type storeObject struct {
	key string
	seq int64
}

// checkpointPrefix is where the s3decision exporter puts checkpoints under prefix.
func checkpointPrefix(prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return "checkpoints/"
	}
	return prefix + "/checkpoints/"
}

// crossCheck compares the checkpoint objects of the decision store with Postgres: every chain with a checkpoint
// object must exist in Postgres and hold, at that object's last_seq, a record with the hash the object signed
// (unless a signed retention marker accounts for it). It returns the failures by chain (objects whose signature
// fails, chains missing or cut short in Postgres, hashes that differ) and the chains of stored (planned) jobs that
// have checkpoints in Postgres but no object in the store (a warning: the store is fail-open).
func crossCheck(ctx context.Context, pool *pgxpool.Pool, src Source, keys license.KeySet, jobs []chainJob) (map[string]*ChainReport, map[string]string, error) {
	prefix := checkpointPrefix(src.StorePrefix)
	// Per chain only the newest maxObjectsTried objects are kept while listing (memory: chains, not objects).
	objects := map[string][]storeObject{}
	err := src.Store.List(ctx, prefix, func(k string) {
		rest := strings.TrimPrefix(k, prefix)
		dir, file, ok := strings.Cut(rest, "/")
		if !ok || strings.Contains(file, "/") || !strings.HasSuffix(file, ".json") {
			return // not a checkpoint object (the exporter writes nothing else here)
		}
		chain, err1 := url.PathUnescape(dir)
		seq, err2 := strconv.ParseInt(strings.TrimSuffix(file, ".json"), 10, 64)
		if err1 != nil || err2 != nil || chain == "" {
			return
		}
		objs := append(objects[chain], storeObject{key: k, seq: seq})
		if len(objs) > maxObjectsTried {
			sort.Slice(objs, func(i, j int) bool { return objs[i].seq > objs[j].seq })
			objs = objs[:maxObjectsTried]
		}
		objects[chain] = objs
	})
	if err != nil {
		return nil, nil, err
	}
	failures := map[string]*ChainReport{}
	fail := func(chain, tenant string, f Failure) {
		r := failures[chain]
		if r == nil {
			r = &ChainReport{ChainID: chain}
			failures[chain] = r
		}
		if r.TenantID == "" {
			r.TenantID = tenant
		}
		r.Failures = append(r.Failures, f)
	}
	chains := make([]string, 0, len(objects))
	for c := range objects {
		chains = append(chains, c)
	}
	sort.Strings(chains)
	for _, chain := range chains {
		objs := objects[chain]
		sort.Slice(objs, func(i, j int) bool { return objs[i].seq > objs[j].seq })
		for _, o := range objs {
			body, err := src.Store.Get(ctx, o.key)
			if err != nil {
				return nil, nil, err
			}
			var cp Checkpoint
			if err := json.Unmarshal(body, &cp); err != nil || cp.ChainID != chain || cp.LastSeq != o.seq {
				fail(chain, "", Failure{Kind: KindBadSignature, Seq: o.seq,
					Detail: fmt.Sprintf("checkpoint object %s in the decision store is malformed or names another chain or sequence number than its key", o.key)})
				continue
			}
			if src.Tenant != "" && cp.TenantID != src.Tenant {
				break
			}
			if err := cp.VerifySignature(keys); err != nil {
				fail(chain, "", Failure{Kind: KindBadSignature, Seq: o.seq,
					Detail: fmt.Sprintf("checkpoint object %s in the decision store: %v", o.key, err)})
				continue
			}
			if f, err := compareStored(ctx, pool, src, keys, &cp, o.key); err != nil {
				return nil, nil, err
			} else if f != nil {
				fail(chain, cp.TenantID, *f)
			}
			break
		}
	}
	warnings := map[string]string{}
	for i := range jobs {
		j := &jobs[i]
		if len(j.ev.Checkpoints) > 0 && len(objects[j.id]) == 0 {
			warnings[j.id] = "no checkpoint object in the decision store (it is fail-open: objects it dropped are not shipped again), so this chain is not cross-checked"
		}
	}
	return failures, warnings, nil
}

// compareStored checks that Postgres holds the record cp signed (or a signed retention marker accounts for it).
func compareStored(ctx context.Context, pool *pgxpool.Pool, src Source, keys license.KeySet, cp *Checkpoint, key string) (*Failure, error) {
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
		return &Failure{Kind: KindModified, Seq: cp.LastSeq, Detail: fmt.Sprintf(
			"record %d of chain %s in Postgres does not have the hash checkpoint object %s in the decision store signed", cp.LastSeq, cp.ChainID, key)}, nil
	}
	retained, err := retainedIn(ctx, pool, src, keys, cp.ChainID, cp.LastSeq)
	if err != nil || retained {
		return nil, err
	}
	return &Failure{Kind: KindDeleted, Seq: cp.LastSeq, Detail: fmt.Sprintf(
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
		var m RetentionMarker
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
