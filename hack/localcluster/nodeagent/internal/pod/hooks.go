package pod

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"modelplane.io/localcluster/nodeagent/internal/podexec"
	"modelplane.io/localcluster/nodeagent/internal/probe"
)

// target builds the probe/hook target of an instance.
func (r *Runner) target(c *container) probe.Target {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := probe.Target{Ports: c.spec.Ports}
	if r.ip != nil {
		t.PodIP = r.ip.String()
	}
	spec := c.execSpec
	t.Exec = func(ctx context.Context, cmd []string, timeout time.Duration) ([]byte, error) {
		if spec == nil {
			return nil, fmt.Errorf("container is not running")
		}
		s := *spec
		s.Argv = cmd
		return podexec.Run(s, timeout)
	}
	return t
}

// startProbes runs the instance's startup probe, then its readiness and
// liveness probes, until the instance exits.
func (r *Runner) startProbes(c *container, p *process) {
	ctx, cancel := context.WithCancel(r.ctx)
	go func() {
		<-p.exited
		cancel()
	}()
	t := r.target(c)
	check := func(h *corev1.ProbeHandler) probe.CheckFunc {
		return func(ctx context.Context, timeout time.Duration) (bool, string) {
			return probe.Check(ctx, h, t, timeout)
		}
	}
	afterStartup := func() {
		if rp := c.spec.ReadinessProbe; rp != nil {
			go probe.Loop(ctx, probe.ParamsOf(rp), p.started, check(&rp.ProbeHandler), func(ok bool, msg string) bool {
				r.mu.Lock()
				c.ready = ok
				r.mu.Unlock()
				r.changed()
				if !ok {
					r.event(corev1.EventTypeWarning, "Unhealthy", "Readiness probe failed: "+msg)
				}
				return false
			})
		}
		if lp := c.spec.LivenessProbe; lp != nil {
			go probe.Loop(ctx, probe.ParamsOf(lp), p.started, check(&lp.ProbeHandler), func(ok bool, msg string) bool {
				if ok {
					return false
				}
				r.event(corev1.EventTypeWarning, "Unhealthy", "Liveness probe failed: "+msg)
				r.event(corev1.EventTypeNormal, "Killing", fmt.Sprintf("Container %s failed liveness probe, will be restarted", c.spec.Name))
				go r.stopInstance(c, p, r.probeGrace(lp), "liveness probe failed")
				return true
			})
		}
	}
	sp := c.spec.StartupProbe
	if sp == nil {
		afterStartup()
		return
	}
	go probe.Loop(ctx, probe.ParamsOf(sp), p.started, check(&sp.ProbeHandler), func(ok bool, msg string) bool {
		if !ok {
			r.event(corev1.EventTypeWarning, "Unhealthy", "Startup probe failed: "+msg)
			r.event(corev1.EventTypeNormal, "Killing", fmt.Sprintf("Container %s failed startup probe, will be restarted", c.spec.Name))
			go r.stopInstance(c, p, r.probeGrace(sp), "startup probe failed")
			return true
		}
		r.mu.Lock()
		c.started = true
		c.ready = c.spec.ReadinessProbe == nil
		r.mu.Unlock()
		r.changed()
		afterStartup()
		return true
	})
}

// runPostStart runs the postStart hook; if it fails the instance is
// killed, as the kubelet does.
func (r *Runner) runPostStart(c *container, p *process) {
	if c.spec.Lifecycle == nil || c.spec.Lifecycle.PostStart == nil {
		return
	}
	go func() {
		if err := r.runHook(c, c.spec.Lifecycle.PostStart, r.gracePeriod()); err != nil {
			r.event(corev1.EventTypeWarning, "FailedPostStartHook", err.Error())
			r.stopInstance(c, p, r.gracePeriod(), "postStart hook failed")
		}
	}()
}

// runHook runs a lifecycle handler within timeout.
func (r *Runner) runHook(c *container, h *corev1.LifecycleHandler, timeout time.Duration) error {
	if timeout <= 0 {
		return fmt.Errorf("no time left for the hook")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if h.Sleep != nil {
		probe.Sleep(ctx, time.Duration(h.Sleep.Seconds)*time.Second)
		return nil
	}
	ph := &corev1.ProbeHandler{Exec: h.Exec, HTTPGet: h.HTTPGet, TCPSocket: h.TCPSocket}
	if ok, msg := probe.Check(ctx, ph, r.target(c), timeout); !ok {
		return fmt.Errorf("hook failed: %s", msg)
	}
	return nil
}

// stopInstance stops one running instance: preStop hook (its time counts
// against grace), the stop signal to the process group, SIGKILL when grace
// runs out. It returns when the instance has exited.
func (r *Runner) stopInstance(c *container, p *process, grace time.Duration, why string) {
	deadline := time.Now().Add(grace)
	r.mu.Lock()
	if p.killedFor == "" {
		p.killedFor = why
	}
	r.mu.Unlock()
	if c.spec.Lifecycle != nil && c.spec.Lifecycle.PreStop != nil {
		done := make(chan error, 1)
		go func() { done <- r.runHook(c, c.spec.Lifecycle.PreStop, time.Until(deadline)) }()
		select {
		case err := <-done:
			if err != nil {
				r.event(corev1.EventTypeWarning, "FailedPreStopHook", err.Error())
			}
		case <-p.exited:
		}
	}
	// Like the kubelet, leave the process at least 2s after a slow hook.
	deadline = later(deadline, time.Now().Add(2*time.Second))
	r.signal(p, r.stopSignal(c))
	for {
		left := time.Until(r.effectiveDeadline(deadline))
		if left <= 0 {
			r.signal(p, "SIGKILL")
			<-p.exited
			return
		}
		select {
		case <-p.exited:
			return
		case <-time.After(min(left, 250*time.Millisecond)): // re-check: deletion may shorten grace
		}
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// effectiveDeadline is the earlier of an instance's own deadline and the
// pod's deletion deadline.
func (r *Runner) effectiveDeadline(own time.Time) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.terminating && r.deadline.Before(own) {
		return r.deadline
	}
	return own
}

// signal sends sig to the instance's process group.
func (r *Runner) signal(p *process, sig string) {
	if p.pid <= 0 {
		return
	}
	s := unix.SignalNum(sig)
	if s == 0 {
		s = syscall.SIGTERM
	}
	_ = syscall.Kill(-p.pid, s)
}

func (r *Runner) stopSignal(c *container) string {
	if c.spec.Lifecycle != nil && c.spec.Lifecycle.StopSignal != nil {
		return string(*c.spec.Lifecycle.StopSignal)
	}
	return "SIGTERM"
}

// gracePeriod is the pod's terminationGracePeriodSeconds (default 30s).
func (r *Runner) gracePeriod() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := r.pod.Spec.TerminationGracePeriodSeconds; g != nil {
		return time.Duration(*g) * time.Second
	}
	return 30 * time.Second
}

func (r *Runner) probeGrace(p *corev1.Probe) time.Duration {
	if p.TerminationGracePeriodSeconds != nil {
		return time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
	}
	return r.gracePeriod()
}
