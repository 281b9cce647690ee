// Package pod runs one Kubernetes pod as local processes: a network
// namespace (the "sandbox"), volumes, init containers in order, then the
// app containers under kubelet-like restart, probe and back-off rules. It
// reports status through a callback and never talks to the pod controller
// itself; the provider package wires it to virtual-kubelet.
package pod

import (
	"context"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1listers "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/record"

	"modelplane.io/localcluster/nodeagent/internal/config"
	"modelplane.io/localcluster/nodeagent/internal/images"
	"modelplane.io/localcluster/nodeagent/internal/ipam"
	"modelplane.io/localcluster/nodeagent/internal/logs"
	"modelplane.io/localcluster/nodeagent/internal/netns"
	"modelplane.io/localcluster/nodeagent/internal/podenv"
	"modelplane.io/localcluster/nodeagent/internal/podexec"
	"modelplane.io/localcluster/nodeagent/internal/probe"
	"modelplane.io/localcluster/nodeagent/internal/volumes"
)

// Deps are the node-wide services every runner shares.
type Deps struct {
	Config      *config.Config
	Images      images.Table
	IPAM        *ipam.Allocator
	Volumes     *volumes.Materializer
	Objects     podenv.Source
	Pods        corev1listers.PodLister // latest API view, for conditions owned by others
	Recorder    record.EventRecorder
	Log         *slog.Logger
	Allocatable corev1.ResourceList
	// Notify receives every status change (the pod with its new status).
	Notify func(*corev1.Pod)
	// DeleteFromAPI removes the pod object once it is terminated.
	DeleteFromAPI func(ctx context.Context, pod *corev1.Pod) error
	// Gone is called when the runner has fully cleaned up after deletion.
	Gone func(r *Runner)
}

// Runner owns one pod. All mutable fields are guarded by mu.
type Runner struct {
	deps          *Deps
	log           *slog.Logger
	UID           string
	Namespace     string
	Name          string
	Dir           string
	nsName, veth  string
	ctx           context.Context // cancelled when the pod stops (no more restarts)
	cancel        context.CancelFunc
	sandboxCancel context.CancelFunc
	runDone       chan struct{} // closed when run returns
	finished      chan struct{} // closed after a deleted pod is cleaned up
	notifyMu      sync.Mutex

	mu           sync.Mutex
	pod          *corev1.Pod
	ip           net.IP
	sandboxReady bool
	volumes      map[string]volumes.Volume
	inits        []*container
	apps         []*container
	initialized  bool
	startTime    metav1.Time
	terminal     corev1.PodPhase // set once the pod will never run again
	reason       string
	message      string
	conditions   map[corev1.PodConditionType]corev1.PodCondition
	terminating  bool
	shutdown     bool
	deadline     time.Time
}

// New prepares a runner for pod; Start launches it.
func New(deps *Deps, pod *corev1.Pod) *Runner {
	pod = pod.DeepCopy()
	uid := string(pod.UID)
	nsName, veth := netns.Names(uid)
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{
		deps:       deps,
		log:        deps.Log.With("pod", pod.Namespace+"/"+pod.Name),
		UID:        uid,
		Namespace:  pod.Namespace,
		Name:       pod.Name,
		Dir:        logs.PodDir(deps.Config.StateDir, pod.Namespace, pod.Name, uid),
		nsName:     nsName,
		veth:       veth,
		ctx:        ctx,
		cancel:     cancel,
		runDone:    make(chan struct{}),
		finished:   make(chan struct{}),
		pod:        pod,
		conditions: map[corev1.PodConditionType]corev1.PodCondition{},
		startTime:  metav1.Now(),
	}
	if pod.Status.StartTime != nil {
		r.startTime = *pod.Status.StartTime
	}
	for _, c := range pod.Status.Conditions {
		r.conditions[c.Type] = c
	}
	recovered := recoveredState(pod, r.Dir)
	for i := range pod.Spec.InitContainers {
		c := newContainer(deps.Config, &pod.Spec.InitContainers[i], true, recovered)
		r.inits = append(r.inits, c)
	}
	for i := range pod.Spec.Containers {
		r.apps = append(r.apps, newContainer(deps.Config, &pod.Spec.Containers[i], false, recovered))
	}
	if podInitialized(pod) {
		r.initialized = true
		for _, c := range r.inits {
			c.markRecoveredDone(pod)
		}
	}
	return r
}

// Start runs the pod in the background.
func (r *Runner) Start() {
	_ = os.MkdirAll(r.Dir, 0o755)
	go r.run()
	r.changed()
}

// Pod returns the latest pod object with the current status.
func (r *Runner) Pod() *corev1.Pod {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pod.DeepCopy()
	p.Status = r.statusLocked()
	return p
}

