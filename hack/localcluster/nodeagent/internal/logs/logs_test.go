package logs

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestTailOffset(t *testing.T) {
	cases := []struct {
		content string
		n       int
		want    string
	}{
		{"a\nb\nc\n", 1, "c\n"},
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc\n", 3, "a\nb\nc\n"},
		{"a\nb\nc\n", 10, "a\nb\nc\n"},
		{"a\nb\nc", 1, "c"},
		{"a\nb\nc", 2, "b\nc"},
		{"", 3, ""},
		{"\n\n", 1, "\n"},
		{"only", 1, "only"},
	}
	for _, c := range cases {
		r := strings.NewReader(c.content)
		off, err := TailOffset(r, int64(len(c.content)), c.n)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.content[off:]; got != c.want {
			t.Errorf("tail %d of %q = %q, want %q", c.n, c.content, got, c.want)
		}
	}
}

func TestTailOffsetAcrossChunks(t *testing.T) {
	var b strings.Builder
	for i := 0; i < 20000; i++ {
		b.WriteString("line-of-text-0123456789\n")
	}
	s := b.String()
	off, err := TailOffset(strings.NewReader(s), int64(len(s)), 5000)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(s[off:], "\n"); got != 5000 {
		t.Fatalf("got %d lines", got)
	}
}

func writeLogs(t *testing.T, dir string, files map[int32]string) {
	t.Helper()
	for n, content := range files {
		p := Path(dir, "app", n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func readAll(t *testing.T, path string, opts Options) string {
	t.Helper()
	rc, err := Open(context.Background(), path, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, _ := io.ReadAll(rc)
	return string(b)
}

func TestSelectAndLimits(t *testing.T) {
	dir := t.TempDir()
	writeLogs(t, dir, map[int32]string{0: "first\n", 2: "third-1\nthird-2\nthird-3\n", 10: "eleventh\n"})
	inst, _ := Instances(dir, "app")
	if len(inst) != 3 || inst[2] != 10 {
		t.Fatalf("instances %v (must sort numerically)", inst)
	}
	cur, _ := Select(dir, "app", false)
	prev, _ := Select(dir, "app", true)
	if filepath.Base(cur) != "10.log" || filepath.Base(prev) != "2.log" {
		t.Fatalf("current %s previous %s", cur, prev)
	}
	if got := readAll(t, prev, Options{Tail: 2}); got != "third-2\nthird-3\n" {
		t.Errorf("tail: %q", got)
	}
	if got := readAll(t, prev, Options{LimitBytes: 9}); got != "third-1\nt" {
		t.Errorf("limit: %q", got)
	}
	if got := readAll(t, prev, Options{Tail: 1, LimitBytes: 3}); got != "thi" {
		t.Errorf("tail+limit: %q", got)
	}
	if _, err := Select(dir, "nope", false); err == nil {
		t.Error("missing container should fail")
	}
	one := t.TempDir()
	writeLogs(t, one, map[int32]string{0: "x"})
	if _, err := Select(one, "app", true); err == nil {
		t.Error("no previous instance should fail")
	}
}

func TestFollowStopsWhenInactive(t *testing.T) {
	dir := t.TempDir()
	writeLogs(t, dir, map[int32]string{0: "a\n"})
	path := Path(dir, "app", 0)
	var alive atomic.Bool
	alive.Store(true)
	rc, err := Open(context.Background(), path, Options{Follow: true, PollInterval: 10 * time.Millisecond}, alive.Load)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	go func() {
		time.Sleep(50 * time.Millisecond)
		f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		f.WriteString("b\n")
		f.Close()
		time.Sleep(50 * time.Millisecond)
		alive.Store(false)
	}()
	done := make(chan string)
	go func() { b, _ := io.ReadAll(rc); done <- string(b) }()
	select {
	case got := <-done:
		if got != "a\nb\n" {
			t.Fatalf("got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follow did not end after the container stopped")
	}
}
