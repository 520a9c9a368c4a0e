package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Config is the s3decision exporter's configuration.
type Config struct {
	// Bucket receives the objects; exactly one of Bucket and LocalDir is set.
	Bucket string `mapstructure:"bucket"`
	// LocalDir writes the same layout to a directory instead (the quick start).
	LocalDir string `mapstructure:"local_dir"`
	// Prefix of every key, without leading or trailing slash.
	Prefix string `mapstructure:"prefix"`
	// Region of the bucket; credentials come from the standard AWS chain (environment, shared files, IMDS...).
	Region string `mapstructure:"region"`
	// Endpoint overrides the S3 endpoint (S3-compatible stores: MinIO, versitygw, Ceph...).
	Endpoint string `mapstructure:"endpoint"`
	// S3ForcePathStyle addresses buckets as <endpoint>/<bucket> instead of <bucket>.<endpoint>.
	S3ForcePathStyle bool `mapstructure:"s3_force_path_style"`
	// ServerSideEncryption is "", "AES256" or "aws:kms" (with SSEKMSKeyID).
	ServerSideEncryption string `mapstructure:"server_side_encryption"`
	SSEKMSKeyID          string `mapstructure:"sse_kms_key_id"`
	// ObjectLock retains each object (the bucket must have Object Lock enabled).
	ObjectLock ObjectLockConfig `mapstructure:"object_lock"`

	// BufferSize bounds the decisions waiting for a put; beyond it they are dropped and counted.
	BufferSize int `mapstructure:"buffer_size"`
	// PutTimeout bounds one put.
	PutTimeout time.Duration `mapstructure:"put_timeout"`
	// Workers put objects concurrently.
	Workers int `mapstructure:"workers"`
	// Breaker opens after Threshold consecutive failed puts; after Cooldown one probe put decides.
	Breaker BreakerConfig `mapstructure:"breaker"`
}

// ObjectLockConfig sets an Object Lock retention on every object.
type ObjectLockConfig struct {
	// Mode is "", "GOVERNANCE" or "COMPLIANCE".
	Mode string `mapstructure:"mode"`
	// RetainDays from the put.
	RetainDays int `mapstructure:"retain_days"`
}

// BreakerConfig is the circuit breaker in front of the store.
type BreakerConfig struct {
	Threshold int           `mapstructure:"threshold"`
	Cooldown  time.Duration `mapstructure:"cooldown"`
}

// Limits of the configuration.
const (
	maxBufferSize = 65536
	maxWorkers    = 256
)

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	switch {
	case c.Bucket == "" && c.LocalDir == "":
		errs = append(errs, errors.New("set bucket (S3) or local_dir"))
	case c.Bucket != "" && c.LocalDir != "":
		errs = append(errs, errors.New("bucket and local_dir are exclusive"))
	}
	if c.Prefix != strings.Trim(c.Prefix, "/") || strings.Contains(c.Prefix, "//") {
		errs = append(errs, fmt.Errorf("prefix %q must not start or end with / nor contain //", c.Prefix))
	}
	if c.BufferSize < 1 || c.BufferSize > maxBufferSize {
		errs = append(errs, fmt.Errorf("buffer_size must be between 1 and %d", maxBufferSize))
	}
	if c.PutTimeout <= 0 {
		errs = append(errs, errors.New("put_timeout must be positive"))
	}
	if c.Workers < 1 || c.Workers > maxWorkers {
		errs = append(errs, fmt.Errorf("workers must be between 1 and %d", maxWorkers))
	}
	if c.Breaker.Threshold < 1 {
		errs = append(errs, errors.New("breaker.threshold must be at least 1"))
	}
	if c.Breaker.Cooldown <= 0 {
		errs = append(errs, errors.New("breaker.cooldown must be positive"))
	}
	switch c.ServerSideEncryption {
	case "", "AES256":
	case "aws:kms":
		if c.SSEKMSKeyID == "" {
			errs = append(errs, errors.New("server_side_encryption aws:kms needs sse_kms_key_id"))
		}
	default:
		errs = append(errs, fmt.Errorf("server_side_encryption %q must be AES256 or aws:kms", c.ServerSideEncryption))
	}
	switch c.ObjectLock.Mode {
	case "":
		if c.ObjectLock.RetainDays != 0 {
			errs = append(errs, errors.New("object_lock.retain_days needs object_lock.mode"))
		}
	case "GOVERNANCE", "COMPLIANCE":
		if c.ObjectLock.RetainDays < 1 {
			errs = append(errs, errors.New("object_lock.retain_days must be at least 1"))
		}
	default:
		errs = append(errs, fmt.Errorf("object_lock.mode %q must be GOVERNANCE or COMPLIANCE", c.ObjectLock.Mode))
	}
	if c.LocalDir != "" && (c.ServerSideEncryption != "" || c.ObjectLock.Mode != "" || c.Endpoint != "") {
		errs = append(errs, errors.New("server_side_encryption, object_lock and endpoint apply to a bucket, not local_dir"))
	}
	return errors.Join(errs...)
}
