package pgtest

import (
	"context"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestDatabasesAreSeparate(t *testing.T) {
	a, b := NewDatabase(t), NewDatabase(t)
	Exec(t, a, "CREATE TABLE x (v int); INSERT INTO x VALUES (1), (2)")
	if n := QueryInt(t, a, "SELECT count(*) FROM x"); n != 2 {
		t.Fatalf("rows = %d, want 2", n)
	}
	if n := QueryInt(t, b, "SELECT count(*) FROM pg_tables WHERE tablename = 'x'"); n != 0 {
		t.Fatalf("table x visible in the other database")
	}
}

func TestPrivateClusterStopStart(t *testing.T) {
	c := NewCluster(t)
	dsn := c.DSN("")
	Exec(t, dsn, "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Stop(ctx, "immediate"); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Fatal("cluster still running after Stop")
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if n := QueryInt(t, dsn, "SELECT v FROM kept"); n != 7 {
		t.Fatalf("after restart v = %d, want 7 (committed data survives an immediate stop)", n)
	}
}
