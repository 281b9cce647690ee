// Package logs lays out container log files and serves them for
// `kubectl logs`: one file per container instance,
// <podDir>/<container>/<restartCount>.log, holding stdout and stderr
// interleaved (the process writes straight to the file, so output survives
// an agent restart and costs the agent nothing to copy).
package logs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PodDir is the pod's state directory: <stateDir>/pods/<ns>_<name>_<uid>.
func PodDir(stateDir, namespace, name, uid string) string {
	return filepath.Join(stateDir, "pods", namespace+"_"+name+"_"+uid)
}

// Path is the log file of one container instance.
func Path(podDir, container string, instance int32) string {
	return filepath.Join(podDir, container, strconv.Itoa(int(instance))+".log")
}

// Instances returns the instance numbers that have a log file, ascending.
func Instances(podDir, container string) ([]int32, error) {
	entries, err := os.ReadDir(filepath.Join(podDir, container))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []int32
	for _, e := range entries {
		n, ok := strings.CutSuffix(e.Name(), ".log")
		if !ok {
			continue
		}
		if i, err := strconv.Atoi(n); err == nil && i >= 0 {
			out = append(out, int32(i))
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a] < out[b] })
	return out, nil
}

// Select picks the current (newest) or previous log file of a container.
func Select(podDir, container string, previous bool) (string, error) {
	inst, err := Instances(podDir, container)
	if err != nil {
		return "", err
	}
	switch {
	case previous && len(inst) < 2:
		return "", fmt.Errorf("previous terminated container %q not found", container)
	case previous:
		return Path(podDir, container, inst[len(inst)-2]), nil
	case len(inst) == 0:
		return "", fmt.Errorf("container %q has not started yet", container)
	}
	return Path(podDir, container, inst[len(inst)-1]), nil
}

// Options mirror the kubelet log options we honour.
type Options struct {
	Tail       int // last N lines; 0 means all
	LimitBytes int // stop after this many bytes; 0 means no limit
	Follow     bool
	// PollInterval is how often a follower checks for new output.
	PollInterval time.Duration
}

// Open returns the selected part of a log file. With Follow, reads block
// for new output until active reports false (the instance has exited) and
// the end of the file is reached, or ctx ends.
func Open(ctx context.Context, path string, opts Options, active func() bool) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	start := int64(0)
	if opts.Tail > 0 {
		if start, err = TailOffset(f, st.Size(), opts.Tail); err != nil {
			f.Close()
			return nil, err
		}
	}
	if _, err := f.Seek(start, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	var r io.Reader = f
	if opts.Follow {
		poll := opts.PollInterval
		if poll <= 0 {
			poll = 200 * time.Millisecond
		}
		r = &follower{ctx: ctx, f: f, active: active, poll: poll}
	}
	if opts.LimitBytes > 0 {
		r = io.LimitReader(r, int64(opts.LimitBytes))
	}
	return readCloser{Reader: r, Closer: f}, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}

// follower turns EOF into "wait for more" while the writer is alive.
type follower struct {
	ctx    context.Context
	f      *os.File
	active func() bool
	poll   time.Duration
}

func (fl *follower) Read(p []byte) (int, error) {
	for {
		n, err := fl.f.Read(p)
		if n > 0 || !errors.Is(err, io.EOF) {
			return n, err
		}
		// Check liveness before sleeping, then read once more so output
		// written just before the process exited is not lost.
		alive := fl.active != nil && fl.active()
		if !alive {
			n, err = fl.f.Read(p)
			if n > 0 {
				return n, nil
			}
			return 0, io.EOF
		}
		select {
		case <-fl.ctx.Done():
			return 0, io.EOF
		case <-time.After(fl.poll):
		}
	}
}

// TailOffset returns where the last n lines of a file of the given size
// start. A trailing newline ends the last line rather than starting a new
// empty one.
func TailOffset(r io.ReaderAt, size int64, n int) (int64, error) {
	if n <= 0 || size == 0 {
		return size, nil
	}
	const chunk = 32 * 1024
	buf := make([]byte, chunk)
	end := size
	// Ignore the file's final newline.
	if _, err := r.ReadAt(buf[:1], size-1); err != nil {
		return 0, err
	}
	if buf[0] == '\n' {
		end--
	}
	found := 0
	for end > 0 {
		start := max(end-chunk, 0)
		b := buf[:end-start]
		if _, err := r.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] == '\n' {
				found++
				if found == n {
					return start + int64(i) + 1, nil
				}
			}
		}
		end = start
	}
	return 0, nil
}
