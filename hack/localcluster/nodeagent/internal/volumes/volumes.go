// Package volumes turns a pod's volumes into host directories that the
// container processes get bind-mounted: emptyDir and API-backed volumes
// live in the pod's state directory, a PVC is a directory shared by every
// pod using the claim, hostPath is the host path itself.
package volumes

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"modelplane.io/localcluster/nodeagent/internal/podenv"
)

// TokenSource issues service account tokens (the TokenRequest API).
type TokenSource interface {
	Token(ctx context.Context, pod *corev1.Pod, audience string, expirationSeconds int64) (string, error)
}

// Volume is a prepared volume.
type Volume struct {
	Path     string
	ReadOnly bool // the volume itself is read-only, whatever the mount says
}

// Materializer prepares volumes. ClusterCA is served as ca.crt of the
// kube-root-ca.crt ConfigMap: it is the CA of the API server endpoint the
// pod actually reaches through its forwarder.
type Materializer struct {
	StateDir    string
	ClusterCA   []byte
	Objects     podenv.Source
	Tokens      TokenSource
	Allocatable corev1.ResourceList
}

// Prepare creates every volume of pod under podDir and returns them by name.
func (m *Materializer) Prepare(ctx context.Context, pod *corev1.Pod, podDir string, addr podenv.Addresses) (map[string]Volume, error) {
	out := map[string]Volume{}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		vol, err := m.prepare(ctx, pod, podDir, v, addr)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %w", v.Name, err)
		}
		out[v.Name] = vol
	}
	return out, nil
}

func (m *Materializer) prepare(ctx context.Context, pod *corev1.Pod, podDir string, v *corev1.Volume, addr podenv.Addresses) (Volume, error) {
	dir := filepath.Join(podDir, "volumes", v.Name)
	src := &v.VolumeSource
	switch {
	case src.EmptyDir != nil:
		return Volume{Path: dir}, os.MkdirAll(dir, 0o777)
	case src.HostPath != nil:
		return hostPath(src.HostPath)
	case src.PersistentVolumeClaim != nil:
		return m.claimDir(pod.Namespace, src.PersistentVolumeClaim.ClaimName, src.PersistentVolumeClaim.ReadOnly)
	case src.Ephemeral != nil:
		// Generic ephemeral volumes are PVCs named <pod>-<volume>.
		return m.claimDir(pod.Namespace, pod.Name+"-"+v.Name, false)
	case src.ConfigMap != nil, src.Secret != nil, src.DownwardAPI != nil, src.Projected != nil:
		files, err := m.files(ctx, pod, src, addr)
		if err != nil {
			return Volume{}, err
		}
		return Volume{Path: dir, ReadOnly: true}, writeFiles(dir, files)
	}
	return Volume{}, fmt.Errorf("volume type is not supported by the local node agent")
}

func (m *Materializer) claimDir(namespace, claim string, readOnly bool) (Volume, error) {
	dir := filepath.Join(m.StateDir, "pvcs", namespace, claim)
	return Volume{Path: dir, ReadOnly: readOnly}, os.MkdirAll(dir, 0o777)
}

func hostPath(hp *corev1.HostPathVolumeSource) (Volume, error) {
	p := hp.Path
	st, statErr := os.Stat(p)
	kind := corev1.HostPathUnset
	if hp.Type != nil {
		kind = *hp.Type
	}
	switch kind {
	case corev1.HostPathDirectoryOrCreate:
		if statErr != nil {
			return Volume{Path: p}, os.MkdirAll(p, 0o755)
		}
	case corev1.HostPathFileOrCreate:
		if statErr != nil {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return Volume{}, err
			}
			return Volume{Path: p}, os.WriteFile(p, nil, 0o644)
		}
	case corev1.HostPathDirectory:
		if statErr != nil || !st.IsDir() {
			return Volume{}, fmt.Errorf("hostPath %s is not a directory", p)
		}
	case corev1.HostPathFile:
		if statErr != nil || !st.Mode().IsRegular() {
			return Volume{}, fmt.Errorf("hostPath %s is not a file", p)
		}
	case corev1.HostPathUnset:
	default:
		if statErr != nil {
			return Volume{}, fmt.Errorf("hostPath %s: %w", p, statErr)
		}
	}
	return Volume{Path: p}, nil
}

// file is one file of an API-backed volume.
type file struct {
	data []byte
	mode os.FileMode
}

// writeFiles replaces dir with exactly files. It runs before any container
// of the pod starts, so nothing has the old directory mounted.
func writeFiles(dir string, files map[string]file) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for rel, f := range files {
		if err := writeFile(dir, rel, f); err != nil {
			return err
		}
	}
	return nil
}

// writeFile writes one file atomically (temp file + rename), so a token
// refresh never shows a reader a half-written file.
func writeFile(dir, rel string, f file) error {
	clean := filepath.Clean(rel)
	if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("invalid path %q", rel)
	}
	p := filepath.Join(dir, clean)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, f.data, f.mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, f.mode); err != nil { // undo the umask
		return err
	}
	return os.Rename(tmp, p)
}

func mode(defaultMode, itemMode *int32) os.FileMode {
	switch {
	case itemMode != nil:
		return os.FileMode(*itemMode)
	case defaultMode != nil:
		return os.FileMode(*defaultMode)
	}
	return 0o644
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
