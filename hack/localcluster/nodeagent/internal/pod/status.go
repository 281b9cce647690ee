package pod

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// statusLocked computes the pod status the kubelet would report.
func (r *Runner) statusLocked() corev1.PodStatus {
	base := r.pod.Status
	if r.deps.Pods != nil {
		if latest, err := r.deps.Pods.Pods(r.Namespace).Get(r.Name); err == nil && string(latest.UID) == r.UID {
			base = latest.Status
		}
	}
	hostIP := r.deps.Config.ListenAddress
	st := corev1.PodStatus{
		Phase:              r.phaseLocked(false),
		Reason:             r.reason,
		Message:            r.message,
		QOSClass:           base.QOSClass,
		HostIP:             hostIP,
		HostIPs:            []corev1.HostIP{{IP: hostIP}},
		StartTime:          &r.startTime,
		ObservedGeneration: r.pod.Generation,
	}
	if r.ip != nil {
		st.PodIP = r.ip.String()
		st.PodIPs = []corev1.PodIP{{IP: st.PodIP}}
	} else if base.PodIP != "" && r.terminal != "" {
		st.PodIP, st.PodIPs = base.PodIP, base.PodIPs
	}
	for _, c := range r.inits {
		st.InitContainerStatuses = append(st.InitContainerStatuses, c.statusLocked())
	}
	for _, c := range r.apps {
		st.ContainerStatuses = append(st.ContainerStatuses, c.statusLocked())
	}
	st.Conditions = r.conditionsLocked(base.Conditions, st.Phase)
	return st
}

func (c *container) statusLocked() corev1.ContainerStatus {
	started := c.started
	return corev1.ContainerStatus{
		Name:                 c.spec.Name,
		State:                *c.state.DeepCopy(),
		LastTerminationState: *c.lastState.DeepCopy(),
		Ready:                c.ready,
		RestartCount:         c.restartCount,
		Image:                c.spec.Image,
		ImageID:              c.imageID,
		ContainerID:          c.containerID,
		Started:              &started,
	}
}

// phaseLocked follows the kubelet's getPhase. final means the pod will
// never run anything again (deleted, deadline, or all containers done).
func (r *Runner) phaseLocked(final bool) corev1.PodPhase {
	if r.terminal != "" {
		return r.terminal
	}
	for _, c := range r.inits {
		if c.done && !c.sidecar && c.state.Terminated != nil && c.state.Terminated.ExitCode != 0 {
			if final || r.pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
				return corev1.PodFailed
			}
		}
	}
	if !r.initialized && !final {
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, c := range r.apps {
		switch {
		case c.state.Running != nil:
			running++
		case c.state.Terminated != nil:
			stopped++
			if c.state.Terminated.ExitCode == 0 {
				succeeded++
			}
		case c.lastState.Terminated != nil:
			stopped++
		default:
			waiting++
		}
	}
	if final {
		if r.reason == "DeadlineExceeded" || stopped != succeeded || waiting > 0 || running > 0 || !r.initialized {
			return corev1.PodFailed
		}
		return corev1.PodSucceeded
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch {
		case r.pod.Spec.RestartPolicy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeeded && r.allDoneLocked():
			return corev1.PodSucceeded
		case r.pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}

func (r *Runner) allDoneLocked() bool {
	for _, c := range r.apps {
		if !c.done {
			return false
		}
	}
	return true
}

// conditionsLocked keeps conditions owned by others (readiness gates,
// DisruptionTarget) and sets the kubelet-owned ones.
func (r *Runner) conditionsLocked(existing []corev1.PodCondition, phase corev1.PodPhase) []corev1.PodCondition {
	terminal := phase == corev1.PodSucceeded || phase == corev1.PodFailed
	var unready, uninit []string
	for _, c := range r.inits {
		if c.sidecar {
			if !c.ready {
				unready = append(unready, c.spec.Name)
			}
			continue
		}
		if !c.done || c.state.Terminated == nil || c.state.Terminated.ExitCode != 0 {
			uninit = append(uninit, c.spec.Name)
		}
	}
	for _, c := range r.apps {
		if !c.ready {
			unready = append(unready, c.spec.Name)
		}
	}
	initialized := r.initialized || len(uninit) == 0
	containersReady := len(unready) == 0 && initialized && !terminal

	owned := map[corev1.PodConditionType]corev1.PodCondition{
		corev1.PodScheduled:              {Status: corev1.ConditionTrue},
		corev1.PodReadyToStartContainers: boolCond(r.sandboxReady, "", ""),
		corev1.PodInitialized:            boolCond(initialized, "ContainersNotInitialized", list("containers with incomplete status", uninit)),
		corev1.ContainersReady:           boolCond(containersReady, "ContainersNotReady", list("containers with unready status", unready)),
		corev1.PodReady:                  boolCond(containersReady, "ContainersNotReady", list("containers with unready status", unready)),
	}
	if terminal {
		for _, t := range []corev1.PodConditionType{corev1.ContainersReady, corev1.PodReady} {
			owned[t] = corev1.PodCondition{Status: corev1.ConditionFalse, Reason: "PodCompleted"}
		}
	}
	gatesOK, missing := readinessGates(r.pod.Spec.ReadinessGates, existing)
	if owned[corev1.PodReady].Status == corev1.ConditionTrue && !gatesOK {
		owned[corev1.PodReady] = corev1.PodCondition{Status: corev1.ConditionFalse, Reason: "ReadinessGatesNotReady",
			Message: list("corresponding condition of pod readiness gate", missing) + " does not exist or is not True"}
	}

	var out []corev1.PodCondition
	for _, c := range existing {
		if _, mine := owned[c.Type]; !mine {
			out = append(out, c)
		}
	}
	now := metav1.Now()
	order := []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized, corev1.PodReady, corev1.ContainersReady, corev1.PodScheduled}
	for _, t := range order {
		c := owned[t]
		c.Type = t
		prev, seen := r.conditions[t]
		switch {
		case seen && prev.Status == c.Status:
			c.LastTransitionTime = prev.LastTransitionTime
		default:
			c.LastTransitionTime = now
		}
		c.ObservedGeneration = r.pod.Generation
		r.conditions[t] = c
		out = append(out, c)
	}
	return out
}

func boolCond(ok bool, reason, msg string) corev1.PodCondition {
	if ok {
		return corev1.PodCondition{Status: corev1.ConditionTrue}
	}
	return corev1.PodCondition{Status: corev1.ConditionFalse, Reason: reason, Message: msg}
}

func list(prefix string, names []string) string {
	if len(names) == 0 {
		return ""
	}
	return fmt.Sprintf("%s: [%s]", prefix, strings.Join(names, " "))
}

func readinessGates(gates []corev1.PodReadinessGate, conds []corev1.PodCondition) (bool, []string) {
	var missing []string
	for _, g := range gates {
		ok := false
		for _, c := range conds {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			missing = append(missing, string(g.ConditionType))
		}
	}
	return len(missing) == 0, missing
}
