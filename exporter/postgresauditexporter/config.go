package postgresauditexporter // import "github.com/govcol/govcol/exporter/postgresauditexporter"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configretry"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/govcol/govcol/internal/store"
	"github.com/govcol/govcol/internal/store/storeconfig"
)

// EnvDSN is the environment variable read when `dsn` is empty (the quick start sets it).
const EnvDSN = storeconfig.EnvDSN

// Config is the postgresaudit exporter's configuration.
type Config struct {
	exporterhelper.TimeoutConfig `mapstructure:",squash"`
	// BackOffConfig is the retry budget: a batch that still fails when its next retry would not fit in
	// max_elapsed_time is spilled to the fallback file instead of being dropped.
	BackOffConfig configretry.BackOffConfig                                `mapstructure:"retry_on_failure"`
	QueueConfig   configoptional.Optional[exporterhelper.QueueBatchConfig] `mapstructure:"sending_queue"`

	// DSN is a libpq connection string or postgres:// URL; empty means the GOVCOL_PG_DSN environment variable.
	DSN configopaque.String `mapstructure:"dsn"`
	// Table is the audit table's name (also the prefix of its indexes, partitions and functions).
	Table string `mapstructure:"table"`
	// CheckpointsTable holds the signed checkpoints of the integrity chains.
	CheckpointsTable string `mapstructure:"checkpoints_table"`
	// CreateSchema applies the embedded migrations at start. Set false where a DBA manages the schema.
	CreateSchema bool `mapstructure:"create_schema"`
	// PartitionMonthsAhead is how many months of partitions beyond the current one are kept created.
	PartitionMonthsAhead int `mapstructure:"partition_months_ahead"`

	Pool      PoolConfig      `mapstructure:"pool"`
	Fallback  FallbackConfig  `mapstructure:"fallback"`
	Retention RetentionConfig `mapstructure:"retention"`
	// Integrity holds the audit signing key the retention markers are signed with (the governance processor's key:
	// the same file or value as its integrity.signing_key_file / signing_key).
	Integrity IntegrityConfig `mapstructure:"integrity"`
}

// IntegrityConfig is the Ed25519 audit signing key (PEM PKCS#8 file, or inline PEM / base64 seed) and its key id
// (default: the RFC 7638 thumbprint). Without it, retention still deletes what the policy allows but its markers
// stay unsigned, and `govctl verify` does not accept the gaps they describe.
type IntegrityConfig struct {
	SigningKeyFile string              `mapstructure:"signing_key_file"`
	SigningKey     configopaque.String `mapstructure:"signing_key"`
	KeyID          string              `mapstructure:"key_id"`
}

// PoolConfig sizes the connection pool.
type PoolConfig struct {
	// MaxConns bounds the pool; writes, replay and retention share it.
	MaxConns int32 `mapstructure:"max_conns"`
	// ConnectTimeout bounds one connection attempt, so an unreachable server fails fast.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
}

// FallbackConfig is where records go while Postgres is unreachable, and where rejected records go.
type FallbackConfig struct {
	// Path of the JSONL fallback file (one record per line, fsync'd, mode 0600).
	Path string `mapstructure:"path"`
	// MaxBytes caps the fallback file (including a replay in progress); beyond it spilling fails with an error.
	MaxBytes int64 `mapstructure:"max_bytes"`
	// DeadLetterPath receives records Postgres refuses for a data reason, records over a column cap and malformed
	// records; default Path + ".dead-letter".
	DeadLetterPath string `mapstructure:"dead_letter_path"`
	// DeadLetterMaxBytes caps the dead-letter file.
	DeadLetterMaxBytes int64 `mapstructure:"dead_letter_max_bytes"`
	// ReplayInterval is how often a non-empty fallback file is replayed.
	ReplayInterval time.Duration `mapstructure:"replay_interval"`
	// ReplayBatchSize is the number of records written per transaction during replay.
	ReplayBatchSize int `mapstructure:"replay_batch_size"`
}

// RetentionConfig deletes records older than their category's retention.
type RetentionConfig struct {
	// Categories, matched by the longest request_type prefix. A record matching no category is kept forever.
	Categories []RetentionCategory `mapstructure:"categories"`
	// CleanupInterval is how often retention runs.
	CleanupInterval time.Duration `mapstructure:"cleanup_interval"`
	// BatchSize bounds one DELETE, so retention never holds long locks.
	BatchSize int `mapstructure:"batch_size"`
}

