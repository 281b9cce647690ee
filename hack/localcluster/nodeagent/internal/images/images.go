// Package images maps a pod's image reference to a local environment. With
// no container engine the "image" is the host itself plus what the config
// table adds: directories prepended to PATH and extra env vars.
package images

import (
	"fmt"
	"strings"

	"modelplane.io/localcluster/nodeagent/internal/config"
)

// DefaultPath is the PATH a process gets before pathPrepend is applied,
// the same default a container runtime uses.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Table is the ordered image table; the first matching pattern wins.
type Table []config.Image

// Resolved is what an image contributes to a container's environment.
type Resolved struct {
	Pattern string
	// Env holds PATH and the table's env, applied before the container's env.
	Env map[string]string
	// HostPaths must stay visible inside the container (see config.Image).
	HostPaths []string
}

// NotMappedError says no pattern matched; its text is the kubelet-style
// pull error message shown in waiting.message.
type NotMappedError struct{ Image string }

func (e *NotMappedError) Error() string {
	return fmt.Sprintf("image %q is not available on this node: it matches no pattern in the node agent config's \"images\" table (no container engine here: add a pattern that maps it to a local environment)", e.Image)
}

// Resolve finds the first entry whose pattern matches image.
func (t Table) Resolve(image string) (*Resolved, error) {
	for _, entry := range t {
		for _, candidate := range candidates(image) {
			if !Match(entry.Pattern, candidate) {
				continue
			}
			env := map[string]string{}
			path := DefaultPath
			if len(entry.PathPrepend) > 0 {
				path = strings.Join(entry.PathPrepend, ":") + ":" + path
			}
			env["PATH"] = path
			for k, v := range entry.Env {
				env[k] = v
			}
			return &Resolved{Pattern: entry.Pattern, Env: env, HostPaths: entry.HostPaths}, nil
		}
	}
	return nil, &NotMappedError{Image: image}
}

// candidates lists the spellings of one reference that a pattern may be
// written against: as given, without the Docker Hub prefix, and with the
// implicit ":latest" tag.
func candidates(image string) []string {
	out := []string{image}
	short := image
	for _, prefix := range []string{"docker.io/library/", "index.docker.io/library/", "docker.io/", "index.docker.io/"} {
		if strings.HasPrefix(image, prefix) {
			short = strings.TrimPrefix(image, prefix)
			out = append(out, short)
			break
		}
	}
	lastSegment := short[strings.LastIndex(short, "/")+1:]
	if !strings.Contains(lastSegment, ":") && !strings.Contains(short, "@") {
		out = append(out, short+":latest")
	}
	return out
}

// Match reports whether s matches the glob pattern, where '*' matches any
// run of characters (including '/', unlike path.Match, since image
// references are not file paths) and '?' matches one character.
func Match(pattern, s string) bool {
	// Iterative wildcard matching with single backtracking point.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}
