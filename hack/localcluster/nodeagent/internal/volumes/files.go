package volumes

import (
	"context"
	"fmt"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"modelplane.io/localcluster/nodeagent/internal/podenv"
)

// files computes the content of a configMap, secret, downwardAPI or
// projected volume.
func (m *Materializer) files(ctx context.Context, pod *corev1.Pod, src *corev1.VolumeSource, addr podenv.Addresses) (map[string]file, error) {
	out := map[string]file{}
	switch {
	case src.ConfigMap != nil:
		s := src.ConfigMap
		return out, m.configMapFiles(ctx, pod, s.Name, s.Items, s.Optional, s.DefaultMode, out)
	case src.Secret != nil:
		s := src.Secret
		return out, m.secretFiles(ctx, pod, s.SecretName, s.Items, s.Optional, s.DefaultMode, out)
	case src.DownwardAPI != nil:
		return out, m.downwardFiles(pod, src.DownwardAPI.Items, src.DownwardAPI.DefaultMode, addr, out)
	}
	p := src.Projected
	for _, s := range p.Sources {
		var err error
		switch {
		case s.ConfigMap != nil:
			err = m.configMapFiles(ctx, pod, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, p.DefaultMode, out)
		case s.Secret != nil:
			err = m.secretFiles(ctx, pod, s.Secret.Name, s.Secret.Items, s.Secret.Optional, p.DefaultMode, out)
		case s.DownwardAPI != nil:
			err = m.downwardFiles(pod, s.DownwardAPI.Items, p.DefaultMode, addr, out)
		case s.ServiceAccountToken != nil:
			var f file
			f, err = m.tokenFile(ctx, pod, s.ServiceAccountToken, p.DefaultMode)
			out[s.ServiceAccountToken.Path] = f
		default:
			err = fmt.Errorf("projected source type is not supported by the local node agent")
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (m *Materializer) configMapFiles(ctx context.Context, pod *corev1.Pod, name string, items []corev1.KeyToPath, optional *bool, defMode *int32, out map[string]file) error {
	data := map[string][]byte{}
	if name == "kube-root-ca.crt" {
		// The CA of the endpoint pods really talk to (see Materializer).
		data["ca.crt"] = m.ClusterCA
	} else {
		cm, err := m.Objects.ConfigMap(ctx, pod.Namespace, name)
		if err != nil {
			if isNotFound(err) && optional != nil && *optional {
				return nil
			}
			return fmt.Errorf("configmap %q: %w", name, err)
		}
		for k, v := range cm.Data {
			data[k] = []byte(v)
		}
		for k, v := range cm.BinaryData {
			data[k] = v
		}
	}
	return keyFiles("configmap", name, data, items, optional, defMode, out)
}

func (m *Materializer) secretFiles(ctx context.Context, pod *corev1.Pod, name string, items []corev1.KeyToPath, optional *bool, defMode *int32, out map[string]file) error {
	s, err := m.Objects.Secret(ctx, pod.Namespace, name)
	if err != nil {
		if isNotFound(err) && optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("secret %q: %w", name, err)
	}
	return keyFiles("secret", name, s.Data, items, optional, defMode, out)
}

// keyFiles maps keys to files: all keys by name, or only the listed items.
func keyFiles(kind, name string, data map[string][]byte, items []corev1.KeyToPath, optional *bool, defMode *int32, out map[string]file) error {
	if len(items) == 0 {
		for k, v := range data {
			out[k] = file{data: v, mode: mode(defMode, nil)}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return fmt.Errorf("%s %q has no key %q", kind, name, it.Key)
		}
		out[it.Path] = file{data: v, mode: mode(defMode, it.Mode)}
	}
	return nil
}

func (m *Materializer) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defMode *int32, addr podenv.Addresses, out map[string]file) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = podenv.FieldValue(pod, it.FieldRef.FieldPath, addr)
		case it.ResourceFieldRef != nil:
			v, err = m.resourceValue(pod, it.ResourceFieldRef)
		default:
			err = fmt.Errorf("downwardAPI item %q has no source", it.Path)
		}
		if err != nil {
			return err
		}
		out[it.Path] = file{data: []byte(v), mode: mode(defMode, it.Mode)}
	}
	return nil
}

func (m *Materializer) resourceValue(pod *corev1.Pod, ref *corev1.ResourceFieldSelector) (string, error) {
	for i := range pod.Spec.Containers {
		if c := &pod.Spec.Containers[i]; c.Name == ref.ContainerName {
			return podenv.ResourceValue(c, ref, m.Allocatable)
		}
	}
	return "", fmt.Errorf("resourceFieldRef names unknown container %q", ref.ContainerName)
}

func (m *Materializer) tokenFile(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection, defMode *int32) (file, error) {
	exp := int64(3600)
	if p.ExpirationSeconds != nil {
		exp = *p.ExpirationSeconds
	}
	tok, err := m.Tokens.Token(ctx, pod, p.Audience, exp)
	if err != nil {
		return file{}, fmt.Errorf("service account token: %w", err)
	}
	return file{data: []byte(tok), mode: mode(defMode, nil)}, nil
}

// RefreshTokens re-requests every projected service account token of the
// pod and swaps the files in place (the directories stay mounted).
func (m *Materializer) RefreshTokens(ctx context.Context, pod *corev1.Pod, podDir string) error {
	for _, v := range pod.Spec.Volumes {
		if v.Projected == nil {
			continue
		}
		for _, s := range v.Projected.Sources {
			if s.ServiceAccountToken == nil {
				continue
			}
			f, err := m.tokenFile(ctx, pod, s.ServiceAccountToken, v.Projected.DefaultMode)
			if err != nil {
				return err
			}
			if err := writeFile(filepath.Join(podDir, "volumes", v.Name), s.ServiceAccountToken.Path, f); err != nil {
				return err
			}
		}
	}
	return nil
}
