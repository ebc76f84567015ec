package report_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/imagecascade/cascade/internal/report/reporttest"
)

// TestGoldenJSONMatchesTheSchemas: the JSON goldens, which hold every
// status, evidence kind, action and dispatch status, are valid against
// docs/schemas — the schemas admit every value the renderers write.
func TestGoldenJSONMatchesTheSchemas(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"plan", "run", "update"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sch := reporttest.CompileSchema(t, name)
			f, err := os.Open(filepath.Join("testdata", "golden", name+".json"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			inst, err := jsonschema.UnmarshalJSON(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(inst); err != nil {
				t.Errorf("testdata/golden/%s.json: %v", name, err)
			}
		})
	}
}
