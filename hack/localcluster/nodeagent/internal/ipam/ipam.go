// Package ipam hands out pod IPs from the node's podCIDR. It keeps no file
// of its own: after an agent restart the caller re-reserves the addresses
// that existing pods already report (status.podIP or the pod's state
// record), which keeps every pod's IP stable across restarts.
package ipam

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"sync"
)

// ErrExhausted means every usable address of the CIDR is taken.
var ErrExhausted = errors.New("pod CIDR exhausted")

// Allocator is safe for concurrent use. Owners are opaque strings (pod UIDs).
type Allocator struct {
	mu       sync.Mutex
	cidr     *net.IPNet
	first    uint32 // first usable address
	last     uint32 // last usable address
	gateway  uint32
	cursor   uint32 // where the next search starts, so freed IPs are not reused at once
	byIP     map[uint32]string
	byOwner  map[string]uint32
	prefixes int
}

// New makes an allocator for an IPv4 CIDR. The network address, the
// broadcast address and the gateway are never handed out.
func New(cidr string, gateway net.IP) (*Allocator, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, err
	}
	if n.IP.To4() == nil {
		return nil, fmt.Errorf("only IPv4 pod CIDRs are supported, got %s", cidr)
	}
	ones, bits := n.Mask.Size()
	if bits-ones < 2 {
		return nil, fmt.Errorf("pod CIDR %s is too small", cidr)
	}
	gw := gateway.To4()
	if gw == nil || !n.Contains(gw) {
		return nil, fmt.Errorf("gateway %s is not in %s", gateway, cidr)
	}
	network := toUint(n.IP)
	size := uint32(1) << uint(bits-ones)
	a := &Allocator{
		cidr:     n,
		first:    network + 1,
		last:     network + size - 2,
		gateway:  toUint(gw),
		byIP:     map[uint32]string{},
		byOwner:  map[string]uint32{},
		prefixes: ones,
	}
	a.cursor = a.first
	return a, nil
}

// PrefixLen is the CIDR's prefix length, for the pod's address.
func (a *Allocator) PrefixLen() int { return a.prefixes }

// Reserve claims ip for owner, e.g. when recovering after a restart.
// Reserving the owner's current IP again is a no-op.
func (a *Allocator) Reserve(owner string, ip net.IP) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	v4 := ip.To4()
	if v4 == nil || !a.cidr.Contains(v4) {
		return fmt.Errorf("%s is not in %s", ip, a.cidr)
	}
	u := toUint(v4)
	if u < a.first || u > a.last || u == a.gateway {
		return fmt.Errorf("%s is not a usable pod address in %s", ip, a.cidr)
	}
	if cur, ok := a.byOwner[owner]; ok {
		if cur == u {
			return nil
		}
		return fmt.Errorf("owner %s already holds %s", owner, toIP(cur))
	}
	if other, ok := a.byIP[u]; ok {
		return fmt.Errorf("%s is already held by %s", ip, other)
	}
	a.byIP[u] = owner
	a.byOwner[owner] = u
	return nil
}

// Allocate returns owner's IP, picking a free one if it has none yet.
func (a *Allocator) Allocate(owner string) (net.IP, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, ok := a.byOwner[owner]; ok {
		return toIP(u), nil
	}
	n := a.last - a.first + 1
	for i := uint32(0); i < n; i++ {
		u := a.first + (a.cursor-a.first+i)%n
		if u == a.gateway {
			continue
		}
		if _, taken := a.byIP[u]; taken {
			continue
		}
		a.byIP[u] = owner
		a.byOwner[owner] = u
		a.cursor = u + 1
		if a.cursor > a.last {
			a.cursor = a.first
		}
		return toIP(u), nil
	}
	return nil, ErrExhausted
}

// Release frees owner's IP, if any.
func (a *Allocator) Release(owner string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, ok := a.byOwner[owner]; ok {
		delete(a.byOwner, owner)
		delete(a.byIP, u)
	}
}

// Lookup returns owner's IP or nil.
func (a *Allocator) Lookup(owner string) net.IP {
	a.mu.Lock()
	defer a.mu.Unlock()
	if u, ok := a.byOwner[owner]; ok {
		return toIP(u)
	}
	return nil
}

func toUint(ip net.IP) uint32 { return binary.BigEndian.Uint32(ip.To4()) }

func toIP(u uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, u)
	return ip
}
