package measure

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAlternate(t *testing.T) {
	t.Parallel()
	var got []string
	err := Alternate(4, 3, strconv.Itoa, func(round, i int) error {
		got = append(got, strconv.Itoa(round)+":"+strconv.Itoa(i))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"0:0", "0:1", "0:2", "1:1", "1:2", "1:0", "2:2", "2:0", "2:1", "3:0", "3:1", "3:2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	err = Alternate(2, 2, func(i int) string { return []string{"a", "b"}[i] }, func(round, i int) error {
		if round == 1 && i == 0 {
			return errors.New("boom")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "run 2 of a: boom") {
		t.Errorf("error %v, want it to name run 2 of a", err)
	}
}

func TestMedianAndRange(t *testing.T) {
	t.Parallel()
	s := []Sample{{Wall: 3}, {Wall: 1}, {Wall: 2}, {Wall: 10}}
	if m := Median(s); m != 2 { // (2+3)/2 rounds down in integer nanoseconds
		t.Errorf("median %v, want 2ns", m)
	}
	if lo, hi := Range(s); lo != 1 || hi != 10 {
		t.Errorf("range %v–%v, want 1–10", lo, hi)
	}
	if lo, hi := RangeOf(nil); lo != 0 || hi != 0 {
		t.Errorf("range of nothing %v–%v, want 0–0", lo, hi)
	}
	if MedianOf(nil) != 0 {
		t.Error("median of nothing is not 0")
	}
}
