package provider

import (
	"context"
	"syscall"

	"github.com/virtual-kubelet/virtual-kubelet/errdefs"
	"github.com/virtual-kubelet/virtual-kubelet/node/api"

	"modelplane.io/localcluster/nodeagent/internal/podexec"
)

// RunInContainer backs `kubectl exec`: the command runs in the
// container's namespaces and mounts with its environment. There is no
// pseudo-terminal; with -t the streams are still plain pipes.
func (p *Provider) RunInContainer(ctx context.Context, namespace, podName, containerName string, cmd []string, attach api.AttachIO) error {
	r := p.find(namespace, podName, false)
	if r == nil {
		return errdefs.NotFoundf("pod %s/%s not found", namespace, podName)
	}
	spec, ok := r.ExecSpec(containerName)
	if !ok {
		return errdefs.NotFoundf("container %q is not running", containerName)
	}
	spec.Argv = cmd
	c := podexec.Command()
	c.Stdin, c.Stdout, c.Stderr = attach.Stdin(), attach.Stdout(), attach.Stderr()
	if err := podexec.Start(c, spec); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		return <-done
	}
}
