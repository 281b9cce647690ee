package provider

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"modelplane.io/localcluster/nodeagent/internal/logs"
	"modelplane.io/localcluster/nodeagent/internal/netns"
	"modelplane.io/localcluster/nodeagent/internal/pod"
)

// Recover runs once at startup, before the pod controller: the previous
// agent's processes died with it (Pdeathsig), but grandchildren, network
// namespaces and veths may remain. It removes them all (pods that still
// exist are set up again by CreatePod), keeps the IPs of pods that still
// exist so they come back on the same address, and deletes the state of
// pods that no longer exist.
func (p *Provider) Recover(ctx context.Context, apiPods []*corev1.Pod) {
	live := map[string]*corev1.Pod{}
	for _, pd := range apiPods {
		live[string(pd.UID)] = pd
	}
	ours := map[string]bool{} // namespace names known to belong to this node

	dirs, _ := filepath.Glob(filepath.Join(p.deps.Config.StateDir, "pods", "*"))
	for _, dir := range dirs {
		rec, err := pod.ReadRecord(dir)
		if err != nil {
			continue
		}
		ours[rec.NetNS] = true
		pod.KillNamespace(rec.NetNS)
		if err := netns.Teardown(ctx, rec.NetNS, rec.Veth); err != nil {
			p.log.Warn("stale network cleanup failed", "netns", rec.NetNS, "err", err)
		}
		pd, exists := live[rec.UID]
		if !exists {
			p.log.Info("removing state of a pod that no longer exists", "dir", dir)
			_ = os.RemoveAll(dir)
			continue
		}
		if !terminal(pd) {
			if ip := net.ParseIP(rec.IP); ip != nil {
				_ = p.deps.IPAM.Reserve(rec.UID, ip)
			}
		}
	}
	for _, pd := range apiPods {
		ns, _ := netns.Names(string(pd.UID))
		ours[ns] = true
		if ip := net.ParseIP(pd.Status.PodIP); ip != nil && !terminal(pd) {
			_ = p.deps.IPAM.Reserve(string(pd.UID), ip)
		}
	}

	// Namespaces without a state record: ours if their veth is on our
	// bridge or they carry the name of one of our pods. Others may belong
	// to another node agent on the same machine and are left alone.
	names, _ := netns.List()
	for _, name := range names {
		_, veth := netns.Names(strings.TrimPrefix(name, netns.Prefix))
		if !ours[name] && !onBridge(veth, p.deps.Config.Bridge) {
			continue
		}
		pod.KillNamespace(name)
		if err := netns.Teardown(ctx, name, veth); err != nil {
			p.log.Warn("stale network cleanup failed", "netns", name, "err", err)
		} else {
			p.log.Info("removed stale network namespace", "netns", name)
		}
	}
}

// GarbageCollect periodically removes state directories of pods that are
// neither running here nor known to the API (e.g. finished pods deleted
// while the agent was down).
func (p *Provider) GarbageCollect(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		known := map[string]bool{}
		if p.deps.Pods != nil {
			pods, err := p.deps.Pods.List(labels.Everything())
			if err != nil {
				continue
			}
			for _, pd := range pods {
				known[string(pd.UID)] = true
			}
		}
		p.mu.Lock()
		for uid := range p.runners {
			known[string(uid)] = true
		}
		p.mu.Unlock()
		dirs, _ := filepath.Glob(filepath.Join(p.deps.Config.StateDir, "pods", "*"))
		for _, dir := range dirs {
			if uid := dirUID(dir); uid != "" && !known[uid] {
				p.log.Info("removing state of a deleted pod", "dir", dir)
				_ = os.RemoveAll(dir)
			}
		}
	}
}

// cleanupLeftovers removes the namespace and state of a pod that has no
// runner.
func cleanupLeftovers(stateDir string, pd *corev1.Pod) {
	ns, veth := netns.Names(string(pd.UID))
	pod.KillNamespace(ns)
	_ = netns.Teardown(context.Background(), ns, veth)
	_ = os.RemoveAll(logs.PodDir(stateDir, pd.Namespace, pd.Name, string(pd.UID)))
}

// dirUID extracts the UID from <ns>_<name>_<uid>.
func dirUID(dir string) string {
	base := filepath.Base(dir)
	if i := strings.LastIndexByte(base, '_'); i >= 0 {
		return base[i+1:]
	}
	return ""
}

func onBridge(veth, bridge string) bool {
	target, err := os.Readlink(filepath.Join("/sys/class/net", veth, "master"))
	return err == nil && filepath.Base(target) == bridge
}

func terminal(pd *corev1.Pod) bool {
	return pd.Status.Phase == corev1.PodSucceeded || pd.Status.Phase == corev1.PodFailed
}
