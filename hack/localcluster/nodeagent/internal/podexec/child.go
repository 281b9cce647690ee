package podexec

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// Child is the body of `modelplane-node pod-exec`. It never returns on
// success: the process becomes the container command. Namespaces are per
// thread, so everything from unshare to execve happens on one locked thread.
func Child() int {
	runtime.LockOSThread()
	report := os.NewFile(4, "report")
	unix.CloseOnExec(4)
	fail := func(format string, args ...any) int {
		fmt.Fprintf(report, format, args...)
		return 128
	}

	var spec Spec
	in := os.NewFile(3, "spec")
	if err := json.NewDecoder(in).Decode(&spec); err != nil {
		return fail("pod-exec: read spec: %v", err)
	}
	in.Close()
	if len(spec.Argv) == 0 {
		return fail("pod-exec: no command given")
	}

	// A private mount namespace with slave propagation, as `ip netns exec`
	// does: our bind mounts stay here, while unmounts on the host (such as
	// other pods' netns files) still propagate in.
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_NEWUTS); err != nil {
		return fail("pod-exec: unshare: %v", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fail("pod-exec: make / rslave: %v", err)
	}
	if spec.NetNS != "" {
		fd, err := unix.Open(spec.NetNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fail("pod-exec: open netns: %v", err)
		}
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			return fail("pod-exec: setns: %v", err)
		}
		unix.Close(fd)
	}
	if spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fail("pod-exec: sethostname: %v", err)
		}
	}
	if err := bindMounts(spec.Mounts); err != nil {
		return fail("pod-exec: %v", err)
	}
	if spec.WorkDir != "" {
		if err := os.MkdirAll(spec.WorkDir, 0o755); err != nil {
			return fail("pod-exec: workingDir: %v", err)
		}
		if err := unix.Chdir(spec.WorkDir); err != nil {
			return fail("pod-exec: chdir %s: %v", spec.WorkDir, err)
		}
	}
	path, err := lookPath(spec.Argv[0], envValue(spec.Env, "PATH"))
	if err != nil {
		return fail("exec: %q: %v", spec.Argv[0], err)
	}
	err = unix.Exec(path, spec.Argv, spec.Env)
	return fail("exec %q: %v", path, err)
}

// bindMounts mounts shallow targets before deeper ones so a volume at
// /data does not hide one at /data/cache. Every source is opened first and
// mounted through /proc/self/fd, because an earlier mount may hide a later
// source (a volume mounted at /work hides a state directory under /work).
func bindMounts(mounts []Mount) error {
	sorted := append([]Mount(nil), mounts...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return strings.Count(filepath.Clean(sorted[i].Target), "/") < strings.Count(filepath.Clean(sorted[j].Target), "/")
	})
	fds := make([]int, len(sorted))
	isDir := make([]bool, len(sorted))
	for i, m := range sorted {
		fd, err := unix.Open(m.Source, unix.O_PATH|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("mount source %s: %w", m.Source, err)
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return fmt.Errorf("mount source %s: %w", m.Source, err)
		}
		fds[i], isDir[i] = fd, st.Mode&unix.S_IFMT == unix.S_IFDIR
	}
	for i, m := range sorted {
		var err error
		if isDir[i] {
			err = os.MkdirAll(m.Target, 0o755)
		} else {
			err = createFile(m.Target)
		}
		if err != nil {
			return fmt.Errorf("mount point %s: %w", m.Target, err)
		}
		src := fmt.Sprintf("/proc/self/fd/%d", fds[i])
		if err := unix.Mount(src, m.Target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s on %s: %w", m.Source, m.Target, err)
		}
		if m.ReadOnly {
			if err := unix.Mount("", m.Target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("remount %s read-only: %w", m.Target, err)
			}
		}
		unix.Close(fds[i])
	}
	return nil
}

func createFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return err
	}
	return f.Close()
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// lookPath resolves a command against the container's PATH, not the
// agent's.
func lookPath(file, path string) (string, error) {
	if strings.Contains(file, "/") {
		return file, executable(file)
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, file)
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("executable file not found in $PATH")
}

func executable(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("permission denied")
	}
	return nil
}
