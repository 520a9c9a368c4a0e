// Package s3test runs a real S3-compatible server for tests: versitygw (github.com/versity/versitygw, v1.8.0, the
// posix backend with versioning so that Object Lock works) on a loopback port, in a temporary directory. It can be
// stopped and started again on the same port to simulate an S3 outage. A missing binary fails the test with the
// install command, never skips it.
package s3test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/govcol/govcol/internal/freeport"
)

// EnvBinary names the environment variable that may point at the versitygw binary.
const EnvBinary = "GOVCOL_VERSITYGW"

// InstallHint is how to get the server.
const InstallHint = "go install github.com/versity/versitygw/cmd/versitygw@v1.8.0"

// Credentials of the server's root account.
const (
	AccessKey = "govcol-test-access"
	SecretKey = "govcol-test-secret-key"
	Region    = "us-east-1"
)

// Binary finds versitygw: $GOVCOL_VERSITYGW, PATH, then $(go env GOPATH)/bin.
func Binary() (string, error) {
	if p := os.Getenv(EnvBinary); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
			gopath = strings.TrimSpace(string(out))
		}
	}
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("s3test: versitygw not found (set " + EnvBinary + " or run: " + InstallHint + ")")
}

// Server is a running versitygw.
type Server struct {
	Endpoint string // http://127.0.0.1:port
	bin      string
	dir      string
	port     int

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Start starts a server that is stopped when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	port, err := freeport.Port()
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Endpoint: "http://127.0.0.1:" + strconv.Itoa(port), bin: bin, dir: t.TempDir(), port: port}
	for _, d := range []string{"root", "versions"} {
		if err := os.MkdirAll(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(s.Stop)
	if err := s.Resume(); err != nil {
		t.Fatal(err)
	}
	return s
}

// Resume starts the server (again) on its port and waits until it answers.
func (s *Server) Resume() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return nil
	}
	cmd := exec.Command(s.bin, "--port", "127.0.0.1:"+strconv.Itoa(s.port), "--quiet",
		"posix", "--versioning-dir", filepath.Join(s.dir, "versions"), filepath.Join(s.dir, "root"))
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+AccessKey, "ROOT_SECRET_KEY="+SecretKey, "VGW_REGION="+Region)
	log, err := os.OpenFile(filepath.Join(s.dir, "versitygw.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("s3test: starting versitygw: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-done:
			b, _ := os.ReadFile(filepath.Join(s.dir, "versitygw.log"))
			return fmt.Errorf("s3test: versitygw exited at start:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			return errors.New("s3test: versitygw not listening after 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.cmd, s.done = cmd, done
	return nil
}

// Stop kills the server (an outage); Resume starts it again with the same data.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Client is an S3 client for the server (path-style, static credentials).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(s.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
	})
}

// Env sets the standard AWS environment variables so that a component using the default credential chain reaches
// this server's account.
func (s *Server) Env(t testing.TB) {
	t.Setenv("AWS_ACCESS_KEY_ID", AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", SecretKey)
	t.Setenv("AWS_REGION", Region)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(s.dir, "no-aws-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(s.dir, "no-aws-credentials"))
}

// CreateBucket creates a bucket, with Object Lock enabled when objectLock.
func (s *Server) CreateBucket(t testing.TB, name string, objectLock bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in := &s3.CreateBucketInput{Bucket: aws.String(name)}
	if objectLock {
		in.ObjectLockEnabledForBucket = aws.Bool(true)
	}
	if _, err := s.Client().CreateBucket(ctx, in); err != nil {
		t.Fatalf("s3test: create bucket %s: %v", name, err)
	}
}
