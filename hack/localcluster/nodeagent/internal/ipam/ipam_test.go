package ipam

import (
	"errors"
	"net"
	"testing"
)

func mustNew(t *testing.T, cidr, gw string) *Allocator {
	t.Helper()
	a, err := New(cidr, net.ParseIP(gw))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAllocateSkipsReserved(t *testing.T) {
	a := mustNew(t, "10.244.0.0/29", "10.244.0.1") // usable .1-.6, gateway .1
	seen := map[string]bool{}
	for i := 0; i < 5; i++ {
		ip, err := a.Allocate(string(rune('a' + i)))
		if err != nil {
			t.Fatal(err)
		}
		s := ip.String()
		if s == "10.244.0.0" || s == "10.244.0.1" || s == "10.244.0.7" || seen[s] {
			t.Fatalf("bad or duplicate address %s", s)
		}
		seen[s] = true
	}
	if _, err := a.Allocate("z"); !errors.Is(err, ErrExhausted) {
		t.Fatalf("want ErrExhausted, got %v", err)
	}
	if a.PrefixLen() != 29 {
		t.Fatalf("prefix %d", a.PrefixLen())
	}
}

func TestAllocateIsIdempotentAndReleaseFrees(t *testing.T) {
	a := mustNew(t, "10.244.0.0/30", "10.244.0.1") // only .2 usable
	ip1, _ := a.Allocate("pod")
	ip2, _ := a.Allocate("pod")
	if !ip1.Equal(ip2) || ip1.String() != "10.244.0.2" {
		t.Fatalf("got %s and %s", ip1, ip2)
	}
	if _, err := a.Allocate("other"); err == nil {
		t.Fatal("expected exhaustion")
	}
	a.Release("pod")
	if a.Lookup("pod") != nil {
		t.Fatal("released owner still has an IP")
	}
	if ip, err := a.Allocate("other"); err != nil || ip.String() != "10.244.0.2" {
		t.Fatalf("got %v %v", ip, err)
	}
}

func TestReserveForRecovery(t *testing.T) {
	a := mustNew(t, "10.244.0.0/24", "10.244.0.1")
	if err := a.Reserve("old", net.ParseIP("10.244.0.2")); err != nil {
		t.Fatal(err)
	}
	if err := a.Reserve("old", net.ParseIP("10.244.0.2")); err != nil {
		t.Fatalf("re-reserving the same IP: %v", err)
	}
	for _, bad := range []string{"10.244.0.0", "10.244.0.1", "10.244.0.255", "10.245.0.9"} {
		if err := a.Reserve("x", net.ParseIP(bad)); err == nil {
			t.Errorf("Reserve(%s) should fail", bad)
		}
	}
	if err := a.Reserve("thief", net.ParseIP("10.244.0.2")); err == nil {
		t.Fatal("two owners got the same IP")
	}
	ip, _ := a.Allocate("new")
	if ip.String() == "10.244.0.2" {
		t.Fatal("allocated a reserved IP")
	}
}

func TestFreedAddressNotReusedImmediately(t *testing.T) {
	a := mustNew(t, "10.244.0.0/24", "10.244.0.1")
	first, _ := a.Allocate("a")
	a.Release("a")
	second, _ := a.Allocate("b")
	if first.Equal(second) {
		t.Fatalf("freed %s handed out again at once", first)
	}
}

func TestRejectsBadInput(t *testing.T) {
	if _, err := New("fd00::/64", net.ParseIP("fd00::1")); err == nil {
		t.Fatal("IPv6 should be rejected")
	}
	if _, err := New("10.0.0.0/24", net.ParseIP("10.0.1.1")); err == nil {
		t.Fatal("gateway outside CIDR should be rejected")
	}
}
