package dispatch_test

import (
	"fmt"

	"github.com/imagecascade/cascade/internal/dispatch"
	"github.com/imagecascade/cascade/internal/imageref"
)

func ExampleDedupKey() {
	d := imageref.Digest("sha256:1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b")
	fmt.Println(dispatch.DedupKey("app-a", d))
	// Output: app-a-1a2b3c4d5e6f
}

func ExampleSign() {
	body := []byte(`{"dependent":"app-c"}`)
	sig := dispatch.Sign([]byte("secret"), body)
	fmt.Println(dispatch.Verify([]byte("secret"), body, sig), dispatch.Verify([]byte("other"), body, sig))
	// Output: true false
}
