package githubtest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestMutationSpacingIsGCRA checks the mutation spacing on exact arrival
// times: a mutation may come up to the tolerance before its turn (a late
// one followed by a prompt one is the jitter it allows), turns
// advance by the gap from the previous turn (so early arrivals do not
// accumulate), a late one starts the schedule afresh, and a refused one
// books no turn.
func TestMutationSpacingIsGCRA(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name     string
		arrivals []time.Time
		want     []bool // admitted
		maxEarly time.Duration
	}{
		{"exactly spaced", []time.Time{ms(0), ms(1000), ms(2000)}, []bool{true, true, true}, 0},
		{"jitter within the tolerance", []time.Time{ms(0), ms(1080), ms(1950), ms(3000)}, []bool{true, true, true, true}, 130 * time.Millisecond},
		{"too early", []time.Time{ms(0), ms(840)}, []bool{true, false}, 0},
		// 900 ms apart each time: 100, then 200 ms ahead of the turn.
		{"a steady 0.9 s rate is caught", []time.Time{ms(0), ms(900), ms(1800), ms(2700)}, []bool{true, true, false, true}, 100 * time.Millisecond},
		{"late resets", []time.Time{ms(0), ms(5000), ms(5950)}, []bool{true, true, true}, 50 * time.Millisecond},
		{"refused books no turn", []time.Time{ms(0), ms(10), ms(1000)}, []bool{true, false, true}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sc := &secondary{limits: SecondaryLimits{MutationGap: time.Second, GapTolerance: 150 * time.Millisecond}, clients: map[string]*clientLoad{}}
			var got []bool
			for _, a := range tt.arrivals {
				reason, done := sc.admit("tok", "POST", "/repos/o/r/dispatches", a)
				done()
				got = append(got, reason == "")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("admitted (-want +got):\n%s", diff)
			}
			if sc.maxEarly != tt.maxEarly {
				t.Errorf("max early %v, want %v", sc.maxEarly, tt.maxEarly)
			}
		})
	}
}

// TestSecondaryLimitsPerToken: one token's load does not count against
// another's.
func TestSecondaryLimitsPerToken(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	sc := &secondary{limits: SecondaryLimits{MutationGap: time.Second}, clients: map[string]*clientLoad{}}
	for _, tok := range []string{"a", "b"} {
		if reason, done := sc.admit(tok, "POST", "/x", t0); reason != "" {
			t.Errorf("token %s refused: %s", tok, reason)
		} else {
			done()
		}
	}
	if reason, done := sc.admit("a", "POST", "/x", t0); reason == "" {
		t.Error("token a's second mutation at once was admitted")
	} else {
		done()
	}
}
