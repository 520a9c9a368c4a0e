package s3decisionexporter // import "github.com/govcol/govcol/exporter/s3decisionexporter"

import (
	"compress/gzip"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/govcol/govcol/internal/store/storeconfig"
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

	// Selection is the OTTL log condition (ottllog context) a governed record must meet to be a decision that is
	// shipped; the others stay in Postgres only. Integrity checkpoints are always shipped.
	Selection string `mapstructure:"selection"`
	// Layout is per_decision (one JSON object per decision) or batched (NDJSON gzip, one object per hour
	// partition per flush interval).
	Layout string `mapstructure:"layout"`
	// Batch configures the batched layout.
	Batch BatchConfig `mapstructure:"batch"`
	// Reconcile ships from Postgres what the live path did not.
	Reconcile ReconcileConfig `mapstructure:"reconcile"`
}

// Layouts.
const (
	LayoutPerDecision = "per_decision"
	LayoutBatched     = "batched"
)

// DefaultSelection ships every tool decision and every record whose verdict is not allowed.
const DefaultSelection = `attributes["audit.event"] == "tool_decision" or attributes["audit.event"] == "code_edit_tool_decision" or attributes["audit.policy_decision"] != "allowed"`

// BatchConfig is the batched layout.
type BatchConfig struct {
	// FlushInterval is the longest a decision waits in a partition's batch.
	FlushInterval time.Duration `mapstructure:"flush_interval"`
	// MaxRecords per object; a full batch is flushed at once.
	MaxRecords int `mapstructure:"max_records"`
	// Instance names this collector in the object keys; empty means service.instance.id, else the host name.
	Instance string `mapstructure:"instance"`
	// CompressionLevel is the gzip level of batched objects (1 fastest ... 9 smallest). The default, 1, spends the
	// least of the collector's CPU per decision; gzip's default level 6 costs a few times as much (see
	// BenchmarkBatchedCompressionLevels), and compressing is the largest part of the batched path.
	CompressionLevel int `mapstructure:"compression_level"`
}

// ReconcileConfig is the reconciler: it reads audit_logs (read-only) and puts the selected decisions the store
// lacks, slice by slice of event time, behind a durable watermark kept in the store.
type ReconcileConfig struct {
	// PostgresDSN of the database holding audit_logs (the reader role is enough); empty turns the reconciler off.
	PostgresDSN configopaque.String `mapstructure:"postgres_dsn"`
	// Table is the audit_logs table.
	Table string `mapstructure:"table"`
	// Interval between passes.
	Interval time.Duration `mapstructure:"interval"`
	// Slice is the unit of event time one reconciliation compares (a divisor of an hour).
	Slice time.Duration `mapstructure:"slice"`
	// Settle is how long after ingest (received_at) a record is left to the live path.
	Settle time.Duration `mapstructure:"settle"`
	// Recheck is how far behind the watermark slices are re-counted for late records.
	Recheck time.Duration `mapstructure:"recheck"`
	// InitialLookback is where a reconciler without a watermark starts, before now.
	InitialLookback time.Duration `mapstructure:"initial_lookback"`
	// MaxSlicesPerPass bounds one pass; the rest waits for the next.
	MaxSlicesPerPass int `mapstructure:"max_slices_per_pass"`
	// PutConcurrency is how many puts the reconciler runs at once.
	PutConcurrency int `mapstructure:"put_concurrency"`
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
	maxBufferSize   = 65536
	maxWorkers      = 256
	maxBatchRecords = 1000000
)

func (r *ReconcileConfig) validate(c *Config) []error {
	var errs []error
	if !storeconfig.ValidTable(r.Table) {
		errs = append(errs, fmt.Errorf("reconcile.table %q must be a plain SQL identifier matching %s", r.Table, storeconfig.TablePattern))
	}
	if r.Interval <= 0 || r.Slice <= 0 || r.Settle <= 0 || r.Recheck < 0 || r.InitialLookback < 0 {
		errs = append(errs, errors.New("reconcile.interval, slice and settle must be positive, recheck and initial_lookback not negative"))
	}
	if r.Slice > 0 && (time.Hour%r.Slice != 0 || r.Slice%time.Second != 0) {
		errs = append(errs, fmt.Errorf("reconcile.slice %s must be whole seconds and divide an hour", r.Slice))
	}
	if c.Layout == LayoutBatched && r.Settle <= c.Batch.FlushInterval+c.PutTimeout {
		errs = append(errs, errors.New("reconcile.settle must exceed batch.flush_interval + put_timeout (the live path's longest delay)"))
	}
	if r.MaxSlicesPerPass < 1 {
		errs = append(errs, errors.New("reconcile.max_slices_per_pass must be at least 1"))
	}
	if r.PutConcurrency < 1 || r.PutConcurrency > maxWorkers {
		errs = append(errs, fmt.Errorf("reconcile.put_concurrency must be between 1 and %d", maxWorkers))
	}
	return errs
}

// sanitizeInstance keeps the characters an object key segment may hold.
func sanitizeInstance(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !(ch == '.' || ch == '_' || ch == '-' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9') {
			b[i] = '_'
		}
	}
	if len(b) > 64 {
		b = b[:64]
	}
	return string(b)
}

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
	switch c.Layout {
	case LayoutPerDecision, LayoutBatched:
	default:
		errs = append(errs, fmt.Errorf("layout %q must be per_decision or batched", c.Layout))
	}
	if strings.TrimSpace(c.Selection) == "" {
		errs = append(errs, errors.New(`selection must be an OTTL condition ("true" ships every record)`))
	}
	if c.Batch.FlushInterval <= 0 {
		errs = append(errs, errors.New("batch.flush_interval must be positive"))
	}
	if c.Batch.MaxRecords < 1 || c.Batch.MaxRecords > maxBatchRecords {
		errs = append(errs, fmt.Errorf("batch.max_records must be between 1 and %d", maxBatchRecords))
	}
	if c.Batch.CompressionLevel < gzip.BestSpeed || c.Batch.CompressionLevel > gzip.BestCompression {
		errs = append(errs, fmt.Errorf("batch.compression_level must be between %d and %d", gzip.BestSpeed, gzip.BestCompression))
	}
	if c.Batch.Instance != "" && sanitizeInstance(c.Batch.Instance) != c.Batch.Instance {
		errs = append(errs, fmt.Errorf("batch.instance %q may hold only letters, digits, '.', '_' and '-'", c.Batch.Instance))
	}
	errs = append(errs, c.Reconcile.validate(c)...)
	if c.LocalDir != "" && (c.ServerSideEncryption != "" || c.ObjectLock.Mode != "" || c.Endpoint != "") {
		errs = append(errs, errors.New("server_side_encryption, object_lock and endpoint apply to a bucket, not local_dir"))
	}
	return errors.Join(errs...)
}
