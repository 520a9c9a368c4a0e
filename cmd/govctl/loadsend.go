package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"
)

// failClass is the outcome of an attempt.
type failClass int

const (
	ackOK failClass = iota
	// refusedRetryable: the collector answered with a status the OTLP spec says to retry.
	refusedRetryable
	// failedPermanent: the collector answered with another error status; retrying cannot help.
	failedPermanent
	// failedTransport: no answer came (connection refused or reset, timeout): the collector was down or unreachable.
	failedTransport
)

// classify sorts an attempt's outcome per the OTLP specification's retryable responses, and returns how long the
// collector asked to wait before a retry (HTTP Retry-After, gRPC RetryInfo), if it did.
func classify(err error) (failClass, time.Duration) {
	if err == nil {
		return ackOK, 0
	}
	var he *httpStatusError
	if errors.As(err, &he) {
		switch he.code {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return refusedRetryable, he.retryAfter
		}
		return failedPermanent, 0
	}
	var te *transportError
	if errors.As(err, &te) {
		return failedTransport, 0
	}
	st, ok := status.FromError(err)
	if !ok { // not a status: the HTTP client's network errors
		return failedTransport, 0
	}
	var wait time.Duration
	retryInfo := false
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			retryInfo, wait = true, ri.GetRetryDelay().AsDuration()
		}
	}
	switch st.Code() {
	case codes.Canceled, codes.DeadlineExceeded, codes.Aborted, codes.OutOfRange, codes.Unavailable, codes.DataLoss:
		return refusedRetryable, wait
	case codes.ResourceExhausted:
		// The spec: retryable only when the server says when to come back (RetryInfo); else it is a permanent limit.
		if retryInfo {
			return refusedRetryable, wait
		}
	}
	return failedPermanent, 0
}

// httpStatusError is an OTLP/HTTP answer other than 200.
type httpStatusError struct {
	code       int
	msg        string
	retryAfter time.Duration
}

func (e *httpStatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.code, e.msg) }

// transportError is a gRPC error the server did not send (the client's transport made it up: no connection, reset,
// deadline), so a transport failure whatever its code.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// httpSender posts to <endpoint>/v1/logs, keeping up to conns idle connections so that an open loop does not
// reconnect for every request.
func httpSender(endpoint, lic string, conns int) sender {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = conns, conns
	client := &http.Client{Transport: tr}
	url := strings.TrimRight(endpoint, "/") + "/v1/logs"
	return func(ctx context.Context, r *loadRequest) error {
		if r.body == nil {
			body, err := plogotlp.NewExportRequestFromLogs(r.logs).MarshalProto()
			if err != nil {
				return err
			}
			r.body = body
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Authorization", "Bearer "+lic)
		req.Header.Set("X-User-Email", devEmail(r.dev))
		req.Header.Set("X-Axonflow-Client", "claude-code")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20)) // so that the connection is reused
		if resp.StatusCode != http.StatusOK {
			return &httpStatusError{code: resp.StatusCode, msg: strings.TrimSpace(string(msg)),
				retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"))}
		}
		return nil
	}
}

// parseRetryAfter reads an HTTP Retry-After: delay seconds or a date.
func parseRetryAfter(v string) time.Duration {
	if v = strings.TrimSpace(v); v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(0, time.Until(t))
	}
	return 0
}

func grpcSender(client plogotlp.GRPCClient, lic string) sender {
	return func(ctx context.Context, r *loadRequest) error {
		var answered atomic.Bool
		ctx = context.WithValue(ctx, answeredKey{}, &answered)
		md := metadata.Pairs("authorization", "Bearer "+lic, "x-user-email", devEmail(r.dev), "x-axonflow-client", "claude-code")
		_, err := client.Export(metadata.NewOutgoingContext(ctx, md), plogotlp.NewExportRequestFromLogs(r.logs))
		if err != nil && (!answered.Load() || ctx.Err() != nil) {
			return &transportError{err}
		}
		return err
	}
}

type answeredKey struct{}

// answerWatch marks an RPC answered (the *atomic.Bool under answeredKey in its context) when the server's status
// trailers arrive. gRPC reports a refused or reset connection as Unavailable too; only the trailers tell a collector
// that said Unavailable from one that could not be reached.
type answerWatch struct{}

func (answerWatch) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }

func (answerWatch) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if _, ok := s.(*stats.InTrailer); ok {
		if a, ok := ctx.Value(answeredKey{}).(*atomic.Bool); ok {
			a.Store(true)
		}
	}
}

func (answerWatch) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (answerWatch) HandleConn(context.Context, stats.ConnStats)                       {}
