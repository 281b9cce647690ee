package pod

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"modelplane.io/localcluster/nodeagent/internal/backoff"
	"modelplane.io/localcluster/nodeagent/internal/config"
	"modelplane.io/localcluster/nodeagent/internal/expand"
	"modelplane.io/localcluster/nodeagent/internal/images"
	"modelplane.io/localcluster/nodeagent/internal/logs"
	"modelplane.io/localcluster/nodeagent/internal/netns"
	"modelplane.io/localcluster/nodeagent/internal/podenv"
	"modelplane.io/localcluster/nodeagent/internal/podexec"
	"modelplane.io/localcluster/nodeagent/internal/probe"
)

// container is one container of the pod across all its restarts. Fields
// are guarded by the runner's mu.
type container struct {
	spec    *corev1.Container
	init    bool
	sidecar bool // init container with restartPolicy Always
	backoff *backoff.Backoff

	restartCount int32 // also the number of the current or next instance
	state        corev1.ContainerState
	lastState    corev1.ContainerState
	ready        bool
	started      bool
	imageID      string
	containerID  string
	proc         *process
	execSpec     *podexec.Spec // how the current instance was started, for exec probes and hooks
	done         bool          // will not run again
}

// process is one running instance.
type process struct {
	pid      int
	instance int32
	started  time.Time
	exited   chan struct{}
	exitCode int32
	// killedFor is set when the agent killed it (probe, hook, deadline);
	// such containers restart even under restartPolicy OnFailure.
	killedFor string
}

func newContainer(cfg *config.Config, spec *corev1.Container, init bool, recovered map[string]recovery) *container {
	c := &container{
		spec:    spec,
		init:    init,
		sidecar: init && spec.RestartPolicy != nil && *spec.RestartPolicy == corev1.ContainerRestartPolicyAlways,
		backoff: backoff.New(time.Duration(cfg.CrashLoop.InitialSeconds)*time.Second, time.Duration(cfg.CrashLoop.MaxSeconds)*time.Second),
	}
	reason := "ContainerCreating"
	if init {
		reason = "PodInitializing"
	}
	c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	if rec, ok := recovered[spec.Name]; ok {
		c.restartCount = rec.nextInstance
		c.lastState = rec.lastState
	}
	return c
}

// markRecoveredDone restores a completed init container after an agent
// restart instead of running it again.
func (c *container) markRecoveredDone(pod *corev1.Pod) {
	c.done = true
	for _, s := range pod.Status.InitContainerStatuses {
		if s.Name == c.spec.Name && s.State.Terminated != nil {
			c.state = s.State
			c.restartCount = s.RestartCount
			c.imageID = s.ImageID
			c.containerID = s.ContainerID
			return
		}
	}
	c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed"}}
}

// supervise runs c until it will not be restarted again, returning
// whether its last run succeeded. It stops restarting once the pod's
// context ends but never kills a running process itself.
func (r *Runner) supervise(c *container) bool {
	for {
		if r.ctx.Err() != nil {
			return false
		}
		p, err := r.startInstance(c)
		if err != nil {
			if !r.waitAfterStartFailure(c, err) {
				return false
			}
			continue
		}
		<-p.exited
		restart, ok := r.afterExit(c, p)
		if !restart {
			return ok
		}
		r.mu.Lock()
		ran := time.Since(p.started)
		delay := c.backoff.Next(ran)
		c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
			Reason:  "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, c.spec.Name, r.Name, r.Namespace, r.UID),
		}}
		r.mu.Unlock()
		r.changed()
		r.event(corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container "+c.spec.Name+" in pod "+r.Name)
		if !probe.Sleep(r.ctx, delay) {
			return false
		}
		r.mu.Lock()
		c.restartCount++
		r.mu.Unlock()
	}
}

