package b7

import "testing"

// TestCheckCountsMovedMissedStray: a target at the new image with a new
// resourceVersion is moved; a target at the old image, or at the new image
// without a new resourceVersion, is missed; any other object with a new
// resourceVersion is stray.
func TestCheckCountsMovedMissedStray(t *testing.T) {
	targets := []Target{{Namespace: "a", Name: "t1", Image: "new"}, {Namespace: "a", Name: "t2", Image: "new"}, {Namespace: "a", Name: "t3", Image: "new"}}
	before := state{"a/t1": {"1", "old"}, "a/t2": {"2", "old"}, "a/t3": {"3", "new"}, "a/o1": {"4", "x"}, "a/o2": {"5", "x"}}
	after := state{"a/t1": {"10", "new"}, "a/t2": {"2", "old"}, "a/t3": {"3", "new"}, "a/o1": {"4", "x"}, "a/o2": {"11", "x"}}
	got := check(before, after, targets)
	if want := (Check{Moved: 1, Missed: 2, Stray: 1}); got != want {
		t.Errorf("check = %+v, want %+v", got, want)
	}
	if got.Exact(3) {
		t.Error("Exact for a run that missed and strayed")
	}
	if !(Check{Moved: 3}).Exact(3) {
		t.Error("not Exact for exactly the targets")
	}
}
