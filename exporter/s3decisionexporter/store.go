package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// store puts one object; the reconciler also lists keys and reads objects back.
type store interface {
	put(ctx context.Context, key string, body []byte) error
	// list calls fn with every key under prefix (a "directory", ending in /) that sorts after startAfter, in
	// order, until fn returns false.
	list(ctx context.Context, prefix, startAfter string, fn func(key string) bool) error
	// get reads an object; errNotFound when there is none.
	get(ctx context.Context, key string) ([]byte, error)
}

var errNotFound = errors.New("s3decision: no such object")

// s3Store puts objects with aws-sdk-go-v2. The SDK's own retries are off (one attempt per put): the breaker and the
// per-put timeout decide, so a slow or failing S3 costs at most put_timeout per decision.
type s3Store struct {
	client *s3.Client
	cfg    *Config
	now    func() time.Time
}

func newS3Store(ctx context.Context, cfg *Config) (*s3Store, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithRetryMaxAttempts(1)}
	if cfg.Region != "" {
		opts = append(opts, awsconfig.WithRegion(cfg.Region))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("s3decision: AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
		o.UsePathStyle = cfg.S3ForcePathStyle
	})
	return &s3Store{client: client, cfg: cfg, now: time.Now}, nil
}

func (s *s3Store) put(ctx context.Context, key string, body []byte) error {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(s.cfg.Bucket),
		Key:           aws.String(key),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
		ContentType:   aws.String(contentType(key)),
	}
	switch s.cfg.ServerSideEncryption {
	case "AES256":
		in.ServerSideEncryption = types.ServerSideEncryptionAes256
	case "aws:kms":
		in.ServerSideEncryption = types.ServerSideEncryptionAwsKms
		in.SSEKMSKeyId = aws.String(s.cfg.SSEKMSKeyID)
	}
	if m := s.cfg.ObjectLock.Mode; m != "" {
		in.ObjectLockMode = types.ObjectLockMode(m)
		in.ObjectLockRetainUntilDate = aws.Time(s.now().UTC().AddDate(0, 0, s.cfg.ObjectLock.RetainDays))
	}
	_, err := s.client.PutObject(ctx, in)
	return err
}

func contentType(key string) string {
	switch {
	case strings.HasSuffix(key, ".jsonl.gz"):
		return "application/x-ndjson"
	case strings.HasSuffix(key, ".json"):
		return "application/json"
	}
	return "application/octet-stream"
}

func (s *s3Store) list(ctx context.Context, prefix, startAfter string, fn func(string) bool) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(s.cfg.Bucket), Prefix: aws.String(prefix)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	p := s3.NewListObjectsV2Paginator(s.client, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return err
		}
		for _, o := range page.Contents {
			if !fn(aws.ToString(o.Key)) {
				return nil
			}
		}
	}
	return nil
}

func (s *s3Store) get(ctx context.Context, key string) ([]byte, error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key)})
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, errNotFound
		}
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// dirStore writes the same layout under a directory. Each object appears whole: it is written to a file with a
// short unique name in <dir>/.tmp (small, on the same file system) and renamed into place, so no temporary file is
// ever created in the large day directories; directories already made are remembered.
type dirStore struct {
	dir  string
	seq  atomic.Uint64
	mu   sync.Mutex
	made map[string]bool
}

func newDirStore(dir string) *dirStore { return &dirStore{dir: dir, made: map[string]bool{}} }

func (d *dirStore) mkdir(path string) error {
	d.mu.Lock()
	ok := d.made[path]
	d.mu.Unlock()
	if ok {
		return nil
	}
	if err := os.MkdirAll(path, 0o750); err != nil {
		return err
	}
	d.mu.Lock()
	if len(d.made) > 4096 {
		clear(d.made)
	}
	d.made[path] = true
	d.mu.Unlock()
	return nil
}

func (d *dirStore) put(_ context.Context, key string, body []byte) error {
	path := filepath.Join(d.dir, filepath.FromSlash(key))
	tmpDir := filepath.Join(d.dir, ".tmp")
	if err := d.mkdir(tmpDir); err != nil {
		return err
	}
	if err := d.mkdir(filepath.Dir(path)); err != nil {
		return err
	}
	tmp := filepath.Join(tmpDir, strconv.Itoa(os.Getpid())+"-"+strconv.FormatUint(d.seq.Add(1), 36))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return err
	}
	if _, err := f.Write(body); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func (d *dirStore) list(_ context.Context, prefix, startAfter string, fn func(string) bool) error {
	entries, err := os.ReadDir(filepath.Join(d.dir, filepath.FromSlash(prefix)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries { // sorted by name
		key := prefix + e.Name()
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || key <= startAfter {
			continue
		}
		if !fn(key) {
			return nil
		}
	}
	return nil
}

func (d *dirStore) get(_ context.Context, key string) ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(d.dir, filepath.FromSlash(key)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, errNotFound
	}
	return b, err
}
