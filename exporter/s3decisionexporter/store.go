package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// store puts one object.
type store interface {
	put(ctx context.Context, key string, body []byte) error
}

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
		ContentType:   aws.String("application/json"),
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

// dirStore writes the same layout under a directory; each object appears whole (temp file + rename).
type dirStore struct{ dir string }

func (d dirStore) put(_ context.Context, key string, body []byte) error {
	path := filepath.Join(d.dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".put-*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(body); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
