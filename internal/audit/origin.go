// Package audit holds the pieces of the canonical audit record shared by the governance processor and the govcol
// exporters (docs/ARCHITECTURE.md §4 and §5). This file classifies where a record came from.
package audit

import "strings"

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

// Request headers that feed the classification.
const (
	HeaderGatewayID = "X-Axonflow-Gateway-Id"
	HeaderClient    = "X-Axonflow-Client"
)

// ClassifyOrigin applies the docs/ARCHITECTURE.md §4 rules, first match wins:
//  1. a gateway id starting with claude_desktop / claude-desktop -> claude-desktop;
//  2. the client header, lower-cased and cut at "/": claude-code or claude-code-plugin -> claude-code; starting
//     with claude-desktop or equal to mcp-proxy -> claude-desktop; starting with sdk- -> sdk; openclaw or ending
//     in -plugin -> plugin;
//  3. any gateway id -> gateway;
//  4. only when no client header was sent: the resource service.name claude-code -> claude-code;
//     claude-code-desktop, claude-desktop or cowork -> claude-desktop;
//  5. else unknown.
//
// A client header that matches no rule does not fall back to service.name: the caller said who it is, and we do
// not second-guess it with a payload attribute.
func ClassifyOrigin(gatewayID, clientHeader, serviceName string) Origin {
	gatewayID = strings.ToLower(strings.TrimSpace(gatewayID))
	if strings.HasPrefix(gatewayID, "claude_desktop") || strings.HasPrefix(gatewayID, "claude-desktop") {
		return OriginClaudeDesktop
	}
	client := strings.ToLower(strings.TrimSpace(clientHeader))
	if i := strings.IndexByte(client, '/'); i >= 0 {
		client = client[:i]
	}
	switch {
	case client == "claude-code" || client == "claude-code-plugin":
		return OriginClaudeCode
	case strings.HasPrefix(client, "claude-desktop") || client == "mcp-proxy":
		return OriginClaudeDesktop
	case strings.HasPrefix(client, "sdk-"):
		return OriginSDK
	case client == "openclaw" || strings.HasSuffix(client, "-plugin"):
		return OriginPlugin
	}
	if gatewayID != "" {
		return OriginGateway
	}
	if strings.TrimSpace(clientHeader) == "" {
		switch strings.ToLower(strings.TrimSpace(serviceName)) {
		case "claude-code":
			return OriginClaudeCode
		case "claude-code-desktop", "claude-desktop", "cowork":
			return OriginClaudeDesktop
		}
	}
	return OriginUnknown
}

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

// PlaneOf derives the plane from the resource service.name (claude-code, cowork, claude-desktop or
// claude-code-desktop), else from the origin: gateway -> gateway, anything else -> sdk.
func PlaneOf(serviceName string, origin Origin) Plane {
	switch strings.ToLower(strings.TrimSpace(serviceName)) {
	case "claude-code":
		return PlaneClaudeCode
	case "cowork":
		return PlaneCowork
	case "claude-desktop", "claude-code-desktop":
		return PlaneClaudeDesktop
	}
	if origin == OriginGateway {
		return PlaneGateway
	}
	return PlaneSDK
}

// EventName returns the bare event name of a log record: the event.name attribute, else the body without the
// claude_code. / cowork. / claude_desktop. prefix.
func EventName(eventNameAttr, body string) string {
	if name := strings.TrimSpace(eventNameAttr); name != "" {
		return name
	}
	for _, prefix := range []string{"claude_code.", "cowork.", "claude_desktop."} {
		if strings.HasPrefix(body, prefix) {
			return body[len(prefix):]
		}
	}
	return body
}

// RequestType is `<plane>_<event>`, e.g. claude_code_user_prompt.
func RequestType(plane Plane, event string) string {
	return string(plane) + "_" + event
}
