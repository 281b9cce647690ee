package pod

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"modelplane.io/localcluster/nodeagent/internal/logs"
)

// recovery is what an agent restart carries over for one container.
type recovery struct {
	nextInstance int32
	lastState    corev1.ContainerState
}

// recoveredState derives restart counts and last states for a pod that
// already ran before the agent restarted (its processes died with the
// agent). Instance numbers never reuse an existing log file.
func recoveredState(pod *corev1.Pod, podDir string) map[string]recovery {
	out := map[string]recovery{}
	statuses := append(append([]corev1.ContainerStatus(nil), pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, s := range statuses {
		rec := recovery{}
		switch {
		case s.State.Running != nil:
			rec.nextInstance = s.RestartCount + 1
			rec.lastState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				ExitCode: 137, Reason: "Unknown", Message: "the node agent restarted; the container's processes were killed with it",
				StartedAt: s.State.Running.StartedAt, FinishedAt: metav1.Now(), ContainerID: s.ContainerID,
			}}
		case s.State.Terminated != nil:
			rec.nextInstance = s.RestartCount + 1
			rec.lastState = s.State
		case s.LastTerminationState.Terminated != nil:
			rec.nextInstance = s.RestartCount + 1
			rec.lastState = s.LastTerminationState
		}
		out[s.Name] = rec
	}
	containers := append(append([]corev1.Container(nil), pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range containers {
		inst, _ := logs.Instances(podDir, c.Name)
		if len(inst) == 0 {
			continue
		}
		rec := out[c.Name]
		rec.nextInstance = max(rec.nextInstance, inst[len(inst)-1]+1)
		out[c.Name] = rec
	}
	return out
}

// podInitialized reports whether the API already shows init as done.
func podInitialized(pod *corev1.Pod) bool {
	if len(pod.Spec.InitContainers) == 0 {
		return false
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodInitialized {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
