// Package s3decisionexporter writes one JSON object per governed audit record (a "decision") to an S3 bucket or a
// local directory, at <prefix>/YYYY/MM/DD/<decision_id>.json. It is best-effort and fail-open: a bounded buffer,
// a per-put timeout and a circuit breaker keep an S3 outage from slowing or failing the rest of the pipeline.
//
//go:generate mdatagen metadata.yaml
package s3decisionexporter
