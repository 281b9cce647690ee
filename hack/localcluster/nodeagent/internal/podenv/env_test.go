package podenv

import (
	"context"
	"errors"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

type fakeSource struct {
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
}

func (f fakeSource) Secret(_ context.Context, _, name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (f fakeSource) ConfigMap(_ context.Context, _, name string) (*corev1.ConfigMap, error) {
	if c, ok := f.configMaps[name]; ok {
		return c, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

var src = fakeSource{
	secrets:    map[string]*corev1.Secret{"s": {Data: map[string][]byte{"token": []byte("sekret"), "k": []byte("from-secret")}}},
	configMaps: map[string]*corev1.ConfigMap{"cm": {Data: map[string]string{"mode": "fast", "k": "from-cm", "bad=key": "x"}}},
}

func testPod(c corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "u-1",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a/b": "c"}},
		Spec: corev1.PodSpec{NodeName: "local-0", ServiceAccountName: "sa", Containers: []corev1.Container{c}},
	}
}

func build(t *testing.T, c corev1.Container) (*Env, map[string]string, error) {
	t.Helper()
	pod := testPod(c)
	return Build(context.Background(), src, Input{
		Pod: pod, Container: &pod.Spec.Containers[0],
		Addresses:   Addresses{PodIP: "10.244.0.5", HostIP: "127.0.0.1"},
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("24Gi")},
		Base:        map[string]string{"PATH": "/bin", "IMG": "1"},
		Service:     ServiceEnv("127.0.0.1", 6443),
	})
}

func fieldRef(p string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
}

func TestBuildOrderAndExpansion(t *testing.T) {
	optional := true
	env, vars, err := build(t, corev1.Container{
		EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}},
			{Prefix: "S_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: &optional}},
		},
		Env: []corev1.EnvVar{
			{Name: "k", Value: "explicit-wins"},
			{Name: "URL", Value: "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)/$(mode)"},
			{Name: "LATER", Value: "$(EARLIER)"}, // not yet defined: left literal
			{Name: "EARLIER", Value: "e"},
			{Name: "IMG_REF", Value: "$(IMG)"}, // image env is not visible to $(VAR)
			{Name: "POD_IP", ValueFrom: fieldRef("status.podIP")},
			{Name: "APP", ValueFrom: fieldRef("metadata.labels['app']")},
			{Name: "ANN", ValueFrom: fieldRef("metadata.annotations['a/b']")},
			{Name: "NODE", ValueFrom: fieldRef("spec.nodeName")},
			{Name: "SA", ValueFrom: fieldRef("spec.serviceAccountName")},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"k": "explicit-wins", "mode": "fast", "S_token": "sekret", "S_k": "from-secret",
		"URL": "https://127.0.0.1:6443/fast", "LATER": "$(EARLIER)", "EARLIER": "e",
		"IMG_REF": "$(IMG)", "POD_IP": "10.244.0.5", "APP": "web", "ANN": "c",
		"NODE": "local-0", "SA": "sa", "KUBERNETES_PORT_6443_TCP_ADDR": "127.0.0.1",
	}
	for k, w := range want {
		if got, _ := env.Get(k); got != w {
			t.Errorf("%s = %q, want %q", k, got, w)
		}
	}
	if _, ok := vars["bad=key"]; ok {
		t.Error("keys with '=' must be skipped")
	}
	if _, ok := vars["PATH"]; ok {
		t.Error("image env leaked into $(VAR) mapping")
	}
	if list := env.List(); list[0] != "PATH=/bin" && list[1] != "PATH=/bin" {
		t.Errorf("image env should come first: %v", list[:2])
	}
}

func TestBuildOverridesImageEnv(t *testing.T) {
	env, _, err := build(t, corev1.Container{Env: []corev1.EnvVar{{Name: "PATH", Value: "/custom"}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := env.Get("PATH"); v != "/custom" {
		t.Fatalf("PATH = %q", v)
	}
	if n := len(slices.DeleteFunc(env.List(), func(s string) bool { return s[:5] != "PATH=" })); n != 1 {
		t.Fatalf("PATH appears %d times", n)
	}
}

func TestBuildMissingRefs(t *testing.T) {
	optional := true
	keyRef := func(name, key string, opt *bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: opt}}
	}
	cmRef := func(name, key string, opt *bool) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key, Optional: opt}}
	}
	env, _, err := build(t, corev1.Container{Env: []corev1.EnvVar{
		{Name: "A", ValueFrom: keyRef("gone", "x", &optional)},
		{Name: "B", ValueFrom: keyRef("s", "nokey", &optional)},
		{Name: "C", ValueFrom: cmRef("cm", "nokey", &optional)},
		{Name: "D", ValueFrom: cmRef("cm", "mode", nil)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"A", "B", "C"} {
		if _, ok := env.Get(k); ok {
			t.Errorf("%s should be unset", k)
		}
	}
	if v, _ := env.Get("D"); v != "fast" {
		t.Errorf("D = %q", v)
	}

	for _, bad := range []*corev1.EnvVarSource{keyRef("gone", "x", nil), keyRef("s", "nokey", nil), cmRef("nocm", "x", nil), fieldRef("metadata.labels"), fieldRef("spec.bogus")} {
		_, _, err := build(t, corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: bad}}})
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%+v: want ConfigError, got %v", bad, err)
		}
	}
}

func TestResourceFieldRef(t *testing.T) {
	c := corev1.Container{Resources: corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("100Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
	}}
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}
	cases := []struct {
		res, divisor, want string
	}{
		{"requests.cpu", "", "1"}, // 250m rounded up to whole cores
		{"requests.cpu", "1m", "250"},
		{"limits.cpu", "", "2"}, // unset limit: node allocatable
		{"limits.memory", "1Mi", "1024"},
		{"requests.memory", "", "104857600"},
	}
	for _, tc := range cases {
		sel := &corev1.ResourceFieldSelector{Resource: tc.res}
		if tc.divisor != "" {
			sel.Divisor = resource.MustParse(tc.divisor)
		}
		got, err := ResourceValue(&c, sel, alloc)
		if err != nil || got != tc.want {
			t.Errorf("%s/%s = %q, %v; want %q", tc.res, tc.divisor, got, err, tc.want)
		}
	}
	if _, err := ResourceValue(&c, &corev1.ResourceFieldSelector{Resource: "cpu"}, alloc); err == nil {
		t.Error("bad resource name should fail")
	}
}

func TestFormatMap(t *testing.T) {
	got := FormatMap(map[string]string{"b": "2", "a": `say "hi"`})
	if got != "a=\"say \\\"hi\\\"\"\nb=\"2\"" {
		t.Fatalf("got %q", got)
	}
}
