package pod

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"modelplane.io/localcluster/nodeagent/internal/config"
)

func testRunner(t *testing.T, policy corev1.RestartPolicy, inits, apps int) *Runner {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "ns", UID: "0123456789abcdef", Generation: 1},
		Spec:       corev1.PodSpec{RestartPolicy: policy},
	}
	for i := 0; i < inits; i++ {
		pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Name: "init" + string(rune('a'+i))})
	}
	for i := 0; i < apps; i++ {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: "app" + string(rune('a'+i))})
	}
	cfg := &config.Config{StateDir: t.TempDir(), ListenAddress: "127.0.0.1", CrashLoop: config.CrashLoopBackOff{InitialSeconds: 10, MaxSeconds: 300}}
	return New(&Deps{Config: cfg, Log: slog.Default()}, pod)
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}

func exited(code int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}
}

func condition(st corev1.PodStatus, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func TestPhaseFollowsKubelet(t *testing.T) {
	r := testRunner(t, corev1.RestartPolicyAlways, 1, 2)
	if got := r.phaseLocked(false); got != corev1.PodPending {
		t.Fatalf("before init: %s", got)
	}
	r.initialized = true
	r.apps[0].state = running()
	if got := r.phaseLocked(false); got != corev1.PodPending {
		t.Fatalf("one container still waiting to start: %s", got)
	}
	r.apps[1].state = running()
	if got := r.phaseLocked(false); got != corev1.PodRunning {
		t.Fatalf("all running: %s", got)
	}
	// Crash-looping (waiting with a last termination) still counts as Running.
	r.apps[1].state = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	r.apps[1].lastState = exited(1)
	if got := r.phaseLocked(false); got != corev1.PodRunning {
		t.Fatalf("crash loop: %s", got)
	}
	// Deleted: exit codes decide.
	r.apps[0].state, r.apps[1].state = exited(0), exited(143)
	if got := r.phaseLocked(true); got != corev1.PodFailed {
		t.Fatalf("final with a non-zero exit: %s", got)
	}
}

func TestPhaseNeverAndOnFailure(t *testing.T) {
	r := testRunner(t, corev1.RestartPolicyNever, 0, 2)
	r.initialized = true
	r.apps[0].state, r.apps[0].done = exited(0), true
	r.apps[1].state = running()
	if got := r.phaseLocked(false); got != corev1.PodRunning {
		t.Fatalf("one still running: %s", got)
	}
	r.apps[1].state, r.apps[1].done = exited(0), true
	if got := r.phaseLocked(false); got != corev1.PodSucceeded {
		t.Fatalf("all succeeded: %s", got)
	}
	r.apps[1].state = exited(2)
	if got := r.phaseLocked(false); got != corev1.PodFailed {
		t.Fatalf("Never with a failure: %s", got)
	}

	r = testRunner(t, corev1.RestartPolicyOnFailure, 1, 1)
	r.inits[0].state, r.inits[0].done = exited(1), false
	if got := r.phaseLocked(false); got != corev1.PodPending {
		t.Fatalf("OnFailure init failure restarts, pod stays Pending: %s", got)
	}
	r.pod.Spec.RestartPolicy = corev1.RestartPolicyNever
	r.inits[0].done = true
	if got := r.phaseLocked(false); got != corev1.PodFailed {
		t.Fatalf("Never init failure: %s", got)
	}
}

func TestConditions(t *testing.T) {
	r := testRunner(t, corev1.RestartPolicyAlways, 1, 1)
	r.pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/gate"}}
	st := r.statusLocked()
	if condition(st, corev1.PodInitialized) != corev1.ConditionFalse || condition(st, corev1.PodReadyToStartContainers) != corev1.ConditionFalse {
		t.Fatalf("fresh pod conditions: %+v", st.Conditions)
	}
	r.sandboxReady, r.initialized = true, true
	r.inits[0].done, r.inits[0].state = true, exited(0)
	r.apps[0].state, r.apps[0].ready, r.apps[0].started = running(), true, true
	st = r.statusLocked()
	if condition(st, corev1.ContainersReady) != corev1.ConditionTrue || condition(st, corev1.PodReady) != corev1.ConditionFalse {
		t.Fatalf("readiness gate must hold Ready back: %+v", st.Conditions)
	}
	gate := corev1.PodCondition{Type: "example.com/gate", Status: corev1.ConditionTrue}
	r.pod.Status.Conditions = append(r.pod.Status.Conditions, gate)
	st = r.statusLocked()
	if condition(st, corev1.PodReady) != corev1.ConditionTrue || condition(st, "example.com/gate") != corev1.ConditionTrue {
		t.Fatalf("gate satisfied, foreign condition kept: %+v", st.Conditions)
	}
	if st.PodIP != "" || st.HostIP != "127.0.0.1" || len(st.ContainerStatuses) != 1 || len(st.InitContainerStatuses) != 1 {
		t.Fatalf("status: %+v", st)
	}
}

func TestRecoveredState(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "app"), 0o755)
	os.WriteFile(filepath.Join(dir, "app", "4.log"), nil, 0o644)
	pod := &corev1.Pod{
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}, {Name: "side"}, {Name: "new"}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", RestartCount: 2, State: running()},
			{Name: "side", RestartCount: 1, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{}}, LastTerminationState: exited(3)},
		}},
	}
	got := recoveredState(pod, dir)
	if got["app"].nextInstance != 5 || got["app"].lastState.Terminated == nil {
		t.Errorf("app: %+v (must not reuse log 4.log)", got["app"])
	}
	if got["side"].nextInstance != 2 || got["side"].lastState.Terminated.ExitCode != 3 {
		t.Errorf("side: %+v", got["side"])
	}
	if got["new"].nextInstance != 0 {
		t.Errorf("new: %+v", got["new"])
	}
}