// waitAfterStartFailure shows a failed preparation the way the kubelet
// does and waits out the back-off. Unmapped images go ErrImagePull, then
// ImagePullBackOff; configuration problems stay CreateContainerConfigError.
func (r *Runner) waitAfterStartFailure(c *container, err error) bool {
	var nm *images.NotMappedError
	r.mu.Lock()
	delay := c.backoff.Next(0)
	r.mu.Unlock()
	if errors.As(err, &nm) {
		r.setWaiting(c, "ErrImagePull", "Failed to pull image \""+nm.Image+"\": "+err.Error())
		r.event(corev1.EventTypeWarning, "Failed", "Failed to pull image \""+nm.Image+"\": "+err.Error())
		if !probe.Sleep(r.ctx, 2*time.Second) {
			return false
		}
		r.setWaiting(c, "ImagePullBackOff", "Back-off pulling image \""+nm.Image+"\": ErrImagePull: "+err.Error())
		return probe.Sleep(r.ctx, delay)
	}
	r.setWaiting(c, "CreateContainerConfigError", err.Error())
	r.event(corev1.EventTypeWarning, "Failed", "Error: "+err.Error())
	return probe.Sleep(r.ctx, delay)
}

func (r *Runner) setWaiting(c *container, reason, msg string) {
	r.mu.Lock()
	c.state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}
	r.mu.Unlock()
	r.changed()
}

// startInstance launches the next instance of c. A non-nil error means it
// could not be prepared (and is retried); a start failure of the process
// itself is reported as an exited instance, as the kubelet does.
func (r *Runner) startInstance(c *container) (*process, error) {
	img, err := r.deps.Images.Resolve(c.spec.Image)
	if err != nil {
		return nil, err
	}
	if len(c.spec.Command) == 0 {
		return nil, fmt.Errorf("container %q has no command: the local node agent cannot read image entrypoints, so set command (and args) in the pod spec", c.spec.Name)
	}
	spec, err := r.buildSpec(c, img)
	if err != nil {
		return nil, err
	}

	r.mu.Lock()
	instance := c.restartCount
	c.imageID = "modelplane-local://" + img.Pattern
	c.containerID = fmt.Sprintf("modelplane://%s-%s-%d", r.UID, c.spec.Name, instance)
	r.mu.Unlock()

	logPath := logs.Path(r.Dir, c.spec.Name, instance)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()

	cmd := podexec.Command()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	startedAt := time.Now()
	p := &process{instance: instance, started: startedAt, exited: make(chan struct{})}
	if err := podexec.Start(cmd, *spec); err != nil {
		msg := err.Error()
		fmt.Fprintln(logFile, msg) // so `kubectl logs` explains the failure too
		r.mu.Lock()
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: 128, Reason: "StartError", Message: msg,
			StartedAt: metav1.NewTime(startedAt), FinishedAt: metav1.Now(), ContainerID: c.containerID,
		}}
		r.mu.Unlock()
		r.event(corev1.EventTypeWarning, "Failed", "Error: "+msg)
		p.exitCode = 128
		close(p.exited)
		return p, nil
	}
	p.pid = cmd.Process.Pid
	go func() {
		_ = cmd.Wait()
		p.exitCode = podexec.ExitCode(cmd.ProcessState)
		close(p.exited)
	}()

	r.mu.Lock()
	c.proc = p
	c.execSpec = spec
	c.state = corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(startedAt)}}
	c.started = c.spec.StartupProbe == nil
	c.ready = c.started && c.spec.ReadinessProbe == nil
	stopping := r.terminating || r.ctx.Err() != nil
	r.mu.Unlock()
	r.changed()
	r.event(corev1.EventTypeNormal, "Started", "Started container "+c.spec.Name)
	if stopping {
		// Deletion began while we were starting: do not leave it running.
		r.signal(p, "SIGKILL")
		return p, nil
	}
	r.startProbes(c, p)
	r.runPostStart(c, p)
	return p, nil
}

