// Package podexec starts a container process inside its pod's network
// namespace with the pod's volumes mounted. The agent re-executes itself as
// `modelplane-node pod-exec` (Child), which sets up namespaces on one
// locked thread and then execve()s the container command, so the container
// is a direct child of the agent with no shim in between.
//
// The parent sends the Spec over an inherited pipe (fd 3) rather than argv,
// so env values such as Secrets never show up in `ps`. The child reports
// setup failures over a close-on-exec pipe (fd 4): EOF without data means
// execve succeeded, the same trick os/exec uses internally.
package podexec

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Subcommand is the argv[1] that makes the agent binary act as Child.
const Subcommand = "pod-exec"

// Mount is one bind mount, from a host path to a path in the container.
type Mount struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"readOnly,omitempty"`
}

// Spec is everything the child needs to become the container process.
type Spec struct {
	NetNS    string   `json:"netns"` // path of the network namespace file
	Hostname string   `json:"hostname,omitempty"`
	Mounts   []Mount  `json:"mounts,omitempty"`
	WorkDir  string   `json:"workDir,omitempty"`
	Argv     []string `json:"argv"`
	Env      []string `json:"env"`
}

// StartError means the process could not be started (bad command, failed
// mount...). The kubelet reports this as terminated reason StartError.
type StartError struct{ Msg string }

func (e *StartError) Error() string { return e.Msg }

// Command prepares the child process. Callers may set Stdout/Stderr (and
// WaitDelay) before passing it to Start.
func Command() *exec.Cmd {
	cmd := exec.Command("/proc/self/exe", Subcommand)
	cmd.Env = []string{}
	// Own process group so the whole container can be signalled at once;
	// SIGKILL if the agent dies so no container outlives it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// Start runs cmd (from Command) with spec and returns once the container
// command has been exec'd, or with a *StartError if setup failed.
func Start(cmd *exec.Cmd, spec Spec) error {
	payload, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		specR.Close()
		specW.Close()
		return err
	}
	cmd.ExtraFiles = []*os.File{specR, errW} // fd 3 and fd 4 in the child
	err = cmd.Start()
	specR.Close()
	errW.Close()
	if err != nil {
		specW.Close()
		errR.Close()
		return err
	}
	go func() {
		_, _ = specW.Write(payload)
		specW.Close()
	}()
	msg, _ := io.ReadAll(errR)
	errR.Close()
	if len(msg) > 0 {
		_ = cmd.Wait()
		return &StartError{Msg: string(msg)}
	}
	return nil
}

// Run starts spec and waits for it, killing its process group when
// timeout passes. It returns combined output (capped) for exec probes and
// hooks; a non-nil error means failure (non-zero exit, timeout, start).
func Run(spec Spec, timeout time.Duration) ([]byte, error) {
	cmd := Command()
	out := &cappedBuffer{max: 10 * 1024}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = time.Second
	if err := Start(cmd, spec); err != nil {
		return out.Bytes(), err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return out.Bytes(), err
	case <-time.After(timeout):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return out.Bytes(), fmt.Errorf("command timed out after %s", timeout)
	}
}

// ExitCode returns the kubelet-style exit code of a finished process:
// 128+signal for a process killed by a signal.
func ExitCode(state *os.ProcessState) int32 {
	if state == nil {
		return -1
	}
	if ws, ok := state.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int32(ws.Signal())
	}
	return int32(state.ExitCode())
}

type cappedBuffer struct {
	max int
	buf []byte
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *cappedBuffer) Bytes() []byte { return c.buf }
