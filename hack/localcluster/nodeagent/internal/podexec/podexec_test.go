package podexec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The test binary doubles as the pod-exec child, like the agent does.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == Subcommand {
		os.Exit(Child())
	}
	os.Exit(m.Run())
}

func TestLookPath(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "tool")
	os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(dir, "data"), nil, 0o644)
	if p, err := lookPath("tool", "/nonexistent:"+dir); err != nil || p != exe {
		t.Fatalf("got %q %v", p, err)
	}
	if _, err := lookPath("data", dir); err == nil {
		t.Fatal("non-executable file must not resolve")
	}
	if _, err := lookPath("tool", "/nonexistent"); err == nil {
		t.Fatal("missing command must fail")
	}
	if v := envValue([]string{"PATH=/a", "X=1", "PATH=/b"}, "PATH"); v != "/b" {
		t.Fatalf("envValue = %q", v)
	}
}

func TestExitCode(t *testing.T) {
	if ExitCode(nil) != -1 {
		t.Fatal("nil state")
	}
}

func requireRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for mount and UTS namespaces")
	}
}

func TestRunWithMountsAndHostname(t *testing.T) {
	requireRoot(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "file"), []byte("from-volume"), 0o644)
	target := filepath.Join(t.TempDir(), "mnt", "vol")
	out, err := Run(Spec{
		Hostname: "my-pod",
		Mounts:   []Mount{{Source: src, Target: target, ReadOnly: true}},
		WorkDir:  target,
		Argv:     []string{"sh", "-c", `cat file; echo " $FOO $(hostname)"; touch x 2>/dev/null || echo read-only`},
		Env:      []string{"PATH=/usr/bin:/bin", "FOO=bar"},
	}, 10*time.Second)
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got := string(out); got != "from-volume bar my-pod\nread-only\n" {
		t.Fatalf("output %q", got)
	}
	if _, err := os.Stat(filepath.Join(target, "file")); err == nil {
		t.Fatal("bind mount leaked into the host mount namespace")
	}
}

func TestStartErrorAndTimeout(t *testing.T) {
	requireRoot(t)
	_, err := Run(Spec{Argv: []string{"no-such-command"}, Env: []string{"PATH=/bin"}}, 5*time.Second)
	var se *StartError
	if !errors.As(err, &se) || !strings.Contains(se.Msg, "not found") {
		t.Fatalf("want StartError, got %v", err)
	}
	start := time.Now()
	_, err = Run(Spec{Argv: []string{"sleep", "30"}, Env: []string{"PATH=/bin:/usr/bin"}}, 300*time.Millisecond)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("timeout not enforced: %v after %s", err, time.Since(start))
	}
}

func TestMountHidingLaterSource(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	shadow := filepath.Join(root, "a")          // mounted first, at a path that
	later := filepath.Join(root, "a", "b", "c") // contains the next source
	os.MkdirAll(later, 0o755)
	os.WriteFile(filepath.Join(later, "f"), []byte("ok"), 0o644)
	empty := t.TempDir()
	out, err := Run(Spec{
		Mounts: []Mount{{Source: empty, Target: shadow}, {Source: later, Target: filepath.Join(root, "x", "y", "z")}},
		Argv:   []string{"cat", filepath.Join(root, "x", "y", "z", "f")},
		Env:    []string{"PATH=/bin:/usr/bin"},
	}, 10*time.Second)
	if err != nil || string(out) != "ok" {
		t.Fatalf("%v: %q", err, out)
	}
}
