// Package provider adapts the pod runners to virtual-kubelet's
// PodLifecycleHandler and PodNotifier (the asynchronous flavour: runners
// push status changes, nothing is polled).
//
// Deletion, as virtual-kubelet expects it: when a pod gets a
// deletionTimestamp the pod controller calls DeletePod and, unless the pod
// is already gone, force-deletes the object itself after the grace period.
// DeletePod here returns at once; the runner stops the containers
// (preStop, signal, SIGKILL at the deadline), reports every container
// terminated through NotifyPods and then deletes the object with grace 0
// (UID precondition), as a kubelet does, so deletion does not always take
// the full grace period.
package provider

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"modelplane.io/localcluster/nodeagent/internal/logs"
	"modelplane.io/localcluster/nodeagent/internal/pod"
)

// Provider implements node.PodLifecycleHandler and node.PodNotifier.
type Provider struct {
	deps *pod.Deps
	log  *slog.Logger

	mu      sync.Mutex
	runners map[types.UID]*pod.Runner
	notify  func(*corev1.Pod)
}

// New creates the provider; it fills in deps' callbacks.
func New(deps *pod.Deps) *Provider {
	p := &Provider{deps: deps, log: deps.Log, runners: map[types.UID]*pod.Runner{}}
	deps.Notify = p.forward
	deps.Gone = p.gone
	return p
}

// NotifyPods registers virtual-kubelet's status callback.
func (p *Provider) NotifyPods(_ context.Context, cb func(*corev1.Pod)) {
	p.mu.Lock()
	p.notify = cb
	p.mu.Unlock()
}

func (p *Provider) forward(pd *corev1.Pod) {
	p.mu.Lock()
	cb := p.notify
	p.mu.Unlock()
	if cb != nil {
		cb(pd)
	}
}

func (p *Provider) gone(r *pod.Runner) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runners[types.UID(r.UID)] == r {
		delete(p.runners, types.UID(r.UID))
	}
}

// CreatePod starts running a pod.
func (p *Provider) CreatePod(_ context.Context, pd *corev1.Pod) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r, ok := p.runners[pd.UID]; ok {
		r.Update(pd)
		return nil
	}
	r := pod.New(p.deps, pd)
	p.runners[pd.UID] = r
	r.Start()
	p.log.Info("pod created", "pod", pd.Namespace+"/"+pd.Name, "uid", pd.UID)
	return nil
}

// UpdatePod records label, annotation and other metadata changes.
func (p *Provider) UpdatePod(_ context.Context, pd *corev1.Pod) error {
	p.mu.Lock()
	r, ok := p.runners[pd.UID]
	p.mu.Unlock()
	if !ok {
		return errdefs.NotFoundf("pod %s/%s is not running here", pd.Namespace, pd.Name)
	}
	r.Update(pd)
	return nil
}

// DeletePod starts graceful termination and returns immediately.
func (p *Provider) DeletePod(ctx context.Context, pd *corev1.Pod) error {
	p.mu.Lock()
	r, ok := p.runners[pd.UID]
	p.mu.Unlock()
	if !ok {
		// Nothing runs here (e.g. the agent restarted). Clean leftovers
		// and let the object go without waiting out its grace period.
		cleanupLeftovers(p.deps.Config.StateDir, pd)
		if pd.DeletionTimestamp != nil && p.deps.DeleteFromAPI != nil {
			if err := p.deps.DeleteFromAPI(ctx, pd); err != nil {
				p.log.Warn("delete pod object failed", "pod", pd.Namespace+"/"+pd.Name, "err", err)
			}
		}
		return nil
	}
	p.log.Info("pod deleting", "pod", pd.Namespace+"/"+pd.Name, "grace", gracePeriod(pd))
	r.Terminate(pd, gracePeriod(pd))
	return nil
}

