package licenseauthextension // import "github.com/govcol/govcol/extension/licenseauthextension"

import (
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/collector/component"

	"github.com/govcol/govcol/internal/license"
)

// Config is the configuration of the licenseauth extension.
type Config struct {
	// PublicKeyFiles are PEM files of Ed25519 public keys (PKIX "PUBLIC KEY" blocks, several per file allowed).
	// A license names its key by `kid`, the RFC 7638 thumbprint of the key, so listing the old and the new key
	// during a rotation accepts licenses signed by either.
	PublicKeyFiles []string `mapstructure:"public_key_files"`
	// JWKSFile is a JSON Web Key Set of OKP/Ed25519 keys; a key's `kid` is taken from the set, else its thumbprint.
	JWKSFile string `mapstructure:"jwks_file"`

	// RevocationFile lists revoked license ids (`jti`), one per line; blank lines and lines starting with # are
	// ignored. It is re-read when its modification time or size changes.
	RevocationFile string `mapstructure:"revocation_file"`
	// RevocationCheckInterval is how often the revocation file is checked for changes.
	RevocationCheckInterval time.Duration `mapstructure:"revocation_check_interval"`

	// Leeway tolerates clock skew between the license issuer and this collector on exp, nbf and iat.
	Leeway time.Duration `mapstructure:"leeway"`

	// CacheSize bounds the number of verified licenses remembered (keyed by a SHA-256 of the license), so that a
	// steady stream of requests with the same license skips signature verification. 0 disables the cache.
	CacheSize int `mapstructure:"cache_size"`

	// MaxLicenseBytes refuses presented credentials longer than this before any parsing.
	MaxLicenseBytes int `mapstructure:"max_license_bytes"`

	// Issuer is the `iss` a license must carry; Audience the `aud` (its single value).
	Issuer   string `mapstructure:"issuer"`
	Audience string `mapstructure:"audience"`
	// RequireIssuerAudience refuses licenses carrying neither `iss` nor `aud` (issued before they existed). While it
	// is off such licenses are accepted and counted (otelcol_licenseauth_legacy_licenses); a license carrying either
	// claim must always carry both with the expected values.
	RequireIssuerAudience bool `mapstructure:"require_issuer_audience"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var _ component.Config = (*Config)(nil)

func createDefaultConfig() component.Config {
	return &Config{
		RevocationCheckInterval: 2 * time.Second,
		Leeway:                  30 * time.Second,
		CacheSize:               4096,
		MaxLicenseBytes:         8192,
		Issuer:                  license.Issuer,
		Audience:                license.Audience,
	}
}

// Validate checks the configuration without touching the file system; files are read at start.
func (cfg *Config) Validate() error {
	var errs []error
	if len(cfg.PublicKeyFiles) == 0 && cfg.JWKSFile == "" {
		errs = append(errs, errors.New("at least one of public_key_files or jwks_file must be set"))
	}
	for i, f := range cfg.PublicKeyFiles {
		if f == "" {
			errs = append(errs, fmt.Errorf("public_key_files[%d] is empty", i))
		}
	}
	if cfg.RevocationFile != "" && cfg.RevocationCheckInterval <= 0 {
		errs = append(errs, errors.New("revocation_check_interval must be positive when revocation_file is set"))
	}
	if cfg.Leeway < 0 || cfg.Leeway > time.Hour {
		errs = append(errs, errors.New("leeway must be between 0 and 1h"))
	}
	if cfg.CacheSize < 0 {
		errs = append(errs, errors.New("cache_size must not be negative"))
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		errs = append(errs, errors.New("issuer and audience must be set"))
	}
	if cfg.MaxLicenseBytes < 256 {
		errs = append(errs, errors.New("max_license_bytes must be at least 256"))
	}
	return errors.Join(errs...)
}
