//go:generate ../../bin/mdatagen metadata.yaml

// Package headerssetterextension implements the headers_setter client authenticator: it sets the headers of each
// outgoing OTLP request (HTTP or gRPC) from the incoming request's metadata (client.Info.Metadata, kept by
// include_metadata on the receiver and metadata_keys on the batch processor) or from a fixed value. It accepts the
// configuration of the contrib extension of the same name (key, value, from_context, default_value, action), which
// the Go module proxy does not serve here; see README.md.
package headerssetterextension // import "github.com/govcol/govcol/extension/headerssetterextension"