// gracePeriod is the deletion grace period, falling back to the spec.
func gracePeriod(pd *corev1.Pod) time.Duration {
	switch {
	case pd.DeletionGracePeriodSeconds != nil:
		return time.Duration(*pd.DeletionGracePeriodSeconds) * time.Second
	case pd.Spec.TerminationGracePeriodSeconds != nil:
		return time.Duration(*pd.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// GetPod returns the running pod of that name. A terminating pod is not
// returned, and neither is one whose name now belongs to a newer pod
// (same name, new UID): that old runner is stopped, so the pod controller
// creates the new one instead of mistaking it for the old.
func (p *Provider) GetPod(_ context.Context, namespace, name string) (*corev1.Pod, error) {
	r := p.find(namespace, name, false)
	if r == nil {
		return nil, errdefs.NotFoundf("pod %s/%s not found", namespace, name)
	}
	if p.deps.Pods != nil {
		if cur, err := p.deps.Pods.Pods(namespace).Get(name); err == nil && string(cur.UID) != r.UID {
			old := r.Pod()
			r.Terminate(old, gracePeriod(old))
			return nil, errdefs.NotFoundf("pod %s/%s was replaced", namespace, name)
		}
	}
	return r.Pod(), nil
}

// GetPodStatus returns the current status of a pod.
func (p *Provider) GetPodStatus(ctx context.Context, namespace, name string) (*corev1.PodStatus, error) {
	pd, err := p.GetPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	return &pd.Status, nil
}

// GetPods lists every pod this node runs.
func (p *Provider) GetPods(context.Context) ([]*corev1.Pod, error) {
	p.mu.Lock()
	rs := make([]*pod.Runner, 0, len(p.runners))
	for _, r := range p.runners {
		rs = append(rs, r)
	}
	p.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.Pod())
	}
	return out, nil
}

// find returns the runner for namespace/name, preferring one that is not
// terminating; with includeTerminating=false only such a runner is found.
func (p *Provider) find(namespace, name string, includeTerminating bool) *pod.Runner {
	p.mu.Lock()
	defer p.mu.Unlock()
	var fallback *pod.Runner
	for _, r := range p.runners {
		if r.Namespace != namespace || r.Name != name {
			continue
		}
		if !r.Terminating() {
			return r
		}
		fallback = r
	}
	if includeTerminating {
		return fallback
	}
	return nil
}

// Shutdown stops every pod because the agent exits.
func (p *Provider) Shutdown(grace time.Duration) {
	p.mu.Lock()
	rs := make([]*pod.Runner, 0, len(p.runners))
	for _, r := range p.runners {
		rs = append(rs, r)
	}
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Shutdown(grace)
		}()
	}
	wg.Wait()
}

// GetContainerLogs serves a container's log file; it also works for
// finished pods and after an agent restart, since logs live on disk.
func (p *Provider) GetContainerLogs(ctx context.Context, namespace, podName, containerName string, opts api.ContainerLogOpts) (io.ReadCloser, error) {
	var dir string
	r := p.find(namespace, podName, true)
	switch {
	case r != nil:
		dir = r.Dir
	case p.deps.Pods != nil:
		cur, err := p.deps.Pods.Pods(namespace).Get(podName)
		if err != nil {
			return nil, errdefs.NotFoundf("pod %s/%s not found on this node", namespace, podName)
		}
		dir = logs.PodDir(p.deps.Config.StateDir, namespace, podName, string(cur.UID))
	default:
		return nil, errdefs.NotFoundf("pod %s/%s not found on this node", namespace, podName)
	}
	path, err := logs.Select(dir, containerName, opts.Previous)
	if err != nil {
		return nil, errdefs.AsNotFound(err)
	}
	instance, _ := strconv.Atoi(strings.TrimSuffix(filepath.Base(path), ".log"))
	active := func() bool { return r != nil && r.Running(containerName, int32(instance)) }
	return logs.Open(ctx, path, logs.Options{Tail: opts.Tail, LimitBytes: opts.LimitBytes, Follow: opts.Follow}, active)
}

// DeleteFromAPI removes a terminated pod object (grace 0, same UID only).
func DeleteFromAPI(delete func(ctx context.Context, namespace, name string, opts metav1.DeleteOptions) error) func(context.Context, *corev1.Pod) error {
	return func(ctx context.Context, pd *corev1.Pod) error {
		opts := *metav1.NewDeleteOptions(0)
		opts.Preconditions = metav1.NewUIDPreconditions(string(pd.UID))
		err := delete(ctx, pd.Namespace, pd.Name, opts)
		if err == nil || apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return fmt.Errorf("delete pod %s/%s: %w", pd.Namespace, pd.Name, err)
	}
}
