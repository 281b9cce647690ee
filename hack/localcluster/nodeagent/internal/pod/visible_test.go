package pod

import (
	"testing"

	"modelplane.io/localcluster/nodeagent/internal/podexec"
)

func TestKeepVisibleRebindsOnlyShadowedPaths(t *testing.T) {
	mounts := []podexec.Mount{{Source: "/state/tmp", Target: "/tmp"}, {Source: "/state/shm", Target: "/dev/shm"}}
	got := keepVisible([]string{"/tmp/ci/checkout", "/root/.cache/venv", "/tmpfoo/x"}, mounts)
	if len(got) != 1 || got[0].Source != "/tmp/ci/checkout" || got[0].Target != "/tmp/ci/checkout" {
		t.Fatalf("want only the path under /tmp rebound, got %+v", got)
	}
}
