// Package freeport hands out loopback TCP ports for code that must name a port before a server (a collector,
// Postgres, versitygw) binds it.
//
// Listening on port 0 and closing the listener gives a port from the kernel's ephemeral range, the range it also
// draws from for outgoing connections: between the close and the server's bind, any connection on the machine (a
// Postgres pool, an HTTP client) can take that port, and the server fails with "address already in use". The ports
// handed out here come from below the ephemeral range, where only an explicit bind takes a port. A port is probed by
// binding it, and reserved for the life of the process with a lock file, so two processes (two test binaries
// running in parallel) never get the same one.
package freeport

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// The range ports are drawn from when the kernel's ephemeral range leaves room below it.
const (
	lowest   = 10000
	attempts = 2000
)

var (
	mu sync.Mutex
	// held keeps every reservation's lock file open (and so locked) until the process exits.
	held = map[int]*os.File{}
)

// Port returns a loopback TCP port that is free now, outside the ephemeral range, and handed out to no other caller
// of Port in this or another running process.
func Port() (int, error) {
	low, high, ok := candidates()
	if !ok {
		return kernelPort()
	}
	mu.Lock()
	defer mu.Unlock()
	for range attempts {
		port := low + rand.IntN(high-low+1)
		if _, taken := held[port]; taken {
			continue
		}
		lock, ok := reserve(port)
		if !ok {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			_ = lock.Close()
			continue
		}
		_ = l.Close()
		held[port] = lock
		return port, nil
	}
	return 0, fmt.Errorf("freeport: no free loopback port in %d-%d after %d attempts", low, high, attempts)
}

// Addr is Port as "127.0.0.1:port".
func Addr() (string, error) {
	port, err := Port()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), nil
}

// candidates is the range below the kernel's ephemeral ports, or above them when there is no room below.
func candidates() (low, high int, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, false
	}
	first, err1 := strconv.Atoi(f[0])
	last, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil {
		return 0, 0, false
	}
	switch {
	case first-1-lowest >= 1000:
		return lowest, first - 1, true
	case 65535-last >= 1000:
		return last + 1, 65535, true
	}
	return 0, 0, false
}

// reserve takes the cross-process lock of port; the kernel releases it when the process exits, however it exits.
func reserve(port int) (*os.File, bool) {
	dir := filepath.Join(os.TempDir(), "govcol-freeport")
	if err := os.MkdirAll(dir, 0o1777); err != nil {
		return nil, true // no shared directory: the in-process table and the bind probe still apply
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, false
	}
	return f, true
}

// kernelPort is the fallback when the ephemeral range cannot be read or leaves no room: a port the kernel chose.
func kernelPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		return a.Port, nil
	}
	return 0, errors.New("freeport: listener has no TCP address")
}
