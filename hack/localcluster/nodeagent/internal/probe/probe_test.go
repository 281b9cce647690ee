package probe

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestHTTPAndTCP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && r.Header.Get("X-Probe") == "1" && r.Host == "example" {
			w.WriteHeader(200)
			return
		}
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "http://192.0.2.1/", http.StatusFound)
			return
		}
		w.WriteHeader(503)
	}))
	defer srv.Close()
	host, portStr, _ := net.SplitHostPort(srv.Listener.Addr().String())
	port, _ := strconv.Atoi(portStr)
	target := Target{PodIP: host, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	get := func(path string, hdr ...corev1.HTTPHeader) *corev1.ProbeHandler {
		return &corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http"), HTTPHeaders: hdr}}
	}
	ctx := context.Background()
	if ok, msg := Check(ctx, get("/healthz", corev1.HTTPHeader{Name: "X-Probe", Value: "1"}, corev1.HTTPHeader{Name: "Host", Value: "example"}), target, time.Second); !ok {
		t.Errorf("healthy endpoint failed: %s", msg)
	}
	if ok, _ := Check(ctx, get("/other"), target, time.Second); ok {
		t.Error("503 counted as success")
	}
	if ok, msg := Check(ctx, get("/moved"), target, time.Second); !ok {
		t.Errorf("redirect must count as success without being followed: %s", msg)
	}
	tcp := &corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(int32(port))}}
	if ok, msg := Check(ctx, tcp, target, time.Second); !ok {
		t.Errorf("tcp: %s", msg)
	}
	foreign := &corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Host: "192.0.2.1", Port: intstr.FromInt32(80)}}
	if ok, _ := Check(ctx, foreign, target, time.Second); ok {
		t.Error("probe to a foreign host must be refused")
	}
}

func TestResolvePort(t *testing.T) {
	ports := []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}}
	for in, want := range map[string]int{"metrics": 9090, "8080": 8080} {
		if got, err := ResolvePort(intstr.FromString(in), ports); err != nil || got != want {
			t.Errorf("%s: %d %v", in, got, err)
		}
	}
	if _, err := ResolvePort(intstr.FromString("nope"), ports); err == nil {
		t.Error("unknown name must fail")
	}
}

func TestLoopThresholds(t *testing.T) {
	results := []bool{false, false, true, true, false, false, false, true}
	i := 0
	check := func(context.Context, time.Duration) (bool, string) {
		r := results[i%len(results)]
		i++
		return r, "boom"
	}
	var got []bool
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p := Params{Period: time.Millisecond, Timeout: time.Second, SuccessThreshold: 2, FailureThreshold: 2}
	Loop(ctx, p, time.Now(), check, func(ok bool, _ string) bool {
		got = append(got, ok)
		return len(got) == 3
	})
	// fail,fail -> false; ok,ok -> true; fail,fail -> false.
	want := []bool{false, true, false}
	for j := range want {
		if got[j] != want[j] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
	if ParamsOf(&corev1.Probe{}).FailureThreshold != 3 || ParamsOf(&corev1.Probe{}).Period != 10*time.Second {
		t.Fatal("defaults")
	}
}
