// Package pgcluster runs a throwaway local PostgreSQL cluster with the server binaries installed on the machine
// (initdb, pg_ctl, postgres). The tests use it for a real database (internal/pgtest) and `govctl dev postgres` for
// the quick start's cluster under .govcol/pg.
//
// initdb refuses to run as root, so as root every server command runs as the `postgres` user and the data directory
// is owned by it. The cluster listens on 127.0.0.1 only, with trust authentication for local connections: it is a
// development and test cluster, never a production one.
package pgcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/govcol/govcol/internal/freeport"
)

// Cluster is a local PostgreSQL cluster in Dir, served on 127.0.0.1:Port.
type Cluster struct {
	// Dir holds the data directory (Dir/data) and the server log (Dir/postgres.log).
	Dir  string
	Port int

	binDir string
	cred   *syscall.Credential
	uid    int
	gid    int
}

// ServerBinDir finds the directory holding initdb, pg_ctl and postgres: PATH first, then the Debian layout
// /usr/lib/postgresql/<version>/bin (newest version). The error says how to install them.
func ServerBinDir() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if _, err := exec.LookPath("pg_ctl"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("pgcluster: PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or under " +
		"/usr/lib/postgresql/*/bin; install them (Debian: apt-get install postgresql) or set a DSN")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Open returns the cluster in dir, creating it (initdb) when dir/data does not hold one yet. port 0 picks the port
// recorded at creation, or a free one.
func Open(dir string, port int) (*Cluster, error) {
	binDir, err := ServerBinDir()
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: abs, binDir: binDir, uid: -1, gid: -1}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgcluster: running as root needs a `postgres` user to own the cluster: %w", err)
		}
		c.uid, _ = strconv.Atoi(u.Uid)
		c.gid, _ = strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(c.uid), Gid: uint32(c.gid)}
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, err
	}
	if c.cred != nil {
		// The postgres user must reach the data directory through every parent.
		for d := abs; d != "/" && d != "."; d = filepath.Dir(d) {
			if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
				_ = os.Chmod(d, st.Mode().Perm()|0o001)
			}
		}
		if err := os.Chown(abs, c.uid, c.gid); err != nil {
			return nil, err
		}
	}
	portFile := filepath.Join(abs, "port")
	if port == 0 {
		if b, err := os.ReadFile(portFile); err == nil {
			port, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
	}
	if port == 0 {
		if port, err = FreePort(); err != nil {
			return nil, err
		}
	}
	c.Port = port
	if err := os.WriteFile(portFile, []byte(strconv.Itoa(port)+"\n"), 0o644); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(c.dataDir(), "PG_VERSION")); err == nil {
		return c, nil
	}
	if err := c.run(context.Background(), "initdb", "-D", c.dataDir(), "-U", "postgres", "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"); err != nil {
		return nil, err
	}
	// Small, fast settings for a test cluster; durability is kept (fsync on) so outage tests mean something.
	conf := "\n# govcol pgcluster\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n" +
		"max_connections = 200\nshared_buffers = 128MB\nlogging_collector = off\n"
	f, err := os.OpenFile(filepath.Join(c.dataDir(), "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(conf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return c, err
}

func (c *Cluster) dataDir() string { return filepath.Join(c.Dir, "data") }

// LogFile is the server log.
func (c *Cluster) LogFile() string { return filepath.Join(c.Dir, "postgres.log") }

// DSN is the connection string of database db (postgres when empty).
func (c *Cluster) DSN(db string) string {
	if db == "" {
		db = "postgres"
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, db)
}

// Start starts the server and waits until it accepts connections. Starting a running cluster is a no-op.
func (c *Cluster) Start(ctx context.Context) error {
	if c.Running() {
		return nil
	}
	logFile := c.LogFile()
	if f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644); err == nil {
		_ = f.Close()
		if c.cred != nil {
			_ = os.Chown(logFile, c.uid, c.gid)
		}
	}
	err := c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-l", logFile, "-o", "-p "+strconv.Itoa(c.Port), "-w", "-t", "60", "start")
	if err != nil {
		return fmt.Errorf("%w\n%s", err, tail(logFile, 2000))
	}
	return nil
}

// Stop stops the server. mode is pg_ctl's shutdown mode: "fast" (disconnect clients, clean shutdown) or
// "immediate" (abort, as a crash would).
func (c *Cluster) Stop(ctx context.Context, mode string) error {
	if !c.Running() {
		return nil
	}
	return c.run(ctx, "pg_ctl", "-D", c.dataDir(), "-m", mode, "-w", "-t", "60", "stop")
}

// Running reports whether the cluster's postmaster is alive.
func (c *Cluster) Running() bool {
	b, err := os.ReadFile(filepath.Join(c.dataDir(), "postmaster.pid"))
	if err != nil {
		return false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return false
	}
	return syscall.Kill(pid, 0) == nil
}

// Remove stops the server and deletes the cluster directory.
func (c *Cluster) Remove() error {
	_ = c.Stop(context.Background(), "immediate")
	return os.RemoveAll(c.Dir)
}

func (c *Cluster) run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Dir = c.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	if c.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pgcluster: %s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return nil
}

// FreePort returns a free loopback TCP port outside the kernel's ephemeral range (internal/freeport says why).
func FreePort() (int, error) { return freeport.Port() }

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
