package history

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/imageref"
)

// generationKey is what identifies a record in these tests.
type generationKey struct{ Digest, Previous, Time string }

func keysOf(gens []Generation) []generationKey {
	var out []generationKey
	for _, g := range gens {
		out = append(out, generationKey{g.Digest, g.Previous, g.Time.Format(time.TimeOnly)})
	}
	return out
}

func TestChain(t *testing.T) {
	t.Parallel()
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			reg := newTestRegistry(t, m.referrers)
			s := newStore(t)
			// Three builds of base:latest; the middle one cascaded twice
			// (a re-run after a failure).
			var digests []string
			prev := ""
			for i := range 3 {
				img := pushImage(t, reg.Host, "acme/base:latest")
				runs := 1
				if i == 1 {
					runs = 2
				}
				for r := range runs {
					g := sampleGeneration(t0.Add(time.Duration(i)*time.Hour+time.Duration(r)*time.Minute), dispatch.StatusDispatched)
					g.Previous = prev
					if err := s.Record(ctxT(t), img, g); err != nil {
						t.Fatal(err)
					}
				}
				prev = string(img.Digest)
				digests = append(digests, prev)
			}
			tag := imageref.MustParse(reg.Host + "/acme/base:latest")
			all := []generationKey{
				{digests[2], digests[1], "14:00:00"},
				{digests[1], digests[0], "13:01:00"},
				{digests[1], digests[0], "13:00:00"},
				{digests[0], "", "12:00:00"},
			}
			tests := []struct {
				name  string
				image imageref.Ref
				limit int
				want  []generationKey
			}{
				{name: "from the tag, default limit", image: tag, want: all},
				{name: "limited to two generations", image: tag, limit: 2, want: all[:3]},
				{name: "from a digest", image: imageref.MustParse(tag.Original + "@" + digests[1]), want: all[1:]},
			}
			for _, tt := range tests {
				got, err := s.Chain(ctxT(t), tt.image, tt.limit)
				if err != nil {
					t.Fatalf("%s: Chain: %v", tt.name, err)
				}
				if diff := cmp.Diff(tt.want, keysOf(got)); diff != "" {
					t.Errorf("%s: Chain (-want +got):\n%s", tt.name, diff)
				}
			}
		})
	}
}

func TestChainStops(t *testing.T) {
	t.Parallel()
	reg := newTestRegistry(t, false)
	s := newStore(t)
	x := pushImage(t, reg.Host, "acme/a:x")
	y := pushImage(t, reg.Host, "acme/a:y")
	// x and y name each other as previous: a loop a confused writer could
	// leave. The walk visits each digest once.
	for _, rec := range []struct {
		img  imageref.Ref
		prev imageref.Digest
	}{{x, y.Digest}, {y, x.Digest}} {
		g := sampleGeneration(t0)
		g.Previous = string(rec.prev)
		if err := s.Record(ctxT(t), rec.img, g); err != nil {
			t.Fatal(err)
		}
	}
	orphan := pushImage(t, reg.Host, "acme/a:orphan")
	g := sampleGeneration(t0) // its previous digest has no records
	if err := s.Record(ctxT(t), orphan, g); err != nil {
		t.Fatal(err)
	}
	fresh := pushImage(t, reg.Host, "acme/a:fresh")
	tests := []struct {
		name  string
		image imageref.Ref
		want  []generationKey
	}{
		{name: "loop", image: imageref.MustParse(x.Short()), want: []generationKey{
			{string(x.Digest), string(y.Digest), "12:00:00"},
			{string(y.Digest), string(x.Digest), "12:00:00"},
		}},
		{name: "previous without records", image: orphan, want: []generationKey{{string(orphan.Digest), g.Previous, "12:00:00"}}},
		{name: "tag without records", image: imageref.MustParse(fresh.Short())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.Chain(ctxT(t), tt.image, 0)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, keysOf(got)); diff != "" {
				t.Errorf("Chain (-want +got):\n%s", diff)
			}
		})
	}
}
