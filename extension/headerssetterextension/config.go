package headerssetterextension // import "github.com/govcol/govcol/extension/headerssetterextension"

import (
	"errors"
	"fmt"
	"net/textproto"
	"strings"

	"go.opentelemetry.io/collector/config/configopaque"
)

// Action says what a header entry does to the outgoing request.
type Action string

const (
	// Insert sets the header only when the request does not carry it yet.
	Insert Action = "insert"
	// Update replaces the header only when the request already carries it.
	Update Action = "update"
	// Upsert sets the header whether or not the request carries it (the default).
	Upsert Action = "upsert"
	// Delete removes the header.
	Delete Action = "delete"
)

// Config is the headers_setter configuration.
type Config struct {
	// Headers are applied in order to every outgoing request.
	Headers []HeaderConfig `mapstructure:"headers"`
	// MaxValueBytes bounds one header value taken from the request context; a longer value is not forwarded
	// (the default value, if any, is used instead), so one request cannot make the exporter send oversized headers.
	MaxValueBytes int `mapstructure:"max_value_bytes"`

	// prevent unkeyed literal initialization
	_ struct{}
}

// HeaderConfig is one header: its name, where its value comes from, and what to do with it.
type HeaderConfig struct {
	// Key is the outgoing header name.
	Key *string `mapstructure:"key"`
	// Value is a fixed value (exclusive with FromContext).
	Value *configopaque.String `mapstructure:"value"`
	// FromContext names the incoming request metadata key to copy (case-insensitive, first value).
	FromContext *string `mapstructure:"from_context"`
	// DefaultValue is sent when FromContext finds nothing.
	DefaultValue *configopaque.String `mapstructure:"default_value"`
	// Action is insert, update, upsert (default) or delete.
	Action Action `mapstructure:"action"`
}

var (
	errNoHeaders          = errors.New("headers_setter: at least one header is required")
	errMissingKey         = errors.New("headers_setter: every header needs a key")
	errMissingSource      = errors.New("headers_setter: a header needs exactly one of value or from_context (none given)")
	errConflictingSources = errors.New("headers_setter: a header needs exactly one of value or from_context (both given)")
)

// Validate checks the configuration.
func (c *Config) Validate() error {
	if len(c.Headers) == 0 {
		return errNoHeaders
	}
	if c.MaxValueBytes <= 0 {
		return fmt.Errorf("headers_setter: max_value_bytes must be positive, got %d", c.MaxValueBytes)
	}
	for i, h := range c.Headers {
		if h.Key == nil || strings.TrimSpace(*h.Key) == "" {
			return errMissingKey
		}
		if !validHeaderName(*h.Key) {
			return fmt.Errorf("headers_setter: headers[%d]: %q is not a valid header name", i, *h.Key)
		}
		switch h.Action {
		case "", Insert, Update, Upsert:
			if h.Value == nil && h.FromContext == nil {
				return fmt.Errorf("headers[%d] %s: %w", i, *h.Key, errMissingSource)
			}
			if h.Value != nil && h.FromContext != nil {
				return fmt.Errorf("headers[%d] %s: %w", i, *h.Key, errConflictingSources)
			}
		case Delete:
		default:
			return fmt.Errorf("headers_setter: headers[%d] %s: action %q is not one of insert, update, upsert, delete",
				i, *h.Key, h.Action)
		}
	}
	return nil
}

// validHeaderName accepts RFC 9110 tokens, which are also valid gRPC metadata keys once lower-cased.
func validHeaderName(s string) bool {
	if s == "" || strings.HasSuffix(strings.ToLower(s), "-bin") {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= 0x20 || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return textproto.CanonicalMIMEHeaderKey(s) != ""
}

func createDefaultConfig() *Config {
	return &Config{MaxValueBytes: 8192}
}
