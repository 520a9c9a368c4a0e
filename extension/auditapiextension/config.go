package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"

	"github.com/govcol/govcol/internal/store/storeconfig"
)

// EnvDSN is read when dsn is empty.
const EnvDSN = storeconfig.EnvDSN

// Config is the auditapi extension's configuration.
type Config struct {
	// ServerConfig is the HTTP server (endpoint default 127.0.0.1:8080, TLS, timeouts). Leave its `auth` unset: when
	// set, confighttp applies it to every request, the Log Explorer page included. The API authenticates each API
	// request with `authenticator`, so that the page itself loads without credentials and sends the license from
	// the browser. A named field, not an embedded one: confighttp.ServerConfig has its own Unmarshal, which an
	// embedded field would promote to Config, so that only the server's keys would be decoded.
	ServerConfig confighttp.ServerConfig `mapstructure:",squash"`
	// Authenticator is the license authenticator extension (licenseauth).
	Authenticator component.ID `mapstructure:"authenticator"`
	// DSN of the Postgres holding audit_logs; empty means $GOVCOL_PG_DSN.
	DSN              configopaque.String `mapstructure:"dsn"`
	Table            string              `mapstructure:"table"`
	CheckpointsTable string              `mapstructure:"checkpoints_table"`
	// AdminTier is deprecated and ignored: what a license may read is its `scope` claim (ingest, read, admin), no
	// longer a free-text tier. Kept so that existing configurations still load; setting it logs a warning at start.
	AdminTier string `mapstructure:"admin_tier"`
	// QueryTimeout bounds every query.
	QueryTimeout time.Duration `mapstructure:"query_timeout"`
	// MaxPageSize bounds `limit` of a search.
	MaxPageSize int `mapstructure:"max_page_size"`
	// ExportRowCap bounds an export; a capped export says so in its headers.
	ExportRowCap int `mapstructure:"export_row_cap"`
	// MaxRequestBytes bounds a request body.
	MaxRequestBytes int64 `mapstructure:"max_request_bytes"`
	// VerifyPublicKeyFiles are the checkpoint public keys for /api/v1/audit/verify (PEM).
	VerifyPublicKeyFiles []string `mapstructure:"verify_public_key_files"`
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	var errs []error
	if c.dsn() == "" {
		errs = append(errs, fmt.Errorf("dsn is empty and %s is not set", EnvDSN))
	}
	if c.Authenticator.String() == "" || c.Authenticator.Type().String() == "" {
		errs = append(errs, errors.New("authenticator must name the license authenticator extension (e.g. licenseauth)"))
	}
	if err := c.tables().Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.QueryTimeout <= 0 {
		errs = append(errs, errors.New("query_timeout must be positive"))
	}
	if c.MaxPageSize < 1 || c.MaxPageSize > 10_000 {
		errs = append(errs, errors.New("max_page_size must be between 1 and 10000"))
	}
	if c.ExportRowCap < 1 || c.ExportRowCap > 1_000_000 {
		errs = append(errs, errors.New("export_row_cap must be between 1 and 1000000"))
	}
	if c.MaxRequestBytes < 1024 {
		errs = append(errs, errors.New("max_request_bytes must be at least 1024"))
	}
	return errors.Join(errs...)
}

func (c *Config) dsn() string { return storeconfig.DSN(string(c.DSN)) }

func (c *Config) tables() storeconfig.Tables {
	return storeconfig.Tables{Records: c.Table, Checkpoints: c.CheckpointsTable}
}
