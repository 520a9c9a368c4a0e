package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/govcol/govcol/internal/audit"
	"github.com/govcol/govcol/internal/integrity"
	"github.com/govcol/govcol/internal/pii"
	"github.com/govcol/govcol/internal/store/storeconfig"
)

// Config is the configuration of the governance processor.
type Config struct {
	// TrustIdentityHeaders takes the developer's email from the X-User-Email request header when the license
	// carries no email. Turn it off when clients are not trusted to name their developer; user_email then falls
	// back to client:<client_id>.
	TrustIdentityHeaders bool `mapstructure:"trust_identity_headers"`

	// AllowUnauthenticated processes data that arrives without authenticated client information (no licenseauth on
	// the receiver), stamping DefaultTenant. For local development only: it is logged loudly at start.
	AllowUnauthenticated bool `mapstructure:"allow_unauthenticated"`
	// DefaultTenant is the identity stamped on unauthenticated data when AllowUnauthenticated is set.
	DefaultTenant DefaultTenantConfig `mapstructure:"default_tenant"`

	// PII configures masking; masking itself cannot be turned off.
	PII PIIConfig `mapstructure:"pii"`

	// QueryHashKey keys the HMAC-SHA256 of the unmasked content stored as query_hash. It should be at least 16
	// bytes and stable across restarts and collectors so that hashes join; when empty a random key is generated
	// at start (hashes then join only within one process run) and a warning is logged.
	QueryHashKey configopaque.String `mapstructure:"query_hash_key"`

	// MaxContentBytes caps the query and response_sample columns (masked content); longer values are cut and
	// marked.
	MaxContentBytes int `mapstructure:"max_content_bytes"`
	// MaxHeaderValueBytes caps identity header values (X-Session-Id, X-Axonflow-Client, X-Axonflow-Gateway-Id).
	MaxHeaderValueBytes int `mapstructure:"max_header_value_bytes"`

	// MaxAttributesPerRecord bounds the values of one log record (attributes and body, counted into nested maps and
	// lists); a record beyond it is dropped, reported and counted, the rest of the batch continues.
	MaxAttributesPerRecord int `mapstructure:"max_attributes_per_record"`
	// MaxValueDepth bounds the nesting of maps and lists in one record the same way.
	MaxValueDepth int `mapstructure:"max_value_depth"`

	// SafeAttributes adds attribute keys whose values pass unmasked when they are identifiers (ids, counts, model
	// names: identifier-shaped strings in which the engine finds nothing, numbers, bools), to the built-in list
	// documented in the README. Any other value under them (free text, maps, lists, bytes) is masked like any other
	// attribute. Content-bearing keys can never be made safe.
	SafeAttributes []string `mapstructure:"safe_attributes"`

	// ExtraEventNames extends the closed set of event names stored as identifiers (request_type, audit.event,
	// metadata.event_name) with a deployment's own; every name must have identifier shape. Records with any other
	// event name are stored with the event "unknown".
	ExtraEventNames []string `mapstructure:"extra_event_names"`

	// Policies are the tenant's own policies, evaluated after the system policies.
	Policies []PolicyConfig `mapstructure:"policies"`
	// DisableSystemPolicies turns off built-in OTTL system policies by id. The built-in verdict rules (tool
	// rejected, API error, PII redacted, redaction unavailable) cannot be turned off.
	DisableSystemPolicies []string `mapstructure:"disable_system_policies"`

	// Metrics configures the metrics signal.
	Metrics MetricsConfig `mapstructure:"metrics"`

	// Integrity chains the audit records and signs checkpoints of the chains (docs/ARCHITECTURE.md §8).
	Integrity IntegrityConfig `mapstructure:"integrity"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// IntegrityConfig configures the hash chains and their signed checkpoints.
type IntegrityConfig struct {
	// SigningKeyFile is a PEM (PKCS#8 Ed25519) private key, e.g. from `govctl keygen`.
	SigningKeyFile string `mapstructure:"signing_key_file"`
	// SigningKey is the key inline (base64 seed or key, or PEM), typically ${env:GOVCOL_AUDIT_SIGNING_KEY}.
	SigningKey configopaque.String `mapstructure:"signing_key"`
	// KeyID names the key in checkpoints; default the RFC 7638 thumbprint of its public key.
	KeyID string `mapstructure:"key_id"`
	// CheckpointInterval is the longest time new records of a chain stay without a checkpoint.
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval"`
	// CheckpointRecords is the most records a chain grows by between two checkpoints.
	CheckpointRecords int `mapstructure:"checkpoint_records"`
	// CheckpointTimeout bounds handing checkpoints to the next component (a synchronous exporter writes them
	// within it), at shutdown too: a handover cut short is counted as failed, and the chain's next checkpoint
	// covers its records again.
	CheckpointTimeout time.Duration `mapstructure:"checkpoint_timeout"`
	// PostgresDSN gives the processor read access to the stored trail and write access to the chain registry
	// (<table>_chains): it registers every chain it opens and, at start, seals the chains a crashed run of the same
	// instance left with an unsigned tail. Empty means the GOVCOL_PG_DSN environment variable; with neither, there
	// is no registry and no sealing (a warning is logged).
	PostgresDSN configopaque.String `mapstructure:"postgres_dsn"`
	// Table and CheckpointsTable are the postgresaudit exporter's tables (the registry is <table>_chains).
	Table            string `mapstructure:"table"`
	CheckpointsTable string `mapstructure:"checkpoints_table"`
}