// Update replaces the stored pod object (labels, annotations, deletion
// fields); its containers are immutable apart from the image.
func (r *Runner) Update(pod *corev1.Pod) {
	r.mu.Lock()
	r.pod = pod.DeepCopy()
	r.mu.Unlock()
	r.changed()
}

// Finished is closed once a deleted pod has been cleaned up.
func (r *Runner) Finished() <-chan struct{} { return r.finished }

// Terminating reports whether deletion has begun.
func (r *Runner) Terminating() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.terminating
}

func (r *Runner) run() {
	defer close(r.runDone)
	if !r.retry("FailedCreatePodSandBox", r.setupSandbox) {
		return
	}
	if !r.retry("FailedMount", r.prepareVolumes) {
		return
	}
	go r.refreshTokens()
	stopDeadline := r.watchActiveDeadline()
	defer stopDeadline()

	if !r.runInitContainers() {
		r.finish()
		return
	}
	var wg sync.WaitGroup
	for _, c := range r.apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.supervise(c)
		}()
	}
	wg.Wait()
	r.finish()
}

// retry runs step until it succeeds, backing off between attempts and
// reporting failures as events. It gives up only when the pod stops.
func (r *Runner) retry(reason string, step func() error) bool {
	delay := time.Second
	for {
		err := step()
		if err == nil {
			return true
		}
		if r.ctx.Err() != nil {
			return false
		}
		r.log.Warn("pod setup step failed", "reason", reason, "err", err)
		r.event(corev1.EventTypeWarning, reason, err.Error())
		if !probe.Sleep(r.ctx, delay) {
			return false
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// runInitContainers runs init containers one after another; it returns
// false if the pod failed or stopped before all of them completed.
func (r *Runner) runInitContainers() bool {
	r.mu.Lock()
	done := r.initialized
	r.mu.Unlock()
	if done {
		return true
	}
	for _, c := range r.inits {
		if c.sidecar {
			go r.supervise(c)
			if !r.waitStarted(c) {
				return false
			}
			continue
		}
		if !r.supervise(c) {
			return false
		}
	}
	r.mu.Lock()
	r.initialized = true
	r.mu.Unlock()
	r.changed()
	return true
}

func (r *Runner) waitStarted(c *container) bool {
	for {
		r.mu.Lock()
		started := c.started
		r.mu.Unlock()
		if started {
			return true
		}
		if !probe.Sleep(r.ctx, 200*time.Millisecond) {
			return false
		}
	}
}

// finish runs when no regular container will run again: it stops
// sidecars, settles the terminal phase and releases the sandbox.
func (r *Runner) finish() {
	if r.ctx.Err() != nil {
		return // deletion, deadline or shutdown owns the teardown
	}
	r.cancel() // sidecars must not restart once stopped
	r.stopContainers(r.inits, r.gracePeriod())
	r.mu.Lock()
	r.terminal = r.phaseLocked(true)
	r.mu.Unlock()
	r.teardownSandbox()
	r.changed()
}

// changed pushes the current status to the pod controller. Calls are
// serialized and each one reads the newest state, so an older status can
// never overtake a newer one.
func (r *Runner) changed() {
	go r.notifyNow()
}

func (r *Runner) notifyNow() {
	r.notifyMu.Lock()
	defer r.notifyMu.Unlock()
	r.mu.Lock()
	if r.shutdown {
		r.mu.Unlock()
		return
	}
	p := r.pod.DeepCopy()
	p.Status = r.statusLocked()
	r.mu.Unlock()
	if r.deps.Notify != nil {
		r.deps.Notify(p)
	}
}

func (r *Runner) event(kind, reason, msg string) {
	if r.deps.Recorder == nil {
		return
	}
	r.mu.Lock()
	ref := r.pod.DeepCopy()
	r.mu.Unlock()
	r.deps.Recorder.Event(ref, kind, reason, msg)
}

func (r *Runner) addressesLocked() podenv.Addresses {
	a := podenv.Addresses{HostIP: r.deps.Config.ListenAddress}
	if r.ip != nil {
		a.PodIP = r.ip.String()
	}
	return a
}

// Running reports whether the given instance of a container is running,
// which tells a following log reader when to stop.
func (r *Runner) Running(name string, instance int32) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range append(append([]*container(nil), r.inits...), r.apps...) {
		if c.spec.Name == name {
			return c.proc != nil && c.proc.instance == instance
		}
	}
	return false
}

// ExecSpec returns how the named container's current instance was started,
// for `kubectl exec`.
func (r *Runner) ExecSpec(name string) (podexec.Spec, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range append(append([]*container(nil), r.inits...), r.apps...) {
		if c.spec.Name == name && c.proc != nil && c.execSpec != nil {
			return *c.execSpec, true
		}
	}
	return podexec.Spec{}, false
}
