package history_test

import (
	"fmt"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/history"
)

// A re-run skips what an earlier run dispatched and retries what failed.
func ExampleDispatched() {
	earlier := []history.Generation{{Dispatches: []history.Dispatch{
		{Dependent: "app-a", Key: "app-a-1a2b3c4d5e6f", Status: dispatch.StatusDispatched},
		{Dependent: "app-b", Key: "app-b-1a2b3c4d5e6f", Status: dispatch.StatusFailed},
	}}}
	done := history.Dispatched(earlier)
	for _, key := range []string{"app-a-1a2b3c4d5e6f", "app-b-1a2b3c4d5e6f"} {
		fmt.Println(key, "skip:", done[key])
	}
	// Output:
	// app-a-1a2b3c4d5e6f skip: true
	// app-b-1a2b3c4d5e6f skip: false
}
