package volumes

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"modelplane.io/localcluster/nodeagent/internal/podenv"
)

type objects struct{}

func (objects) Secret(_ context.Context, _, name string) (*corev1.Secret, error) {
	if name == "creds" {
		return &corev1.Secret{Data: map[string][]byte{"user": []byte("u"), "pass": []byte("p")}}, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

func (objects) ConfigMap(_ context.Context, _, name string) (*corev1.ConfigMap, error) {
	if name == "cfg" {
		return &corev1.ConfigMap{Data: map[string]string{"a.yaml": "a: 1", "b": "2"}}, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, name)
}

type tokens struct{ n int }

func (t *tokens) Token(_ context.Context, pod *corev1.Pod, aud string, exp int64) (string, error) {
	t.n++
	return "token-for-" + pod.Name + "-" + aud, nil
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestPrepare(t *testing.T) {
	state := t.TempDir()
	podDir := filepath.Join(state, "pods", "p")
	optional := true
	mode := int32(0o600)
	exp := int64(3607)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Volumes: []corev1.Volume{
			{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "models"}}},
			{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
				Items:                []corev1.KeyToPath{{Key: "a.yaml", Path: "conf/app.yaml", Mode: &mode}}}}},
			{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
			{Name: "maybe", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "absent", Optional: &optional}}},
			{Name: "kube-api-access-x", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &exp}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
					Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
			}}}},
			{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
		}},
	}
	tk := &tokens{}
	m := &Materializer{StateDir: state, ClusterCA: []byte("CA"), Objects: objects{}, Tokens: tk}
	vols, err := m.Prepare(context.Background(), pod, podDir, podenv.Addresses{})
	if err != nil {
		t.Fatal(err)
	}
	if got := vols["data"].Path; got != filepath.Join(state, "pvcs", "ns", "models") {
		t.Errorf("pvc path %s", got)
	}
	if st, err := os.Stat(vols["scratch"].Path); err != nil || !st.IsDir() {
		t.Errorf("emptyDir missing: %v", err)
	}
	cfg := filepath.Join(vols["cfg"].Path, "conf", "app.yaml")
	if read(t, cfg) != "a: 1" {
		t.Error("configmap item content")
	}
	if st, _ := os.Stat(cfg); st.Mode().Perm() != 0o600 {
		t.Errorf("item mode %v", st.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(vols["cfg"].Path, "b")); err == nil {
		t.Error("unlisted key written")
	}
	if read(t, filepath.Join(vols["creds"].Path, "pass")) != "p" {
		t.Error("secret content")
	}
	sa := vols["kube-api-access-x"].Path
	if read(t, filepath.Join(sa, "token")) != "token-for-web-" || read(t, filepath.Join(sa, "ca.crt")) != "CA" || read(t, filepath.Join(sa, "namespace")) != "ns" {
		t.Error("service account volume content")
	}
	if read(t, filepath.Join(vols["info"].Path, "labels")) != `app="web"` {
		t.Error("downward labels")
	}
	if !vols["creds"].ReadOnly || vols["scratch"].ReadOnly {
		t.Error("read-only flags")
	}
	if err := m.RefreshTokens(context.Background(), pod, podDir); err != nil || tk.n != 2 {
		t.Fatalf("refresh: %v, %d requests", err, tk.n)
	}

	pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: "bad", VolumeSource: corev1.VolumeSource{
		Secret: &corev1.SecretVolumeSource{SecretName: "absent"}}})
	if _, err := m.Prepare(context.Background(), pod, podDir, podenv.Addresses{}); err == nil {
		t.Fatal("missing non-optional secret must fail")
	}
}