// DefaultTenantConfig is the identity of unauthenticated data in development mode.
type DefaultTenantConfig struct {
	OrgID    string `mapstructure:"org_id"`
	TenantID string `mapstructure:"tenant_id"`
	ClientID string `mapstructure:"client_id"`
}

// PIIConfig configures the PII engine (internal/pii).
type PIIConfig struct {
	// Mode is redact ([REDACTED:<type>]), hash ([<type>:<hmac8>], joinable) or partial (keeps a card's last 4).
	Mode string `mapstructure:"mode"`
	// HashKey keys hash mode; at least 16 bytes.
	HashKey configopaque.String `mapstructure:"hash_key"`
	// Types limits detection to these types; empty detects all.
	Types []string `mapstructure:"types"`
	// MaxValueBytes bounds the scanned prefix of one value; the tail beyond it is withheld, never stored unscanned.
	MaxValueBytes int `mapstructure:"max_value_bytes"`
	// KeepPrivateIPs leaves loopback and private addresses unmasked.
	KeepPrivateIPs bool `mapstructure:"keep_private_ips"`
	// Timeout bounds detection on one value; beyond it the value is withheld and the verdict is error.
	Timeout time.Duration `mapstructure:"timeout"`
}

// MetricsConfig configures the metrics signal.
type MetricsConfig struct {
	// DropAttributes removes these data point attributes (high-cardinality ones such as session.id) before the
	// metrics reach an exporter.
	DropAttributes []string `mapstructure:"drop_attributes"`
}

// PolicyConfig is one policy: when its OTTL condition is true on a record, the record gets the policy's verdict
// (subject to precedence) and the policy is listed as matched in policy_details.
type PolicyConfig struct {
	// ID names the policy; ids starting with sys_ are reserved for system policies.
	ID string `mapstructure:"id"`
	// Description is free text for the README and the Log Explorer.
	Description string `mapstructure:"description"`
	// Signal is logs (default) or traces: the OTTL context the condition is written for.
	Signal string `mapstructure:"signal"`
	// When is an OTTL boolean condition (log or span context), e.g. IsMatch(attributes["tool_input"], "rm -rf").
	When string `mapstructure:"when"`
	// Verdict is allowed, redacted, needs_approval, blocked or error.
	Verdict string `mapstructure:"verdict"`
	// Severity is low, medium, high or critical.
	Severity string `mapstructure:"severity"`
	// Reason is recorded in policy_details when the policy matches; it must not contain secrets.
	Reason string `mapstructure:"reason"`
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		TrustIdentityHeaders: true,
		PII: PIIConfig{
			Mode:          string(pii.ModeRedact),
			MaxValueBytes: pii.DefaultMaxValueBytes,
			Timeout:       time.Second,
		},
		MaxContentBytes:        8192,
		MaxHeaderValueBytes:    128,
		MaxAttributesPerRecord: 1024,
		MaxValueDepth:          16,
		Metrics:                MetricsConfig{DropAttributes: []string{"session.id"}},
		Integrity:              IntegrityConfig{CheckpointInterval: time.Second, CheckpointRecords: 1000, CheckpointTimeout: 10 * time.Second, Table: storeconfig.DefaultTable, CheckpointsTable: storeconfig.DefaultCheckpointsTable},
	}
}

// maxContentBytesLimit keeps max_content_bytes (plus the truncation marker) within the query and response_sample
// column cap (audit.ColumnCaps).
const maxContentBytesLimit = 64 << 10

// maxEventNameBytes keeps request_type (<plane>_<event>) within its column cap.
const maxEventNameBytes = 64

var severities = map[string]int{"low": 1, "medium": 2, "high": 3, "critical": 4}

