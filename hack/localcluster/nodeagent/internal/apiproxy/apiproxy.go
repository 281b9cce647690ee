// Package apiproxy forwards TCP connections from a listener inside a pod's
// network namespace to the API server in the host namespace. Pods have no
// default route, so this forwarder is their only way to the control plane,
// and in-cluster clients find it at KUBERNETES_SERVICE_HOST:PORT.
package apiproxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Serve accepts on l and pipes every connection to target (host:port in
// the host namespace) until ctx ends; then it closes l and all open
// connections.
func Serve(ctx context.Context, l net.Listener, target string, log *slog.Logger) {
	var wg sync.WaitGroup
	conns := make(map[net.Conn]struct{})
	var mu sync.Mutex
	track := func(c net.Conn, add bool) {
		mu.Lock()
		defer mu.Unlock()
		if add {
			conns[c] = struct{}{}
		} else {
			delete(conns, c)
		}
	}
	go func() {
		<-ctx.Done()
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	for {
		in, err := l.Accept()
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, net.ErrClosed) {
				log.Warn("api forwarder accept failed", "err", err)
			}
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			out, err := d.DialContext(dctx, "tcp", target)
			cancel()
			if err != nil {
				log.Warn("api forwarder dial failed", "target", target, "err", err)
				in.Close()
				return
			}
			track(in, true)
			track(out, true)
			pipe(in, out)
			track(in, false)
			track(out, false)
		}()
	}
	wg.Wait()
}

// pipe copies both ways, passing half-closes along, and closes both ends
// once both directions are done.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
	a.Close()
	b.Close()
}
