// Package netns gives each pod its own network namespace joined to the
// node's bridge by a veth pair. It drives iproute2 (`ip`) so every step is
// the same command an operator would type to inspect or undo it.
//
// Traffic safety: the pod gets its address and therefore only the
// connected route of the pod CIDR. There is deliberately no default route,
// so anything outside the CIDR fails locally with "Network is unreachable".
package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Dir is where iproute2 keeps named network namespaces.
const Dir = "/run/netns"

// Prefix is the name prefix of every namespace this agent creates; the
// harness's cleanup relies on it.
const Prefix = "mp-"

// Names derives the namespace and host-side veth names from a pod UID:
// mp-<first 12 hex chars>, mpv<first 10 hex chars>.
func Names(uid string) (ns, veth string) {
	hex := strings.ReplaceAll(uid, "-", "")
	for len(hex) < 12 {
		hex += "0"
	}
	return Prefix + hex[:12], "mpv" + hex[:10]
}

// Path is the bind-mounted namespace file for name.
func Path(name string) string { return filepath.Join(Dir, name) }

// Spec describes one pod's network.
type Spec struct {
	Name      string // namespace name
	Veth      string // host-side veth name
	Bridge    string
	IP        net.IP
	PrefixLen int
}

// Setup creates the namespace and its link. It starts by removing any
// leftovers of the same names so it can be retried after a partial failure.
func Setup(ctx context.Context, s Spec) error {
	_ = Teardown(ctx, s.Name, s.Veth)
	cidr := fmt.Sprintf("%s/%d", s.IP, s.PrefixLen)
	steps := [][]string{
		{"netns", "add", s.Name},
		{"link", "add", s.Veth, "type", "veth", "peer", "name", "eth0", "netns", s.Name},
		{"link", "set", s.Veth, "master", s.Bridge},
		{"link", "set", s.Veth, "up"},
		{"-n", s.Name, "link", "set", "lo", "up"},
		{"-n", s.Name, "addr", "add", cidr, "dev", "eth0"},
		{"-n", s.Name, "link", "set", "eth0", "up"},
	}
	for _, args := range steps {
		if err := ip(ctx, args...); err != nil {
			_ = Teardown(ctx, s.Name, s.Veth)
			return err
		}
	}
	return nil
}

// Teardown deletes the veth pair and the namespace; missing ones are fine.
// Deleting the veth explicitly matters: a namespace outlives its name while
// any process still holds it, but its veth must leave the bridge now.
func Teardown(ctx context.Context, name, veth string) error {
	var errs []error
	if linkExists(veth) {
		if err := ip(ctx, "link", "del", veth); err != nil {
			errs = append(errs, err)
		}
	}
	if Exists(name) {
		if err := ip(ctx, "netns", "del", name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Exists reports whether the named namespace exists.
func Exists(name string) bool {
	_, err := os.Stat(Path(name))
	return err == nil
}

// List returns the names of all mp-* namespaces on the machine.
func List() ([]string, error) {
	entries, err := os.ReadDir(Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), Prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// Pids lists processes whose network namespace is name, like
// `ip netns pids`: it compares /proc/<pid>/ns/net with the namespace file.
func Pids(name string) ([]int, error) {
	var want syscall.Stat_t
	if err := syscall.Stat(Path(name), &want); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil, nil
		}
		return nil, err
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(filepath.Join("/proc", e.Name(), "ns", "net"), &st) != nil {
			continue // exited meanwhile
		}
		if st.Dev == want.Dev && st.Ino == want.Ino {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// KillAll sends sig to every process in the namespace and returns how many
// it signalled.
func KillAll(name string, sig syscall.Signal) (int, error) {
	pids, err := Pids(name)
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
	return len(pids), err
}

func linkExists(name string) bool {
	_, err := os.Stat(filepath.Join("/sys/class/net", name))
	return err == nil
}

func ip(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "ip", args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}
