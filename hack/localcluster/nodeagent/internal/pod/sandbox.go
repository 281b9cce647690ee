package pod

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"time"

	"modelplane.io/localcluster/nodeagent/internal/apiproxy"
	"modelplane.io/localcluster/nodeagent/internal/netns"
)

// Record is the pod's state file, read back after an agent restart to
// recover its IP and to find namespaces and directories to clean up.
type Record struct {
	UID       string `json:"uid"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	IP        string `json:"ip,omitempty"`
	NetNS     string `json:"netns"`
	Veth      string `json:"veth"`
}

// RecordFile is the state file's name inside the pod directory.
const RecordFile = "pod.json"

// setupSandbox gives the pod its IP, network namespace, /etc/hosts and API
// forwarder. The IP is written to the state record first so that a crash
// half-way still leaves enough behind for Recover to clean up.
func (r *Runner) setupSandbox() error {
	owner := r.UID
	r.mu.Lock()
	previousIP := r.pod.Status.PodIP
	r.mu.Unlock()
	if ip := net.ParseIP(previousIP); ip != nil {
		_ = r.deps.IPAM.Reserve(owner, ip) // keep the IP across agent restarts when still free
	}
	ip, err := r.deps.IPAM.Allocate(owner)
	if err != nil {
		return err
	}
	rec := Record{UID: r.UID, Namespace: r.Namespace, Name: r.Name, IP: ip.String(), NetNS: r.nsName, Veth: r.veth}
	if err := writeRecord(r.Dir, rec); err != nil {
		return err
	}
	r.mu.Lock()
	aliases := r.pod.Spec.HostAliases
	r.mu.Unlock()
	if err := writeHosts(r.Dir, ip.String(), r.Name, aliases); err != nil {
		return err
	}
	cfg := r.deps.Config
	if err := netns.Setup(r.ctx, netns.Spec{Name: r.nsName, Veth: r.veth, Bridge: cfg.Bridge, IP: ip, PrefixLen: r.deps.IPAM.PrefixLen()}); err != nil {
		return err
	}
	l, err := netns.ListenTCP(r.nsName, net.JoinHostPort(cfg.APIServer.PodHost, itoa(cfg.APIServer.PodPort)))
	if err != nil {
		_ = netns.Teardown(context.Background(), r.nsName, r.veth)
		return err
	}
	sctx, cancel := context.WithCancel(context.Background())
	go apiproxy.Serve(sctx, l, cfg.APIServer.HostAddress, r.log)

	r.mu.Lock()
	r.ip = ip
	r.sandboxReady = true
	r.sandboxCancel = cancel
	r.mu.Unlock()
	r.changed()
	return nil
}

func (r *Runner) prepareVolumes() error {
	r.mu.Lock()
	pod := r.pod.DeepCopy()
	addr := r.addressesLocked()
	r.mu.Unlock()
	vols, err := r.deps.Volumes.Prepare(r.ctx, pod, r.Dir, addr)
	if err != nil {
		return err
	}
	r.mu.Lock()
	r.volumes = vols
	r.mu.Unlock()
	return nil
}

// refreshTokens re-issues projected service account tokens well before
// the default one-hour expiry.
func (r *Runner) refreshTokens() {
	t := time.NewTicker(20 * time.Minute)
	defer t.Stop()
	for {
		select {
		case <-r.ctx.Done():
			return
		case <-t.C:
			r.mu.Lock()
			pod := r.pod.DeepCopy()
			r.mu.Unlock()
			if err := r.deps.Volumes.RefreshTokens(r.ctx, pod, r.Dir); err != nil {
				r.log.Warn("token refresh failed", "err", err)
			}
		}
	}
}

func writeRecord(dir string, rec Record) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(rec, "", "  ")
	return os.WriteFile(filepath.Join(dir, RecordFile), b, 0o600)
}

// ReadRecord loads a pod directory's state file.
func ReadRecord(dir string) (*Record, error) {
	b, err := os.ReadFile(filepath.Join(dir, RecordFile))
	if err != nil {
		return nil, err
	}
	var rec Record
	return &rec, json.Unmarshal(b, &rec)
}
