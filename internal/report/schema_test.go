package report_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestGoldenJSONMatchesTheSchemas: the JSON goldens, which hold every
// status, evidence kind, action and dispatch status, are valid against
// docs/schemas — the schemas admit every value the renderers write.
func TestGoldenJSONMatchesTheSchemas(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"plan", "run", "update"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			schema, err := filepath.Abs(filepath.Join("..", "..", "docs", "schemas", name+".schema.json"))
			if err != nil {
				t.Fatal(err)
			}
			c := jsonschema.NewCompiler()
			c.AssertFormat()
			sch, err := c.Compile(schema)
			if err != nil {
				t.Fatal(err)
			}
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
