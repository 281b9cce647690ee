// Package podenv builds a container's environment the way the kubelet
// does: service variables, envFrom, then env (each value $(VAR)-expanded
// against what came before), with valueFrom resolved from Secrets,
// ConfigMaps, the downward API and resource fields.
package podenv

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"modelplane.io/localcluster/nodeagent/internal/expand"
)

// Source reads the objects a pod references. Implementations return a
// Kubernetes NotFound error for missing objects so optional refs work.
type Source interface {
	Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error)
	ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error)
}

// ConfigError is a problem in the pod's configuration (a missing Secret or
// key, a bad fieldRef). The kubelet reports it as
// waiting.reason=CreateContainerConfigError and retries.
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

func configErrorf(format string, args ...any) error {
	return &ConfigError{Msg: fmt.Sprintf(format, args...)}
}

// Input is everything needed to build one container's environment.
type Input struct {
	Pod         *corev1.Pod
	Container   *corev1.Container
	Addresses   Addresses
	Allocatable corev1.ResourceList
	// Base comes from the image table (PATH, image env). It is applied
	// first and, as with a real image's env, is not visible to $(VAR).
	Base map[string]string
	// Service holds the KUBERNETES_* variables.
	Service map[string]string
}

// Env is an ordered environment where later Set calls win.
type Env struct {
	keys []string
	vals map[string]string
}

// Set defines or overrides a variable, keeping first-definition order.
func (e *Env) Set(k, v string) {
	if e.vals == nil {
		e.vals = map[string]string{}
	}
	if _, ok := e.vals[k]; !ok {
		e.keys = append(e.keys, k)
	}
	e.vals[k] = v
}

// Get returns a variable's value.
func (e *Env) Get(k string) (string, bool) { v, ok := e.vals[k]; return v, ok }

// List renders KEY=VALUE pairs for execve.
func (e *Env) List() []string {
	out := make([]string, len(e.keys))
	for i, k := range e.keys {
		out[i] = k + "=" + e.vals[k]
	}
	return out
}

// Build resolves the environment. vars is what $(VAR) in command, args and
// subPathExpr may reference (everything but Base, as in the kubelet).
func Build(ctx context.Context, src Source, in Input) (env *Env, vars map[string]string, err error) {
	vars = map[string]string{}
	for k, v := range in.Service {
		vars[k] = v
	}
	ns := in.Pod.Namespace
	c := in.Container

	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := src.ConfigMap(ctx, ns, from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, nil, configErrorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			data = cm.Data
		case from.SecretRef != nil:
			s, err := src.Secret(ctx, ns, from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && isTrue(from.SecretRef.Optional) {
					continue
				}
				return nil, nil, configErrorf("secret %q not found", from.SecretRef.Name)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		for k, v := range data {
			if k = from.Prefix + k; k != "" && !strings.Contains(k, "=") {
				vars[k] = v
			}
		}
	}

	lookup := expand.Maps(vars)
	for i := range c.Env {
		ev := &c.Env[i]
		if ev.ValueFrom == nil {
			vars[ev.Name] = expand.Expand(ev.Value, lookup)
			continue
		}
		v, ok, err := valueFrom(ctx, src, in, ev.ValueFrom)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			vars[ev.Name] = v
		}
	}

	env = &Env{}
	for k, v := range in.Base {
		env.Set(k, v)
	}
	for _, k := range sortedKeys(vars) {
		env.Set(k, vars[k])
	}
	return env, vars, nil
}

// valueFrom resolves one env var source; ok=false means an optional
// reference was missing and the variable is left unset.
func valueFrom(ctx context.Context, src Source, in Input, from *corev1.EnvVarSource) (string, bool, error) {
	ns := in.Pod.Namespace
	switch {
	case from.FieldRef != nil:
		path := from.FieldRef.FieldPath
		if path == "metadata.labels" || path == "metadata.annotations" {
			return "", false, configErrorf("fieldRef %q is only supported in downwardAPI volumes", path)
		}
		v, err := FieldValue(in.Pod, path, in.Addresses)
		if err != nil {
			return "", false, &ConfigError{Msg: err.Error()}
		}
		return v, true, nil
	case from.ResourceFieldRef != nil:
		v, err := ResourceValue(in.Container, from.ResourceFieldRef, in.Allocatable)
		if err != nil {
			return "", false, &ConfigError{Msg: err.Error()}
		}
		return v, true, nil
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, err := src.ConfigMap(ctx, ns, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, configErrorf("configmap %q not found", ref.Name)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), true, nil
		}
		if isTrue(ref.Optional) {
			return "", false, nil
		}
		return "", false, configErrorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, ns, ref.Name)
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		s, err := src.Secret(ctx, ns, ref.Name)
		if err != nil {
			if apierrors.IsNotFound(err) && isTrue(ref.Optional) {
				return "", false, nil
			}
			return "", false, configErrorf("secret %q not found", ref.Name)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if isTrue(ref.Optional) {
			return "", false, nil
		}
		return "", false, configErrorf("couldn't find key %s in Secret %s/%s", ref.Key, ns, ref.Name)
	}
	return "", false, configErrorf("unsupported env valueFrom")
}

// ServiceEnv is the KUBERNETES_* set the kubelet gives every container for
// the default/kubernetes Service, pointed at the in-netns API forwarder.
// Other Services' link variables are deliberately not injected: their
// ClusterIPs are unreachable here, and names like VLLM_PORT would clash.
func ServiceEnv(host string, port int32) map[string]string {
	p := strconv.Itoa(int(port))
	url := "tcp://" + host + ":" + p
	prefix := "KUBERNETES_PORT_" + p + "_TCP"
	return map[string]string{
		"KUBERNETES_SERVICE_HOST":       host,
		"KUBERNETES_SERVICE_PORT":       p,
		"KUBERNETES_SERVICE_PORT_HTTPS": p,
		"KUBERNETES_PORT":               url,
		prefix:                          url,
		prefix + "_PROTO":               "tcp",
		prefix + "_PORT":                p,
		prefix + "_ADDR":                host,
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
