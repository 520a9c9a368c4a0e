package auditapiextension // import "github.com/govcol/govcol/extension/auditapiextension"

// The HTTP plumbing of the API: routes, authentication and the caller, errors, JSON answers. The handlers live by
// concern: records.go (get, search, tenant, report), export.go, session.go, aggregate.go, verify.go; the request
// filter in filter.go and what it may read in caller.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"
)

func (a *auditAPI) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v1/audit/verify", a.handle("verify", a.verify))
	mux.HandleFunc("GET /api/v1/audit/tenant/{tenant_id}", a.handle("tenant", a.tenant))
	mux.HandleFunc("GET /api/v1/audit/{id}", a.handle("get", a.get))
	mux.HandleFunc("POST /api/v1/audit/search", a.handle("search", a.search))
	mux.HandleFunc("POST /api/v1/audit/report", a.handle("report", a.report))
	mux.HandleFunc("POST /api/v1/audit/export", a.handle("export", a.export))
	mux.HandleFunc("GET /api/v1/audit/session/{session_id}", a.handle("session", a.session))
	mux.HandleFunc("POST /api/v1/audit/activity", a.handle("activity", a.activity))
	mux.HandleFunc("POST /api/v1/audit/developers", a.handle("developers", a.developers))
}

// apiError is an error with its HTTP status; its message is safe to return (no content, no credentials).
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// statusWriter records the status for the request metric.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) { w.status = code; w.ResponseWriter.WriteHeader(code) }
func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (a *auditAPI) handle(route string, h func(context.Context, caller, http.ResponseWriter, *http.Request) error) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		w := &statusWriter{ResponseWriter: rw}
		defer func() {
			class := "2xx"
			switch {
			case w.status >= 500:
				class = "5xx"
			case w.status >= 400:
				class = "4xx"
			}
			a.tb.AuditapiRequests.Add(context.Background(), 1, metric.WithAttributes(attribute.String("route", route), attribute.String("code", class)))
		}()
		ctx, err := a.auth.Authenticate(r.Context(), r.Header)
		if err != nil {
			writeError(w, &apiError{http.StatusUnauthorized, "a valid license is required (Authorization: Bearer <license>)"})
			return
		}
		c, err := a.callerOf(ctx)
		if err != nil {
			writeError(w, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, a.cfg.MaxRequestBytes)
		qctx, cancel := context.WithTimeout(ctx, a.cfg.QueryTimeout)
		defer cancel()
		if err := h(qctx, c, w, r); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				a.logger.Error("audit API query failed", zap.String("route", route), zap.Error(err))
				if errors.Is(err, context.DeadlineExceeded) {
					err = &apiError{http.StatusGatewayTimeout, "query timed out"}
				} else {
					err = &apiError{http.StatusInternalServerError, "internal error"}
				}
			}
			if w.status == 0 {
				writeError(w, err)
			}
		}
	}
}

func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = &apiError{http.StatusInternalServerError, "internal error"}
	}
	writeJSON(w, ae.status, map[string]string{"error": ae.msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
