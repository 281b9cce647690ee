// Package config loads the JSON file the local-cluster harness writes for
// each node agent. The harness owns the format; this package only parses
// and validates it so the rest of the agent can trust every field.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Config is the node agent's configuration, one file per node.
type Config struct {
	NodeName      string            `json:"nodeName"`
	Kubeconfig    string            `json:"kubeconfig"`
	StateDir      string            `json:"stateDir"`
	ListenAddress string            `json:"listenAddress"`
	ListenPort    int32             `json:"listenPort"`
	TLSCertFile   string            `json:"tlsCertFile"`
	TLSKeyFile    string            `json:"tlsKeyFile"`
	ClientCAFile  string            `json:"clientCAFile"`
	ClusterCAFile string            `json:"clusterCAFile"`
	Labels        map[string]string `json:"labels"`
	Taints        []corev1.Taint    `json:"taints"`
	Capacity      map[string]string `json:"capacity"`
	Bridge        string            `json:"bridge"`
	PodCIDR       string            `json:"podCIDR"`
	GatewayIP     string            `json:"gatewayIP"`
	APIServer     APIServer         `json:"apiServer"`
	Images        []Image           `json:"images"`
	CrashLoop     CrashLoopBackOff  `json:"crashLoopBackOff"`
}

// APIServer says how pods reach the API server: a listener on
// PodHost:PodPort inside each pod's network namespace forwards to
// HostAddress in the host namespace.
type APIServer struct {
	PodHost     string `json:"podHost"`
	PodPort     int32  `json:"podPort"`
	HostAddress string `json:"hostAddress"`
}

// Image maps image references (a glob) to a local environment, because
// there is no container engine: the "image" is whatever is on the host.
type Image struct {
	Pattern     string            `json:"pattern"`
	PathPrepend []string          `json:"pathPrepend"`
	Env         map[string]string `json:"env"`
	// HostPaths are host directories the environment lives in (a venv, an
	// editable checkout). Pods see the host's filesystem, so a volume mounted
	// over one of them (an emptyDir at /tmp hiding a checkout under /tmp)
	// would hide the program itself: such paths are bound back on top.
	HostPaths []string `json:"hostPaths,omitempty"`
}

// CrashLoopBackOff bounds the restart back-off, in seconds.
type CrashLoopBackOff struct {
	InitialSeconds int `json:"initialSeconds"`
	MaxSeconds     int `json:"maxSeconds"`
}

// Load reads and validates the config file at path.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var c Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("invalid %s: %w", path, err)
	}
	return &c, nil
}

// Validate checks that every required field is present and well formed.
func (c *Config) Validate() error {
	var errs []error
	required := map[string]string{
		"nodeName": c.NodeName, "kubeconfig": c.Kubeconfig, "stateDir": c.StateDir,
		"listenAddress": c.ListenAddress, "tlsCertFile": c.TLSCertFile,
		"tlsKeyFile": c.TLSKeyFile, "clientCAFile": c.ClientCAFile,
		"clusterCAFile": c.ClusterCAFile, "bridge": c.Bridge, "podCIDR": c.PodCIDR,
		"gatewayIP": c.GatewayIP, "apiServer.podHost": c.APIServer.PodHost,
		"apiServer.hostAddress": c.APIServer.HostAddress,
	}
	for name, v := range required {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
		}
	}
	if c.StateDir != "" && !filepath.IsAbs(c.StateDir) {
		errs = append(errs, fmt.Errorf("stateDir must be absolute"))
	}
	if c.ListenPort <= 0 || c.APIServer.PodPort <= 0 {
		errs = append(errs, fmt.Errorf("listenPort and apiServer.podPort must be positive"))
	}
	if net.ParseIP(c.ListenAddress) == nil {
		errs = append(errs, fmt.Errorf("listenAddress %q is not an IP", c.ListenAddress))
	}
	if _, cidr, err := net.ParseCIDR(c.PodCIDR); err != nil {
		errs = append(errs, fmt.Errorf("podCIDR: %w", err))
	} else if gw := net.ParseIP(c.GatewayIP); gw == nil || !cidr.Contains(gw) {
		errs = append(errs, fmt.Errorf("gatewayIP %q is not inside podCIDR %s", c.GatewayIP, c.PodCIDR))
	}
	for name, q := range c.Capacity {
		if _, err := resource.ParseQuantity(q); err != nil {
			errs = append(errs, fmt.Errorf("capacity %s: %w", name, err))
		}
	}
	if c.CrashLoop.InitialSeconds <= 0 || c.CrashLoop.MaxSeconds < c.CrashLoop.InitialSeconds {
		errs = append(errs, fmt.Errorf("crashLoopBackOff needs 0 < initialSeconds <= maxSeconds"))
	}
	return errors.Join(errs...)
}

// ResourceList converts Capacity to the API type.
func (c *Config) ResourceList() corev1.ResourceList {
	rl := corev1.ResourceList{}
	for name, q := range c.Capacity {
		rl[corev1.ResourceName(name)] = resource.MustParse(q)
	}
	return rl
}
