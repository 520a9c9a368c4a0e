package freeport

import (
	"net"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPortsAreBindableDistinctAndOutsideTheEphemeralRange(t *testing.T) {
	low, high, ok := candidates()
	require.True(t, ok, "this machine's ephemeral range should leave room for test ports")
	seen := map[int]bool{}
	for range 200 {
		p, err := Port()
		require.NoError(t, err)
		require.False(t, seen[p], "port %d handed out twice", p)
		seen[p] = true
		require.True(t, p >= low && p <= high, "port %d outside %d-%d", p, low, high)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		require.NoError(t, err)
		require.NoError(t, l.Close())
	}
}

func TestAReservedPortIsRefusedToAnotherHolder(t *testing.T) {
	p, err := Port()
	require.NoError(t, err)
	// flock conflicts between open file descriptions, so a second open in this process stands for another process.
	_, ok := reserve(p)
	require.False(t, ok, "port %d reserved twice", p)
}
