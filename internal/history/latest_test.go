package history

import (
	"strings"
	"testing"

	"github.com/imagecascade/cascade/internal/dispatch"
)

// TestLatestFollowsTheTag: each record also moves the tag's head pointer,
// so the next generation learns the digest before it and the chain lists
// every generation in order; an older digest is recognised as older.
func TestLatestFollowsTheTag(t *testing.T) {
	t.Parallel()
	for _, referrers := range []bool{false, true} {
		reg := newTestRegistry(t, referrers)
		ctx := ctxT(t)
		s := newStore(t)
		i1 := pushImage(t, reg.Host, "acme/base:latest")
		if g, err := s.Latest(ctx, i1); err != nil || g != nil {
			t.Fatalf("no generation yet: %+v, %v", g, err)
		}
		if err := s.Record(ctx, i1, Generation{Dispatches: []Dispatch{{Dependent: "app", Key: "k1", Status: dispatch.StatusDispatched}}}); err != nil {
			t.Fatal(err)
		}
		latest, err := s.Latest(ctx, i1)
		if err != nil || latest == nil || latest.Digest != string(i1.Digest) {
			t.Fatalf("after I1: %+v, %v", latest, err)
		}
		i2 := pushImage(t, reg.Host, "acme/base:latest")
		if err := s.Record(ctx, i2, Generation{Previous: latest.Digest, Dispatches: []Dispatch{{Dependent: "app", Key: "k2", Status: dispatch.StatusDispatched}}}); err != nil {
			t.Fatal(err)
		}
		i3 := pushImage(t, reg.Host, "acme/base:latest")
		latest, err = s.Latest(ctx, i3)
		if err != nil || latest == nil || latest.Digest != string(i2.Digest) || latest.Previous != string(i1.Digest) {
			t.Fatalf("after I2: %+v, %v", latest, err)
		}
		if err := s.Record(ctx, i3, Generation{Previous: latest.Digest, Dispatches: []Dispatch{{Dependent: "app", Key: "k3", Status: dispatch.StatusDispatched}}}); err != nil {
			t.Fatal(err)
		}
		gens, err := s.Chain(ctx, i3, 0)
		if err != nil {
			t.Fatal(err)
		}
		var order []string
		for _, g := range gens {
			order = append(order, g.Digest[len(g.Digest)-6:])
		}
		want := []string{string(i3.Digest), string(i2.Digest), string(i1.Digest)}
		for i := range want {
			want[i] = want[i][len(want[i])-6:]
		}
		if strings.Join(order, ",") != strings.Join(want, ",") {
			t.Errorf("referrers %v: chain %v, want %v (every generation, newest first)", referrers, order, want)
		}
		latest, _ = s.Latest(ctx, i3)
		older, err := s.Newer(ctx, i3, latest, i1.Digest)
		if err != nil || !older {
			t.Errorf("referrers %v: I1 not recognised as older than I3: %v, %v", referrers, older, err)
		}
		if newer, _ := s.Newer(ctx, i3, latest, i3.Digest); newer {
			t.Errorf("referrers %v: the latest digest counted as older", referrers)
		}
	}
}
