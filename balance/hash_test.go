package balance

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"testing"
)

func keys(k int) []uint64 {
	ks := make([]uint64, k)
	for j := range ks {
		ks[j] = HashString(fmt.Sprintf("session-%d", j))
	}
	return ks
}

// TestConsistentHashStable checks that a key maps to one endpoint, the
// same in every Set of the same size; that ejecting an endpoint moves
// only its keys and its return brings them back; and that one more
// endpoint moves only the keys it takes.
func TestConsistentHashStable(t *testing.T) {
	const n = 7
	ks := keys(5000)
	clock := &fakeClock{}
	cfg := Config{Policy: ConsistentHash, Now: clock.Now, Outlier: Outlier{Consecutive5xx: 1, MaxEjectionPercent: 100}}
	a, b := New(n, cfg), New(n, cfg)
	home := make([]int, len(ks))
	for j, k := range ks {
		home[j] = a.Pick(k)
		if got := a.Pick(k); got != home[j] {
			t.Fatalf("key %d: Pick = %d then %d, want the same", j, home[j], got)
		}
		if got := b.Pick(k); got != home[j] {
			t.Fatalf("key %d: Pick = %d in one Set, %d in another of the same size", j, home[j], got)
		}
	}

	fail(a, 3, 1)
	moved := 0
	for j, k := range ks {
		got := a.Pick(k)
		switch {
		case got == 3:
			t.Fatalf("key %d picked ejected endpoint 3", j)
		case home[j] != 3 && got != home[j]:
			t.Fatalf("key %d moved from %d to %d when only endpoint 3 was ejected", j, home[j], got)
		case home[j] == 3:
			moved++
		}
	}
	if moved == 0 {
		t.Fatalf("no key was on endpoint 3")
	}
	clock.Advance(DefaultBaseEjection)
	for j, k := range ks {
		if got := a.Pick(k); got != home[j] {
			t.Fatalf("key %d: Pick = %d after endpoint 3 returned, want %d as before", j, got, home[j])
		}
	}

	c := New(n+1, cfg)
	grown := 0
	for j, k := range ks {
		got := c.Pick(k)
		if got != home[j] {
			if got != n {
				t.Fatalf("key %d moved from %d to %d with one endpoint more, want to the new one (%d) or nowhere", j, home[j], got, n)
			}
			grown++
		}
	}
	if want := len(ks) / (n + 1); grown < want/2 || grown > want*3/2 {
		t.Errorf("%d of %d keys moved to the new endpoint, want about %d", grown, len(ks), want)
	}
}

// TestHashStableAcrossProcesses pins a few hashes: a key must map to the
// same endpoint in every gateway and after a restart.
func TestHashStableAcrossProcesses(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  uint64
		want uint64
	}{
		{"HashString(\"\")", HashString(""), 0xf52a15e9a9b5e89b},
		{"HashString(\"user-1\")", HashString("user-1"), 0xc499b5f8a721df58},
		{"HashBytes(\"user-1\")", HashBytes([]byte("user-1")), 0xc499b5f8a721df58},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %#x, want %#x", tc.name, tc.got, tc.want)
		}
	}
	if got := jump(HashString("user-1"), 10); got != 9 {
		t.Errorf("jump(HashString(\"user-1\"), 10) = %d, want 9", got)
	}
}

// TestHashIsFNV1a checks the hash against the standard library's FNV-1a.
func TestHashIsFNV1a(t *testing.T) {
	for _, s := range []string{"", "a", "user-1", "JSESSIONID=0123456789abcdef", "\x00\xff"} {
		h := fnv.New64a()
		h.Write([]byte(s))
		if got, want := HashString(s), mix(h.Sum64()); got != want {
			t.Errorf("HashString(%q) = %#x, want mix(FNV-1a) = %#x", s, got, want)
		}
	}
}

func TestHashAddr(t *testing.T) {
	v4, mapped, other := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("::ffff:10.1.2.3"), netip.MustParseAddr("10.1.2.4")
	if HashAddr(v4) != HashAddr(mapped) {
		t.Errorf("HashAddr(%v) != HashAddr(%v), want equal", v4, mapped)
	}
	if HashAddr(v4) == HashAddr(other) {
		t.Errorf("HashAddr(%v) == HashAddr(%v), want different", v4, other)
	}
}

func TestJumpRange(t *testing.T) {
	for n := 1; n <= 50; n++ {
		for _, k := range keys(200) {
			if got := jump(k, n); got < 0 || got >= n {
				t.Fatalf("jump(%#x, %d) = %d, want in [0, %d)", k, n, got, n)
			}
		}
	}
}
