//go:generate ../../bin/mdatagen metadata.yaml

// Package governanceprocessor turns telemetry of AI coding agents into governed audit data: it takes the tenant
// from the license that authenticated the request and the developer from the request headers, strips spoofable
// attributes, classifies origin and plane, masks PII on every content-bearing value, evaluates verdicts and OTTL
// policies, and stamps the canonical audit record (internal/audit) on every log record as audit.* attributes.
package governanceprocessor // import "github.com/govcol/govcol/processor/governanceprocessor"
