// Package audit holds the pieces of the canonical audit record shared by the governance processor and the govcol
// exporters (docs/ARCHITECTURE.md §4 and §5). This file names where a record came from.
package audit

// Origin is the closed, low-cardinality set of sources a record can come from; it is safe as a metric label.
type Origin string

// The origins.
const (
	OriginClaudeCode    Origin = "claude-code"
	OriginClaudeDesktop Origin = "claude-desktop"
	OriginSDK           Origin = "sdk"
	OriginPlugin        Origin = "plugin"
	OriginGateway       Origin = "gateway"
	OriginUnknown       Origin = "unknown"
)

// Plane is the product surface a record belongs to; it prefixes request_type.
type Plane string

// The planes.
const (
	PlaneClaudeCode    Plane = "claude_code"
	PlaneCowork        Plane = "cowork"
	PlaneClaudeDesktop Plane = "claude_desktop"
	PlaneSDK           Plane = "sdk"
	PlaneGateway       Plane = "gateway"
)
