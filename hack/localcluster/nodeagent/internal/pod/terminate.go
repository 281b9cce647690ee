package pod

import (
	"context"
	"os"
	"sync"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"

	"modelplane.io/localcluster/nodeagent/internal/netns"
)

// Terminate starts graceful deletion: no more restarts, preStop hooks,
// the stop signal, SIGKILL when grace runs out, then everything left in
// the namespace is killed, the final status reported, the pod object
// removed from the API (if it was deleted there) and the state directory
// deleted. Calling it again can only shorten the grace period.
func (r *Runner) Terminate(pod *corev1.Pod, grace time.Duration) {
	r.mu.Lock()
	if pod != nil && pod.UID == r.pod.UID {
		r.pod = pod.DeepCopy()
	}
	deadline := time.Now().Add(grace)
	if r.terminating {
		if deadline.Before(r.deadline) {
			r.deadline = deadline
		}
		r.mu.Unlock()
		return
	}
	r.terminating, r.deadline = true, deadline
	r.mu.Unlock()
	r.cancel()
	go r.terminate(grace)
}

func (r *Runner) terminate(grace time.Duration) {
	r.event(corev1.EventTypeNormal, "Killing", "Stopping pod "+r.Name)
	r.stopContainers(append(append([]*container(nil), r.apps...), r.inits...), grace)
	r.awaitRun(grace + 5*time.Second)
	r.teardownSandbox()

	r.mu.Lock()
	if r.terminal == "" {
		r.terminal = r.phaseLocked(true)
	}
	pod := r.pod.DeepCopy()
	r.mu.Unlock()
	r.notifyNow()

	if pod.DeletionTimestamp != nil && r.deps.DeleteFromAPI != nil {
		// As the kubelet does: once everything has stopped, remove the
		// object right away instead of waiting out the grace period.
		for i := 0; i < 3; i++ {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := r.deps.DeleteFromAPI(ctx, pod)
			cancel()
			if err == nil {
				break
			}
			r.log.Warn("delete pod object failed", "err", err)
			time.Sleep(time.Second)
		}
	}
	if err := os.RemoveAll(r.Dir); err != nil {
		r.log.Warn("remove pod directory failed", "err", err)
	}
	close(r.finished)
	if r.deps.Gone != nil {
		r.deps.Gone(r)
	}
}

// Shutdown stops the pod because the agent is exiting: a short SIGTERM
// grace, then SIGKILL, and the network is removed. Nothing is reported and
// the state directory stays, so a restarted agent can bring the pod back.
func (r *Runner) Shutdown(grace time.Duration) {
	r.mu.Lock()
	r.shutdown, r.terminating = true, true
	r.deadline = time.Now().Add(grace)
	var procs []*process
	for _, c := range append(append([]*container(nil), r.apps...), r.inits...) {
		if c.proc != nil {
			procs = append(procs, c.proc)
		}
	}
	r.mu.Unlock()
	r.cancel()
	for _, p := range procs {
		r.signal(p, "SIGTERM")
	}
	r.awaitRun(grace)
	r.teardownSandbox()
}

// stopContainers stops all running instances of cs in parallel.
func (r *Runner) stopContainers(cs []*container, grace time.Duration) {
	var wg sync.WaitGroup
	r.mu.Lock()
	for _, c := range cs {
		if p := c.proc; p != nil {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.stopInstance(c, p, grace, "pod stopping")
			}()
		}
	}
	r.mu.Unlock()
	wg.Wait()
}

// awaitRun waits for the run loop to end; processes that outlive wait
// (grandchildren that left the process group, say) are killed through
// the namespace.
func (r *Runner) awaitRun(wait time.Duration) {
	select {
	case <-r.runDone:
		return
	case <-time.After(wait):
	}
	_, _ = netns.KillAll(r.nsName, syscall.SIGKILL)
	select {
	case <-r.runDone:
	case <-time.After(10 * time.Second):
		r.log.Warn("pod run loop did not finish after SIGKILL")
	}
}

// teardownSandbox kills whatever still runs in the pod's namespace, then
// removes the veth and namespace and frees the IP. It is idempotent.
func (r *Runner) teardownSandbox() {
	r.mu.Lock()
	cancel := r.sandboxCancel
	r.sandboxCancel = nil
	r.sandboxReady = false
	r.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	KillNamespace(r.nsName)
	if err := netns.Teardown(context.Background(), r.nsName, r.veth); err != nil {
		r.log.Warn("network teardown failed", "err", err)
	}
	r.deps.IPAM.Release(r.UID)
}

// KillNamespace SIGKILLs every process in the namespace and waits (up to a
// few seconds) until none is left.
func KillNamespace(name string) {
	for i := 0; i < 50; i++ {
		n, err := netns.KillAll(name, syscall.SIGKILL)
		if n == 0 || err != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// watchActiveDeadline enforces spec.activeDeadlineSeconds.
func (r *Runner) watchActiveDeadline() (stop func()) {
	r.mu.Lock()
	ads := r.pod.Spec.ActiveDeadlineSeconds
	start := r.startTime.Time
	r.mu.Unlock()
	if ads == nil {
		return func() {}
	}
	t := time.AfterFunc(time.Until(start.Add(time.Duration(*ads)*time.Second)), r.deadlineExceeded)
	return func() { t.Stop() }
}

func (r *Runner) deadlineExceeded() {
	const msg = "Pod was active on the node longer than the specified deadline"
	r.mu.Lock()
	if r.terminating || r.terminal != "" {
		r.mu.Unlock()
		return
	}
	r.reason, r.message = "DeadlineExceeded", msg
	r.mu.Unlock()
	r.event(corev1.EventTypeNormal, "DeadlineExceeded", msg)
	r.cancel()
	grace := r.gracePeriod()
	r.stopContainers(append(append([]*container(nil), r.apps...), r.inits...), grace)
	r.awaitRun(grace + 5*time.Second)
	r.mu.Lock()
	r.terminal = corev1.PodFailed
	r.mu.Unlock()
	r.teardownSandbox()
	r.changed()
}
