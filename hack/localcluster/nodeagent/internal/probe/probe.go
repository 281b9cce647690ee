// Package probe runs Kubernetes probes against a pod: httpGet and
// tcpSocket from the host namespace to the pod IP over the bridge, exec
// inside the pod through a callback. Only the pod IP and loopback are ever
// dialled, so a probe cannot send traffic off the machine.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Target is what a probe handler runs against.
type Target struct {
	PodIP string
	Ports []corev1.ContainerPort // for named ports
	// Exec runs a command in the container's namespaces.
	Exec func(ctx context.Context, cmd []string, timeout time.Duration) ([]byte, error)
}

// Check runs a handler once. ok=false comes with a human-readable reason.
func Check(ctx context.Context, h *corev1.ProbeHandler, t Target, timeout time.Duration) (ok bool, msg string) {
	switch {
	case h.Exec != nil:
		out, err := t.Exec(ctx, h.Exec.Command, timeout)
		if err != nil {
			return false, strings.TrimSpace(fmt.Sprintf("%v: %s", err, out))
		}
		return true, ""
	case h.HTTPGet != nil:
		return checkHTTP(ctx, h.HTTPGet, t, timeout)
	case h.TCPSocket != nil:
		host, err := dialHost(h.TCPSocket.Host, t.PodIP)
		if err != nil {
			return false, err.Error()
		}
		port, err := ResolvePort(h.TCPSocket.Port, t.Ports)
		if err != nil {
			return false, err.Error()
		}
		d := net.Dialer{Timeout: timeout}
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return false, err.Error()
		}
		c.Close()
		return true, ""
	case h.GRPC != nil:
		return false, "grpc probes are not supported by the local node agent"
	}
	return false, "probe has no handler"
}

func checkHTTP(ctx context.Context, g *corev1.HTTPGetAction, t Target, timeout time.Duration) (bool, string) {
	host, err := dialHost(g.Host, t.PodIP)
	if err != nil {
		return false, err.Error()
	}
	port, err := ResolvePort(g.Port, t.Ports)
	if err != nil {
		return false, err.Error()
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	if u, err = u.Parse(path); err != nil {
		return false, err.Error()
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("User-Agent", "kube-probe/1.36")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Set(h.Name, h.Value)
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 10*1024))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return true, ""
	}
	return false, fmt.Sprintf("HTTP probe failed with statuscode: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
}

// client never uses proxy settings from the environment and never follows
// redirects (a 3xx counts as success, as in the kubelet), so it only ever
// talks to the address it was given.
var client = &http.Client{
	Transport: &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // kubelet probes skip verification too
	},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// dialHost allows the pod IP (the default) and loopback only.
func dialHost(host, podIP string) (string, error) {
	if host == "" || host == podIP {
		if podIP == "" {
			return "", errors.New("pod has no IP yet")
		}
		return podIP, nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return host, nil
	}
	return "", fmt.Errorf("probe host %q refused: the local node agent only probes the pod IP or loopback", host)
}

// ResolvePort turns a number or a named container port into a port number.
func ResolvePort(p intstr.IntOrString, ports []corev1.ContainerPort) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	for _, cp := range ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("port %q not found in the container's ports", p.StrVal)
}
