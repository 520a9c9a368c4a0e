package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

import (
	"net/http"
	"strings"
)

// Content security policies. The Log Explorer is one HTML page loading its own style.css and app.js, which calls the
// API on the same origin (fetch) and downloads exports through blob: URLs; it has no inline script or style, no
// external resource, no form that posts anywhere and no reason to be framed. The API answers JSON and CSV, which no
// browser should ever render as a document that runs anything.
const (
	explorerCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
	apiCSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
)

// securityHeaders sets the security headers on every response of the server (API, Explorer, redirects, 404s)
// before the handler runs, so that error paths carry them too.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		if strings.HasPrefix(r.URL.Path, "/api/") {
			h.Set("Content-Security-Policy", apiCSP)
			h.Set("Cache-Control", "no-store") // audit records and licenses' answers are never cached
		} else {
			h.Set("Content-Security-Policy", explorerCSP)
			h.Set("Cache-Control", "no-cache") // the page holds no data; revalidate so an upgrade is seen at once
		}
		next.ServeHTTP(w, r)
	})
}
