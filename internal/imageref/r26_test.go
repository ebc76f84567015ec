package imageref

import (
	"errors"
	"testing"
)

// TestR26_HostileTagsAreRefused: a tag or name holding shell or workflow
// command text never parses as a reference, so it cannot reach a rebuild's
// inputs as an image: Parse refuses it with ErrInvalid.
func TestR26_HostileTagsAreRefused(t *testing.T) {
	t.Parallel()
	for _, v := range []string{
		"app:$(id)", "app:`id`", "app:1\n::set-output name=x::y", "app:1\r\nx", "app:::add-mask::x",
		"app::set-output", "app:${{github.token}}", "$(id)/app:1", "app:1;id", "app:1|id", "app:1&&id",
	} {
		if r, err := Parse(v); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %+v, %v: want an error wrapping ErrInvalid", v, r, err)
		}
	}
}
