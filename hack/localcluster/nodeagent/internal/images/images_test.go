package images

import (
	"errors"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"python:*", "python:3.12", true},
		{"python:*", "python:3.12-slim", true},
		{"python:*", "python", false},
		{"python:*", "mypython:3", false},
		{"ghcr.io/modelplane/runtime:*", "ghcr.io/modelplane/runtime:v0.1.0", true},
		{"ghcr.io/modelplane/*", "ghcr.io/modelplane/a/b:c", true},
		{"ghcr.io/modelplane/runtime:*", "ghcr.io/modelplane/runtime-x:1", false},
		{"*", "anything/at:all", true},
		{"busybox:1.3?", "busybox:1.36", true},
		{"busybox:1.3?", "busybox:1.360", false},
		{"exact:tag", "exact:tag", true},
		{"*:latest", "nginx:latest", true},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

func TestResolveFirstMatchWins(t *testing.T) {
	table := Table{
		{Pattern: "python:*", PathPrepend: []string{"/opt/py/bin"}, Env: map[string]string{"A": "1"}},
		{Pattern: "*", Env: map[string]string{"A": "2"}},
	}
	r, err := table.Resolve("python:3.12")
	if err != nil {
		t.Fatal(err)
	}
	if r.Pattern != "python:*" || r.Env["A"] != "1" {
		t.Fatalf("got %+v", r)
	}
	if r.Env["PATH"] != "/opt/py/bin:"+DefaultPath {
		t.Fatalf("PATH = %q", r.Env["PATH"])
	}
	r, _ = table.Resolve("nginx")
	if r.Pattern != "*" || r.Env["PATH"] != DefaultPath {
		t.Fatalf("got %+v", r)
	}
}

func TestResolveNormalisesDockerHub(t *testing.T) {
	table := Table{{Pattern: "python:*"}, {Pattern: "redis:latest"}}
	for _, image := range []string{"docker.io/library/python:3.12", "docker.io/python:3", "redis", "docker.io/library/redis"} {
		if _, err := table.Resolve(image); err != nil {
			t.Errorf("Resolve(%q): %v", image, err)
		}
	}
}

func TestResolveUnmapped(t *testing.T) {
	_, err := Table{{Pattern: "python:*"}}.Resolve("ghcr.io/x/y:1")
	var nm *NotMappedError
	if !errors.As(err, &nm) || nm.Image != "ghcr.io/x/y:1" {
		t.Fatalf("got %v", err)
	}
	if !strings.Contains(err.Error(), `"images"`) || !strings.Contains(err.Error(), "ghcr.io/x/y:1") {
		t.Fatalf("message should name the image and the images table: %s", err)
	}
}
