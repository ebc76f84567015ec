package history

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/exitcode"
	"github.com/imagecascade/cascade/internal/testenv"
)

// fastClaims settle sooner than the default, but far above what a push to
// a loopback registry takes even on a loaded machine.
var fastClaims = ClaimOptions{Settle: 3 * time.Second}

// TestClaimEarliestLiveClaimWins: of two runs claiming the same keys, the
// earlier claim wins every key; a later claim wins only the keys the
// earlier did not claim. A record settles a claim: a key recorded as
// dispatched is nobody's to dispatch again; a key recorded as failed goes
// to the next claimant once every earlier claimant has recorded it (the
// losers record the keys they lost). An expired claim holds nothing.
func TestClaimEarliestLiveClaimWins(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, false)
	ctx := ctxT(t)
	base := pushImage(t, reg.Host, "acme/base:latest")
	s := newStore(t)

	a, err := s.Claim(ctx, base, "aaaa", []string{"k1", "k2"}, fastClaims)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Claim(ctx, base, "bbbb", []string{"k1", "k2", "k3"}, fastClaims)
	if err != nil {
		t.Fatal(err)
	}
	if !a["k1"] || !a["k2"] {
		t.Errorf("first claim won %v, want k1 and k2", a)
	}
	if b["k1"] || b["k2"] || !b["k3"] {
		t.Errorf("second claim won %v, want only k3", b)
	}

	// Run aaaa records k1 dispatched and k2 failed.
	g := Generation{RunID: "aaaa", Dispatches: []Dispatch{
		{Dependent: "one", Key: "k1", Status: dispatch.StatusDispatched},
		{Dependent: "two", Key: "k2", Status: dispatch.StatusFailed},
	}}
	if err := s.Record(ctx, base, g); err != nil {
		t.Fatal(err)
	}
	// Run bbbb records the keys it lost: that settles its claim on them.
	lostRec := Generation{RunID: "bbbb", Dispatches: []Dispatch{
		{Dependent: "one", Key: "k1", Status: dispatch.StatusClaimed},
		{Dependent: "two", Key: "k2", Status: dispatch.StatusClaimed},
		{Dependent: "three", Key: "k3", Status: dispatch.StatusDispatched},
	}}
	if err := s.Record(ctx, base, lostRec); err != nil {
		t.Fatal(err)
	}
	c, err := s.Claim(ctx, base, "cccc", []string{"k1", "k2"}, fastClaims)
	if err != nil {
		t.Fatal(err)
	}
	if c["k1"] || !c["k2"] {
		t.Errorf("after the record, a new claim won %v, want only the failed k2", c)
	}

	// An expired claim holds nothing.
	old := New(Options{Keychain: anonymous{}, Insecure: func(string) bool { return true }, Now: func() time.Time { return time.Now().Add(-time.Hour) }})
	other := pushImage(t, reg.Host, "acme/other:latest")
	if _, err := old.Claim(ctx, other, "0000", []string{"k9"}, fastClaims); err != nil {
		t.Fatal(err)
	}
	d, err := s.Claim(ctx, other, "dddd", []string{"k9"}, fastClaims)
	if err != nil {
		t.Fatal(err)
	}
	if !d["k9"] {
		t.Error("a claim an hour old still holds its key")
	}
}

// TestR32_ConcurrentClaimsOnRealRegistry: three runs claim the same keys at
// once against docker-registry (distribution 2.8); every key is won by
// exactly one of them.
func TestR32_ConcurrentClaimsOnRealRegistry(t *testing.T) {
	t.Parallel()
	reg := testenv.StartRegistry(t)
	ctx := ctxT(t)
	base := pushImage(t, reg.Host, "acme/base:latest")
	keys := []string{"app-a-1", "app-b-1", "app-c-1", "app-d-1"}
	for round := range 3 {
		var wg sync.WaitGroup
		won := make([]map[string]bool, 3)
		errs := make([]error, 3)
		for i := range 3 {
			wg.Go(func() {
				s := newStore(t)
				won[i], errs[i] = s.Claim(ctx, base, fmt.Sprintf("run%d%d", round, i), keysFor(keys, round), fastClaims)
			})
		}
		wg.Wait()
		count := map[string]int{}
		for i := range 3 {
			if errs[i] != nil {
				t.Fatalf("round %d run %d: %v", round, i, errs[i])
			}
			for k := range won[i] {
				count[k]++
			}
		}
		for _, k := range keysFor(keys, round) {
			if count[k] != 1 {
				t.Errorf("round %d: %s won by %d runs, want 1 (%v)", round, k, count[k], won)
			}
		}
	}
}

// keysFor makes each round's keys distinct (a new base digest each time).
func keysFor(keys []string, round int) []string {
	out := slices.Clone(keys)
	for i := range out {
		out[i] = fmt.Sprintf("%s-r%d", out[i], round)
	}
	return out
}

// TestClaimTooSlowFailsSafe: a claim the registry stores more slowly than
// the settle time may have been missed by a concurrent run: nothing is
// won, the error is transient, and the claim is released on the record so
// the next run can claim the keys at once.
func TestClaimTooSlowFailsSafe(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, false)
	ctx := ctxT(t)
	base := pushImage(t, reg.Host, "acme/base:latest")
	reg.setFault(func(r *http.Request) (int, bool) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/cascade-claim.") {
			time.Sleep(400 * time.Millisecond)
		}
		return 0, false
	})
	s := newStore(t)
	won, err := s.Claim(ctx, base, "slow", []string{"k1"}, ClaimOptions{Settle: 200 * time.Millisecond})
	if exitcode.Of(err) != exitcode.Transient || len(won) != 0 {
		t.Fatalf("won %v, err %v (exit %d), want nothing and exit 4", won, err, exitcode.Of(err))
	}
	reg.setFault(nil)
	next, err := s.Claim(ctx, base, "next", []string{"k1"}, fastClaims)
	if err != nil || !next["k1"] {
		t.Errorf("after the release, the next claim won %v (%v), want k1", next, err)
	}
}