// RetentionCategory keeps records whose request_type starts with RequestTypePrefix for Days days.
type RetentionCategory = store.RetentionCategory

// Limits of the configuration.
const (
	maxReplayBatchSize    = 100_000
	maxRetentionBatchSize = 1_000_000
	maxPartitionMonths    = 36
)

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.dsn() == "" {
		errs = append(errs, fmt.Errorf("dsn is empty and %s is not set", EnvDSN))
	}
	if err := c.tables().Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.PartitionMonthsAhead < 0 || c.PartitionMonthsAhead > maxPartitionMonths {
		errs = append(errs, fmt.Errorf("partition_months_ahead must be between 0 and %d", maxPartitionMonths))
	}
	if c.Pool.MaxConns < 1 {
		errs = append(errs, errors.New("pool.max_conns must be at least 1"))
	}
	if c.Pool.ConnectTimeout <= 0 {
		errs = append(errs, errors.New("pool.connect_timeout must be positive"))
	}
	f := c.Fallback
	if f.Path == "" {
		errs = append(errs, errors.New("fallback.path must be set: records spill there while Postgres is unreachable"))
	}
	if f.MaxBytes <= 0 || f.DeadLetterMaxBytes <= 0 {
		errs = append(errs, errors.New("fallback.max_bytes and fallback.dead_letter_max_bytes must be positive"))
	}
	if f.DeadLetterPath != "" && f.DeadLetterPath == f.Path {
		errs = append(errs, errors.New("fallback.dead_letter_path must differ from fallback.path"))
	}
	if f.ReplayInterval <= 0 {
		errs = append(errs, errors.New("fallback.replay_interval must be positive"))
	}
	if f.ReplayBatchSize < 1 || f.ReplayBatchSize > maxReplayBatchSize {
		errs = append(errs, fmt.Errorf("fallback.replay_batch_size must be between 1 and %d", maxReplayBatchSize))
	}
	r := c.Retention
	if len(r.Categories) > 0 && r.CleanupInterval <= 0 {
		errs = append(errs, errors.New("retention.cleanup_interval must be positive"))
	}
	if r.BatchSize < 1 || r.BatchSize > maxRetentionBatchSize {
		errs = append(errs, fmt.Errorf("retention.batch_size must be between 1 and %d", maxRetentionBatchSize))
	}
	if c.Integrity.SigningKeyFile != "" && c.Integrity.SigningKey != "" {
		errs = append(errs, errors.New("integrity: set signing_key_file or signing_key, not both"))
	}
	seen := map[string]bool{}
	for _, cat := range r.Categories {
		if cat.Days < 1 {
			errs = append(errs, fmt.Errorf("retention category %q: days must be at least 1", cat.RequestTypePrefix))
		}
		if seen[cat.RequestTypePrefix] {
			errs = append(errs, fmt.Errorf("retention category %q is configured twice", cat.RequestTypePrefix))
		}
		seen[cat.RequestTypePrefix] = true
	}
	return errors.Join(errs...)
}

// dsn is the connection string in use.
func (c *Config) dsn() string { return storeconfig.DSN(string(c.DSN)) }

// tables names the audit store's tables.
func (c *Config) tables() storeconfig.Tables {
	return storeconfig.Tables{Records: c.Table, Checkpoints: c.CheckpointsTable}
}

func (c *Config) deadLetterPath() string {
	if c.Fallback.DeadLetterPath != "" {
		return c.Fallback.DeadLetterPath
	}
	return c.Fallback.Path + ".dead-letter"
}

// spillAfter is how long a batch may keep failing before it is spilled: the last moment at which the retry sender
// is still guaranteed to call the exporter again (its next delay is at most max_interval x (1 + randomization)
// and an attempt lasts at most the timeout). Negative means spill at the first failure (retry disabled).
func (c *Config) spillAfter() time.Duration {
	b := c.BackOffConfig
	if !b.Enabled {
		return -1
	}
	if b.MaxElapsedTime == 0 { // retries forever: the batch is never dropped, spill after a minute of failures
		return time.Minute
	}
	d := b.MaxElapsedTime - time.Duration(float64(b.MaxInterval)*(1+b.RandomizationFactor)) - c.Timeout
	if d <= 0 {
		return -1
	}
	return d
}