// afterExit records the end of an instance and decides about a restart.
// ok reports whether the final run succeeded (exit code 0).
func (r *Runner) afterExit(c *container, p *process) (restart, ok bool) {
	r.mu.Lock()
	defer func() {
		r.mu.Unlock()
		r.changed()
	}()
	if c.state.Terminated == nil { // StartError already filled it in
		reason := "Completed"
		if p.exitCode != 0 {
			reason = "Error"
		}
		var startedAt metav1.Time
		if c.state.Running != nil {
			startedAt = c.state.Running.StartedAt
		}
		c.state = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: p.exitCode, Reason: reason, StartedAt: startedAt,
			FinishedAt: metav1.Now(), ContainerID: c.containerID,
		}}
	}
	c.proc = nil
	c.ready, c.started = false, false
	ok = p.exitCode == 0
	policy := r.pod.Spec.RestartPolicy
	switch {
	case r.terminating || r.ctx.Err() != nil:
		restart = false
	case c.sidecar:
		restart = true
	case c.init:
		restart = !ok && policy != corev1.RestartPolicyNever
	case policy == corev1.RestartPolicyAlways:
		restart = true
	case policy == corev1.RestartPolicyOnFailure:
		restart = !ok || p.killedFor != ""
	}
	if restart {
		// The kubelet shows the exit as lastState while waiting to restart.
		c.lastState = c.state
	} else {
		c.done = true
	}
	return restart, ok
}

// buildSpec resolves env, command and mounts for the next instance.
func (r *Runner) buildSpec(c *container, img *images.Resolved) (*podexec.Spec, error) {
	r.mu.Lock()
	pod := r.pod.DeepCopy()
	addr := r.addressesLocked()
	vols := r.volumes
	r.mu.Unlock()
	cfg := r.deps.Config
	env, vars, err := podenv.Build(r.ctx, r.deps.Objects, podenv.Input{
		Pod: pod, Container: c.spec, Addresses: addr, Allocatable: r.deps.Allocatable,
		Base:    baseEnv(img, pod.Name),
		Service: podenv.ServiceEnv(cfg.APIServer.PodHost, cfg.APIServer.PodPort),
	})
	if err != nil {
		return nil, err
	}
	lookup := expand.Maps(vars)
	argv := append(expand.All(c.spec.Command, lookup), expand.All(c.spec.Args, lookup)...)
	spec := &podexec.Spec{
		NetNS:    netns.Path(r.nsName),
		Hostname: pod.Name,
		WorkDir:  c.spec.WorkingDir,
		Argv:     argv,
		Env:      env.List(),
	}
	if src, ok := hostsMount(r.Dir, c.spec); ok {
		spec.Mounts = append(spec.Mounts, podexec.Mount{Source: src, Target: "/etc/hosts"})
	}
	for _, m := range c.spec.VolumeMounts {
		vol, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %q names no volume of the pod", m.Name)
		}
		src := vol.Path
		sub := m.SubPath
		if m.SubPathExpr != "" {
			sub = expand.Expand(m.SubPathExpr, lookup)
		}
		if sub != "" {
			if filepath.IsAbs(sub) || filepath.Clean(sub) == ".." || len(sub) > 2 && filepath.Clean(sub)[:3] == "../" {
				return nil, fmt.Errorf("subPath %q must be a relative path inside the volume", sub)
			}
			src = filepath.Join(src, sub)
			if _, err := os.Stat(src); errors.Is(err, os.ErrNotExist) {
				if err := os.MkdirAll(src, 0o777); err != nil {
					return nil, err
				}
			}
		}
		spec.Mounts = append(spec.Mounts, podexec.Mount{Source: src, Target: m.MountPath, ReadOnly: m.ReadOnly || vol.ReadOnly})
	}
	spec.Mounts = append(spec.Mounts, keepVisible(img.HostPaths, spec.Mounts)...)
	return spec, nil
}

// keepVisible binds each image host path back onto itself when a volume
// mount would hide it; bindMounts mounts deeper targets after shallower ones,
// so the path reappears inside the volume.
func keepVisible(paths []string, mounts []podexec.Mount) []podexec.Mount {
	var extra []podexec.Mount
	for _, p := range paths {
		p = filepath.Clean(p)
		for _, m := range mounts {
			target := filepath.Clean(m.Target)
			if p != target && strings.HasPrefix(p, target+"/") || target == "/" {
				extra = append(extra, podexec.Mount{Source: p, Target: p})
				break
			}
		}
	}
	return extra
}

// baseEnv is what a container image would contribute: PATH and the image
// table's env, plus the variables a container runtime always sets.
func baseEnv(img *images.Resolved, hostname string) map[string]string {
	env := map[string]string{"HOSTNAME": hostname, "HOME": "/root"}
	for k, v := range img.Env {
		env[k] = v
	}
	return env
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