// Validate checks the configuration, including parsing every policy condition, so that a bad policy fails when
// the configuration loads with an error naming it.
func (cfg *Config) Validate() error {
	var errs []error
	if cfg.AllowUnauthenticated && strings.TrimSpace(cfg.DefaultTenant.TenantID) == "" {
		errs = append(errs, errors.New("allow_unauthenticated needs default_tenant.tenant_id"))
	}
	if err := cfg.piiConfig().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("pii: %w", err))
	}
	if cfg.MaxContentBytes < 64 || cfg.MaxContentBytes > maxContentBytesLimit {
		errs = append(errs, fmt.Errorf("max_content_bytes must be between 64 and %d", maxContentBytesLimit))
	}
	for _, e := range cfg.ExtraEventNames {
		if !audit.IsIdentifier(e) || len(e) > maxEventNameBytes {
			errs = append(errs, fmt.Errorf("extra_event_names: %q is not an identifier of at most %d bytes (letters, digits, . _ : / + -)", e, maxEventNameBytes))
		}
	}
	if _, _, err := integrity.LoadSigningKey(cfg.Integrity.SigningKeyFile, string(cfg.Integrity.SigningKey), cfg.Integrity.KeyID); err != nil {
		errs = append(errs, fmt.Errorf("integrity: %w", err))
	}
	if cfg.Integrity.CheckpointInterval <= 0 || cfg.Integrity.CheckpointInterval > time.Minute {
		errs = append(errs, errors.New("integrity.checkpoint_interval must be positive and at most 1m"))
	}
	if cfg.Integrity.CheckpointRecords < 1 || cfg.Integrity.CheckpointRecords > 1_000_000 {
		errs = append(errs, errors.New("integrity.checkpoint_records must be between 1 and 1000000"))
	}
	if cfg.Integrity.CheckpointTimeout <= 0 || cfg.Integrity.CheckpointTimeout > 10*time.Minute {
		errs = append(errs, errors.New("integrity.checkpoint_timeout must be positive and at most 10m"))
	}
	for _, t := range []string{cfg.Integrity.Table, cfg.Integrity.CheckpointsTable} {
		if !storeconfig.ValidTable(t) {
			errs = append(errs, fmt.Errorf("integrity: table name %q must match %s", t, storeconfig.TablePattern))
		}
	}
	if cfg.MaxAttributesPerRecord < 64 || cfg.MaxAttributesPerRecord > 100_000 {
		errs = append(errs, errors.New("max_attributes_per_record must be between 64 and 100000"))
	}
	if cfg.MaxValueDepth < 2 || cfg.MaxValueDepth > 64 {
		errs = append(errs, errors.New("max_value_depth must be between 2 and 64"))
	}
	if cfg.MaxHeaderValueBytes < 16 || cfg.MaxHeaderValueBytes > audit.MaxIdentifierBytes {
		errs = append(errs, fmt.Errorf("max_header_value_bytes must be between 16 and %d", audit.MaxIdentifierBytes))
	}
	for _, k := range cfg.SafeAttributes {
		if contentKeys[k] {
			errs = append(errs, fmt.Errorf("safe_attributes: %q carries content and is always masked", k))
		}
	}
	known := map[string]bool{}
	for _, p := range systemPolicies {
		known[p.ID] = true
	}
	for _, id := range cfg.DisableSystemPolicies {
		if !known[id] {
			errs = append(errs, fmt.Errorf("disable_system_policies: unknown system policy %q", id))
		}
	}
	seen := map[string]bool{}
	for i, p := range cfg.Policies {
		if p.ID == "" {
			errs = append(errs, fmt.Errorf("policies[%d]: id is required", i))
			continue
		}
		if strings.HasPrefix(p.ID, "sys_") {
			errs = append(errs, fmt.Errorf("policy %q: ids starting with sys_ are reserved for system policies", p.ID))
		}
		if seen[p.ID] {
			errs = append(errs, fmt.Errorf("policy %q: duplicate id", p.ID))
		}
		seen[p.ID] = true
		if err := p.validate(); err != nil {
			errs = append(errs, fmt.Errorf("policy %q: %w", p.ID, err))
		}
	}
	if len(errs) == 0 {
		// Parse every condition now: a typo in OTTL must stop the collector from starting.
		if _, err := compilePolicies(cfg, component.TelemetrySettings{}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (p PolicyConfig) validate() error {
	var errs []error
	if strings.TrimSpace(p.When) == "" {
		errs = append(errs, errors.New("when is required"))
	}
	if !audit.Verdict(p.Verdict).Valid() {
		errs = append(errs, fmt.Errorf("verdict %q is not one of allowed, redacted, needs_approval, blocked, error", p.Verdict))
	}
	if p.Severity != "" && severities[p.Severity] == 0 {
		errs = append(errs, fmt.Errorf("severity %q is not one of low, medium, high, critical", p.Severity))
	}
	switch p.Signal {
	case "", "logs", "traces":
	default:
		errs = append(errs, fmt.Errorf("signal %q is not logs or traces", p.Signal))
	}
	return errors.Join(errs...)
}

func (cfg *Config) piiConfig() pii.Config {
	types := make([]pii.Type, len(cfg.PII.Types))
	for i, t := range cfg.PII.Types {
		types[i] = pii.Type(t)
	}
	return pii.Config{
		Types:          types,
		Mode:           pii.Mode(cfg.PII.Mode),
		HashKey:        []byte(cfg.PII.HashKey),
		MaxValueBytes:  cfg.PII.MaxValueBytes,
		KeepPrivateIPs: cfg.PII.KeepPrivateIPs,
		Timeout:        cfg.PII.Timeout,
	}
}
