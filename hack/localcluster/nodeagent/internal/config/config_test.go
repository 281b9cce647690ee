package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `{
  "nodeName": "local-0",
  "kubeconfig": "/abs/kubeconfig",
  "stateDir": "/abs/state",
  "listenAddress": "127.0.0.1", "listenPort": 10250,
  "tlsCertFile": "/abs/tls.crt", "tlsKeyFile": "/abs/tls.key",
  "clientCAFile": "/abs/ca.crt", "clusterCAFile": "/abs/ca.crt",
  "labels": {"modelplane.io/node-kind": "local"},
  "taints": [{"key": "modelplane.io/local", "value": "true", "effect": "NoSchedule"}],
  "capacity": {"cpu": "2", "memory": "24Gi", "pods": "110"},
  "bridge": "mpbr0",
  "podCIDR": "10.244.0.0/24", "gatewayIP": "10.244.0.1",
  "apiServer": {"podHost": "127.0.0.1", "podPort": 6443, "hostAddress": "127.0.0.1:6443"},
  "images": [{"pattern": "python:*", "pathPrepend": ["/usr/local/bin"], "env": {}}],
  "crashLoopBackOff": {"initialSeconds": 10, "maxSeconds": 300}
}`

func write(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadSample(t *testing.T) {
	c, err := Load(write(t, sample))
	if err != nil {
		t.Fatal(err)
	}
	if c.Taints[0].Effect != "NoSchedule" || c.APIServer.PodPort != 6443 || c.CrashLoop.MaxSeconds != 300 {
		t.Fatalf("parsed %+v", c)
	}
	if q := c.ResourceList()["memory"]; q.String() != "24Gi" {
		t.Fatalf("memory %s", q.String())
	}
}

func TestLoadRejects(t *testing.T) {
	cases := map[string]string{
		`"nodeName": "local-0"`:           `"nodeName": ""`,
		`"gatewayIP": "10.244.0.1"`:       `"gatewayIP": "10.9.9.9"`,
		`"cpu": "2"`:                      `"cpu": "two"`,
		`"stateDir": "/abs/state"`:        `"stateDir": "relative"`,
		`"maxSeconds": 300`:               `"maxSeconds": 1`,
		`"bridge": "mpbr0"`:               `"bridge": "mpbr0", "unknownField": 1`,
		`"listenAddress": "127.0.0.1"`:    `"listenAddress": "localhost"`,
		`"podCIDR": "10.244.0.0/24"`:      `"podCIDR": "nonsense"`,
		`"hostAddress": "127.0.0.1:6443"`: `"hostAddress": ""`,
		`"listenPort": 10250`:             `"listenPort": 0`,
	}
	for from, to := range cases {
		bad := strings.Replace(sample, from, to, 1)
		if bad == sample {
			t.Fatalf("test case %q does not apply", from)
		}
		if _, err := Load(write(t, bad)); err == nil {
			t.Errorf("accepted config with %s", to)
		}
	}
}
